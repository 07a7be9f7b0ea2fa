"""Run configuration: fileset, plugins, histograms and plots, from YAML or TOML.

Example (YAML)::

    fileset:
      ttbar: [data/ttbar_0.root]           # paths relative to this file
      qcd: {files: [data/qcd_0.root], metadata: {xsec: 1.0, isMC: true}}
      dy: {files: {data/dy.root: Events}}  # coffea's form; or fileset: datasets.json
    schema: pfnano                          # or nanoaod
    chunksize: 20000
    plugins:
      - name: top_bdt                       # backend: local (default)
    histograms:
      score:
        weight: genWeight
        cuts: ["FatJet.pt > 300"]
        axes:
          - {field: FatJet.top_bdt.score, bins: 50, start: 0, stop: 1, label: BDT score}
          - {field: FatJet.truthLabel, categories: [0, 1, 2, 3, 4, -1], name: truth}
      top_vs_qcd:                           # an axis over an expression of fields
        axes:
          - expr: FatJet.pfn.probs_top / (FatJet.pfn.probs_top + FatJet.pfn.probs_QCD)
            name: tvq
            bins: 50
            start: 0
            stop: 1
    plots:
      - {type: hist1d, hist: score, overlay: truth, density: true}
      - {type: roc, hist: score, axis: truth, signal: 1, background: 0}
    skims:                                  # per-object columns after cuts, per chunk
      jets:
        collection: FatJet
        fields: [pt, msoftdrop, top_bdt.score]
        event: [run, event, genWeight]
        cuts: ["FatJet.pt > 400"]
        format: [parquet, root]
    energy: 13.6                            # TeV, for plot labels
    timeout: 30                             # s a remote file's server may take to answer

``lumi`` (in /pb) normalises simulation to a luminosity from the datasets'
metadata (:mod:`jetplug.normalisation`); the fileset's forms are those of
:mod:`jetplug.fileset`. Every error names the key at fault and the file it
came from.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .configkit import ConfigContext, Cut, load_yaml, parse_cut
from .declared import ModelDeclaration, parse_models
from .errors import ConfigError
from .expressions import ExpressionError, parse_expression
from .fileset import DatasetConfig, parse_fileset
from .nonfinite import NONFINITE_OPTION
from .normalisation import check_normalisation
from .skimconfig import SkimConfig, parse_skims

__all__ = [
    "AxisConfig",
    "Cut",
    "DatasetConfig",
    "HistogramConfig",
    "PlotConfig",
    "PluginConfig",
    "RunConfig",
    "SkimConfig",
    "load_config",
    "plugin_configs",
]

SCHEMAS = ("pfnano", "nanoaod")
HISTOGRAM_MEMORY = 2 * 2**30
"""Default ``max_histogram_memory``: the largest histogram (estimated bytes) a config may book."""
_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "kB": 10**3,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
}


@dataclass(frozen=True)
class PluginConfig:
    """One plugin in a run: backend, options, and where it reads and writes.

    ``collection`` re-targets the plugin to another input collection (e.g.
    ``top_bdt`` on a fast-simulated collection, a calibrator on ``Jet``);
    ``target`` renames the collection a ``create`` plugin makes; ``seed``
    keys its per-object random numbers (:class:`jetplug.chunk.ObjectRandom`);
    ``nonfinite`` overrides the plugin's policy for objects with NaN or
    infinite inputs (:class:`jetplug.spec.NonFinite`; ``None``: as declared).
    """

    name: str
    backend: str = "local"
    options: Mapping[str, Any] = field(default_factory=dict)
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    collection: str | None = None
    target: str | None = None
    seed: int = 0
    nonfinite: str | None = None


@dataclass(frozen=True)
class AxisConfig:
    """A histogram axis over an event or object field (or a plugin output).

    ``field`` is one field path; with ``expr`` the axis is an arithmetic
    expression of fields instead (:mod:`jetplug.expressions`), e.g. a ratio
    of class probabilities, and ``field`` is empty. Exactly one binning:
    ``bins/start/stop`` (regular), ``edges`` (variable), ``categories``
    (integer or string categories) or ``integer: [start, stop]``.
    """

    field: str
    name: str
    label: str
    bins: int | None = None
    start: float | None = None
    stop: float | None = None
    edges: tuple[float, ...] | None = None
    categories: tuple[int, ...] | tuple[str, ...] | None = None
    integer: tuple[int, int] | None = None
    transform: str | None = None  # "log" for a log-spaced regular axis
    expr: str | None = None

    def reads(self) -> tuple[str, ...]:
        """The field paths the axis reads."""
        return parse_expression(self.expr).fields if self.expr else (self.field,)


@dataclass(frozen=True)
class HistogramConfig:
    """A histogram filled per dataset."""

    name: str
    axes: tuple[AxisConfig, ...]
    weight: str | None = None
    cuts: tuple[Cut, ...] = ()

    def fields(self) -> list[str]:
        """Every field the histogram reads (axes, weight, cuts)."""
        out = [f for a in self.axes for f in a.reads()] + [f for c in self.cuts for f in c.reads()]
        if self.weight:
            out.append(self.weight)
        return out


@dataclass(frozen=True)
class PlotConfig:
    """A plot made from a histogram after the run.

    ``type``: ``hist1d`` (first non-category axis; one line per ``overlay``
    category or per dataset) or ``roc`` (signal vs background categories of
    ``axis``, scanning the first non-category axis).
    """

    type: str
    hist: str
    overlay: str | None = None
    axis: str | None = None
    signal: Any = None
    background: Any = None
    density: bool = False
    log: bool = False
    name: str | None = None
    labels: Mapping[Any, str] | None = None
    """Legend names of categories, e.g. ``{0: QCD, 1: top}``."""


@dataclass(frozen=True)
class RunConfig:
    """A validated run configuration (plain data: picklable and hashable by content)."""

    fileset: tuple[DatasetConfig, ...]
    plugins: tuple[PluginConfig, ...] = ()
    models: tuple[ModelDeclaration, ...] = ()
    """Model files declared in the config (:mod:`jetplug.declared`)."""
    histograms: tuple[HistogramConfig, ...] = ()
    plots: tuple[PlotConfig, ...] = ()
    skims: tuple[SkimConfig, ...] = ()
    energy: float | None = None
    """Centre-of-mass energy in TeV for plot labels (None: from the samples, if recorded)."""
    max_histogram_memory: int = HISTOGRAM_MEMORY
    """Bytes one histogram may take (estimated from its axes and storage when read)."""
    lumi: float | None = None
    """Integrated luminosity in /pb: simulation is normalised to it (:mod:`.normalisation`)."""
    treename: str = "Events"
    schema: str = "pfnano"
    chunksize: int = 100_000
    maxchunks: int | None = None
    timeout: float = 30.0
    """Seconds a remote file's server may take to answer a request (uproot's ``timeout``)."""
    source: str = "<config>"

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (for provenance and hashing)."""
        d = asdict(self)
        d.pop("source")
        return d

    def hash(self) -> str:
        """sha256 of the canonical JSON form; identifies the configuration."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    def coffea_fileset(self) -> dict[str, dict[str, Any]]:
        """The fileset in the form ``coffea.processor.Runner`` takes, for ``treename=None``.

        Every file names its tree: its own, else the run's ``treename``.
        """
        return {
            d.name: {
                "files": {f: d.tree(f, self.treename) for f in d.files},
                "metadata": dict(d.metadata),
            }
            for d in self.fileset
        }

    def histogram(self, name: str) -> HistogramConfig:
        """The histogram named ``name``."""
        for h in self.histograms:
            if h.name == name:
                return h
        msg = f"no histogram named {name!r}"
        raise ConfigError(msg, source=self.source)


_PLUGIN_KEYS = (
    "name",
    "backend",
    "options",
    "backend_options",
    "collection",
    "target",
    "seed",
    NONFINITE_OPTION.name,
)


def _parse_plugin(ctx: ConfigContext, item: Any, where: str) -> PluginConfig:
    if isinstance(item, PluginConfig):
        return item
    if isinstance(item, str):
        item = {"name": item}
    item = ctx.mapping(item, where)
    ctx.keys(item, where, _PLUGIN_KEYS)
    if not isinstance(item.get("name"), str):
        ctx.fail(where, "needs a 'name'")
    for key in ("collection", "target"):
        value = item.get(key)
        if value is not None and not (isinstance(value, str) and value.isidentifier()):
            ctx.fail(f"{where}.{key}", f"{value!r} is not a collection name")
    seed = item.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        ctx.fail(f"{where}.seed", f"must be a non-negative integer, got {seed!r}")
    try:
        nonfinite = NONFINITE_OPTION.convert(item.get(NONFINITE_OPTION.name))
    except ValueError as e:
        ctx.fail(f"{where}.{NONFINITE_OPTION.name}", str(e))
    return PluginConfig(
        name=item["name"],
        backend=str(item.get("backend", "local")),
        options=dict(ctx.mapping(item.get("options") or {}, f"{where}.options")),
        backend_options=dict(
            ctx.mapping(item.get("backend_options") or {}, f"{where}.backend_options")
        ),
        collection=item.get("collection"),
        target=item.get("target"),
        seed=seed,
        nonfinite=nonfinite,
    )


def plugin_configs(raw: Any, *, source: str = "plugins") -> tuple[PluginConfig, ...]:
    """Validate a list of plugins: names, or mappings with the keys of a run config.

    Used by :class:`jetplug.Plugins` inside user processors; errors name the
    entry at fault.
    """
    if isinstance(raw, str | Mapping | PluginConfig):  # list("top_bdt") would be 7 plugins
        one = repr(raw) if isinstance(raw, str | Mapping) else f"PluginConfig({raw.name!r})"
        msg = f"expected a list of plugins, got one: write [{one}]"
        raise ConfigError(msg, source=source)
    return _parse_plugins(ConfigContext(source), list(raw))


def _parse_plugins(ctx: ConfigContext, raw: Any) -> tuple[PluginConfig, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        ctx.fail("plugins", "expected a list")
    out = [_parse_plugin(ctx, item, f"plugins[{i}]") for i, item in enumerate(raw)]
    seen: dict[tuple[str, str | None, str | None], int] = {}
    for i, p in enumerate(out):
        j = seen.setdefault((p.name, p.collection, p.target), i)
        if j != i:
            ctx.fail(
                f"plugins[{i}]",
                f"plugin {p.name!r} is listed twice on the same collection (plugins[{j}] "
                "too); a plugin runs once per collection: give one entry 'collection: NAME' "
                "to run it on another (e.g. a fast-simulated one)",
            )
    return tuple(out)


_BINNINGS = ("bins", "edges", "categories", "integer")


def _parse_axis(ctx: ConfigContext, raw: Any, where: str) -> AxisConfig:
    raw = ctx.mapping(raw, where)
    allowed = ("field", "expr", "name", "label", "bins", "start", "stop", "edges", "categories")
    ctx.keys(raw, where, (*allowed, "integer", "transform"))
    expr = raw.get("expr")
    if ("field" in raw) == (expr is not None):
        ctx.fail(where, "give exactly one of 'field' (a field path) or 'expr' (an expression)")
    if expr is not None:
        try:
            parse_expression(str(expr))
        except ExpressionError as e:
            ctx.fail(f"{where}.expr", str(e))
        if not raw.get("name"):
            ctx.fail(where, "an 'expr' axis needs a 'name'")
        fld = ""
    else:
        fld = ctx.field(raw.get("field"), f"{where}.field")
    given = [b for b in _BINNINGS if b in raw]
    if len(given) != 1:
        ctx.fail(where, f"give exactly one binning of {list(_BINNINGS)}, got {given}")
    name = str(raw.get("name") or fld.replace(".", "_"))
    kw: dict[str, Any] = {
        "field": fld,
        "name": name,
        "label": str(raw.get("label") or expr or fld),
        "expr": None if expr is None else str(expr),
    }
    try:
        if "bins" in raw:
            kw.update(bins=int(raw["bins"]), start=float(raw["start"]), stop=float(raw["stop"]))
            if kw["bins"] < 1 or not kw["start"] < kw["stop"]:
                ctx.fail(where, "needs bins >= 1 and start < stop")
            transform = raw.get("transform")
            if transform not in (None, "log"):
                ctx.fail(where, f"transform {transform!r} unknown; use 'log'")
            if transform == "log" and kw["start"] <= 0:
                ctx.fail(where, "a log axis needs start > 0")
            kw["transform"] = transform
        elif "edges" in raw:
            edges = tuple(float(e) for e in raw["edges"])
            if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
                ctx.fail(where, "edges must be at least two increasing numbers")
            kw["edges"] = edges
        elif "categories" in raw:
            cats = list(raw["categories"])
            if not cats:
                ctx.fail(where, "categories must not be empty")
            if all(isinstance(c, int) and not isinstance(c, bool) for c in cats):
                kw["categories"] = tuple(int(c) for c in cats)
            else:
                kw["categories"] = tuple(str(c) for c in cats)
        else:
            lo, hi = raw["integer"]
            kw["integer"] = (int(lo), int(hi))
    except KeyError as e:
        problem = f"missing {e.args[0]!r}"
    except (TypeError, ValueError) as e:
        problem = f"bad binning: {e}"
    else:
        return AxisConfig(**kw)
    ctx.fail(where, problem)


def _output_name(ctx: ConfigContext, name: Any, where: str, used_as: str) -> str:
    """``name`` if it can name a file or a ROOT object on its own: no ``/``, ``\\`` or ``;``."""
    text = str(name)
    bad = sorted({c for c in text if c in "/\\;"})
    if not text.strip() or bad or text in (".", ".."):
        why = f"contains {' '.join(map(repr, bad))}" if bad else "is empty or a directory"
        ctx.fail(where, f"name {text!r} {why}; it names {used_as}, so use letters, digits, _ . -")
    return text


def _parse_histograms(ctx: ConfigContext, raw: Any) -> tuple[HistogramConfig, ...]:
    if raw is None:
        return ()
    out = []
    for name, spec in ctx.mapping(raw, "histograms").items():
        where = f"histograms.{name}"
        _output_name(ctx, name, where, "an object in histograms.root (a '/' makes directories)")
        spec = ctx.mapping(spec, where)
        ctx.keys(spec, where, ("axes", "weight", "cuts"))
        axes_raw = spec.get("axes")
        if not isinstance(axes_raw, list) or not axes_raw:
            ctx.fail(where, "needs a non-empty list 'axes'")
        axes = tuple(_parse_axis(ctx, a, f"{where}.axes[{i}]") for i, a in enumerate(axes_raw))
        names = [a.name for a in axes]
        if len(set(names)) != len(names):
            ctx.fail(where, f"axis names must be unique, got {names}")
        weight = spec.get("weight")
        if weight is not None:
            weight = ctx.field(weight, f"{where}.weight")
        cuts = tuple(
            parse_cut(ctx, c, f"{where}.cuts[{i}]") for i, c in enumerate(spec.get("cuts") or [])
        )
        out.append(HistogramConfig(str(name), axes, weight, cuts))
    return tuple(out)


def _parse_plots(
    ctx: ConfigContext, raw: Any, hists: tuple[HistogramConfig, ...]
) -> tuple[PlotConfig, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        ctx.fail("plots", "expected a list")
    by_name = {h.name: h for h in hists}
    out = []
    for i, item in enumerate(raw):
        where = f"plots[{i}]"
        item = ctx.mapping(item, where)
        allowed = ("type", "hist", "overlay", "axis", "signal", "background", "density", "log")
        ctx.keys(item, where, (*allowed, "name", "labels"))
        plot = PlotConfig(**{k: item[k] for k in item})
        if plot.name is not None:
            _output_name(ctx, plot.name, f"{where}.name", "the file plots/<name>.png")
        if plot.type not in ("hist1d", "roc"):
            ctx.fail(where, f"type {plot.type!r} unknown; use 'hist1d' or 'roc'")
        if plot.hist not in by_name:
            ctx.fail(where, f"no histogram {plot.hist!r}; have {sorted(by_name)}")
        axis_names = [a.name for a in by_name[plot.hist].axes]
        for key in ("overlay", "axis"):
            value = getattr(plot, key)
            if value is not None and value != "dataset" and value not in axis_names:
                ctx.fail(where, f"{key} {value!r} is not an axis of {plot.hist!r}: {axis_names}")
        if plot.type == "roc" and (
            plot.axis is None or plot.signal is None or plot.background is None
        ):
            ctx.fail(where, "a roc plot needs 'axis', 'signal' and 'background'")
        out.append(plot)
    return tuple(out)


def _positive(ctx: ConfigContext, raw: Any, key: str, what: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not raw > 0:
        ctx.fail(key, f"{what}, a positive number; got {raw!r}")
    return float(raw)


def _count(ctx: ConfigContext, raw: Any, key: str, what: str) -> int | None:
    """A positive integer (``1e5`` taken as 100000); None stays None."""
    if raw is None:
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        ctx.fail(key, f"{what}, a positive integer; got {raw!r}")
    return raw


def _parse_memory(ctx: ConfigContext, raw: Any) -> int:
    """``max_histogram_memory``: bytes, or a size such as ``"4 GiB"`` or ``"500 MB"``."""
    if raw is None:
        return HISTOGRAM_MEMORY
    text = str(raw).strip()
    match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([A-Za-z]*)", text)
    unit = match.group(2) if match else ""
    if isinstance(raw, bool) or match is None or unit not in _SIZE_UNITS:
        ctx.fail(
            "max_histogram_memory",
            f"a size in bytes or with a unit ({', '.join(u for u in _SIZE_UNITS if u)}), "
            f"e.g. '4 GiB'; got {raw!r}",
        )
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def _check_memory(ctx: ConfigContext, hists: Sequence[HistogramConfig], limit: int) -> None:
    from .histograms import check_memory  # histograms builds on this module

    for h in hists:
        problem = check_memory(h, limit)
        if problem:
            ctx.fail(f"histograms.{h.name}", problem)


def _parse_timeout(ctx: ConfigContext, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not raw > 0:
        ctx.fail("timeout", f"seconds to wait for a remote file, a positive number; got {raw!r}")
    return float(raw)


def parse_config(raw: Any, *, base: Path, source: str = "<config>") -> RunConfig:
    """Validate a configuration mapping; relative file paths resolve against ``base``."""
    ctx = ConfigContext(source)
    raw = ctx.mapping(raw, "top level")
    ctx.keys(
        raw,
        "top level",
        (
            "fileset",
            "plugins",
            "histograms",
            "plots",
            "treename",
            "schema",
            "chunksize",
            "maxchunks",
            "models",
            "skims",
            "energy",
            "max_histogram_memory",
            "timeout",
            "lumi",
        ),
    )
    if "schema" in raw and raw["schema"] is None:
        ctx.fail("schema", f"is empty; use one of {list(SCHEMAS)} (or leave it out: pfnano)")
    schema = str(raw.get("schema", "pfnano")).lower()
    if schema not in SCHEMAS:
        ctx.fail("schema", f"{schema!r} unknown; use one of {list(SCHEMAS)}")
    chunksize = _count(ctx, raw.get("chunksize", 100_000), "chunksize", "events per chunk")
    if chunksize is None:
        ctx.fail("chunksize", "events per chunk, a positive integer; got None")
    maxchunks = _count(ctx, raw.get("maxchunks"), "maxchunks", "chunks per file at most")
    treename = raw.get("treename", "Events")
    if not isinstance(treename, str) or not treename:
        ctx.fail("treename", f"expected a tree name, got {treename!r}")
    hists = _parse_histograms(ctx, raw.get("histograms"))
    memory = _parse_memory(ctx, raw.get("max_histogram_memory"))
    _check_memory(ctx, hists, memory)
    fileset = parse_fileset(ctx, raw.get("fileset"), base)
    lumi = _positive(ctx, raw.get("lumi"), "lumi", "the integrated luminosity in /pb")
    check_normalisation(ctx, fileset, {h.name: h.weight for h in hists}, lumi)
    return RunConfig(
        fileset=fileset,
        plugins=_parse_plugins(ctx, raw.get("plugins")),
        models=parse_models(ctx, raw.get("models"), base),
        histograms=hists,
        plots=_parse_plots(ctx, raw.get("plots"), hists),
        skims=parse_skims(ctx, raw.get("skims")),
        energy=_positive(ctx, raw.get("energy"), "energy", "the centre-of-mass energy in TeV"),
        lumi=lumi,
        max_histogram_memory=memory,
        treename=treename,
        schema=schema,
        chunksize=chunksize,
        maxchunks=maxchunks,
        timeout=_parse_timeout(ctx, raw.get("timeout", 30.0)),
        source=source,
    )


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) run configuration."""
    path = Path(path)
    if not path.is_file():
        msg = f"configuration file {path} does not exist"
        raise ConfigError(msg)
    text = path.read_text()
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else load_yaml(text, str(path))
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as e:
        msg = f"cannot parse: {e}"
        raise ConfigError(msg, source=str(path)) from None
    return parse_config(raw, base=path.resolve().parent, source=str(path))
