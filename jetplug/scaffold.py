"""Plugin packages from templates (``jetplug new-plugin``).

The templates are package data under ``jetplug/templates/plugin``, rendered
with :class:`string.Template`: shared files (``pyproject.toml`` with the
``jetplug`` entry point, the hook module, ``train.py``, the tests, a run
config), one model per kind (``kinds/<kind>.model.tmpl``, with its training
data and test) and one fitting function per artifact format
(``formats/<format>.fit.tmpl``; torch adds its network and ``build_module``).
Every kind combines with every format.

A decorrelator reads another plugin's output (``--reads PLUGIN.OUTPUT``):
:func:`check_reads` refuses, before anything is written, a plugin that is not
installed or cannot run, and an output that is not one number per FatJet.
Each package's ``train.py`` defaults to its own seed (:func:`default_seed`,
from the plugin name), so a decorrelator is not trained on the synthetic
events its upstream plugin was trained on.
"""

from __future__ import annotations

import re
import textwrap
import zlib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template

from .errors import JetplugError, closest
from .host import PluginHost
from .spec import ModelSpec, TargetMode

__all__ = [
    "DEFAULT_READS",
    "FORMATS",
    "KINDS",
    "PluginNames",
    "check_reads",
    "default_seed",
    "render_plugin",
]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class _Format:
    ext: str
    dependencies: tuple[str, ...]
    train_dependencies: tuple[str, ...] = ()


FORMATS: dict[str, _Format] = {
    "xgboost-json": _Format("json", ("xgboost>=2.1",)),
    "torch-state-dict": _Format("pt", ("torch>=2.1",)),
    "onnx": _Format("onnx", ("onnxruntime>=1.20",), ("onnx>=1.17", "scikit-learn>=1.4")),
}
"""Artifact formats a template can train: file extension and dependencies."""


@dataclass(frozen=True)
class _Kind:
    hist: tuple[str, str, float, float]
    """Histogram of the run config: name, field, start, stop."""
    files_note: str
    finalize: bool = True
    reads: bool = False
    """Whether it reads another plugin's output (``--reads``)."""


_TRUTH = "FatJet_truthLabel (generated samples: ``jetplug generate``)"
KINDS: dict[str, _Kind] = {
    "tagger": _Kind(("probs_top", "FatJet.${name}.probs_top", 0, 1), _TRUTH, finalize=False),
    "calibrator": _Kind(
        ("pt_calibrated", "FatJet.pt", 0, 1500), "GenJetAK8 and FatJet_genJetAK8Idx"
    ),
    "anomaly": _Kind(("score", "FatJet.${name}.score", 0, 0.2), _TRUTH),
    "fastsim": _Kind(("pt", "${collection}.pt", 0, 1500), "GenJetAK8 and FatJet_genJetAK8Idx"),
    "decorrelator": _Kind(
        ("score", "FatJet.${name}.score", -1, 1),
        _TRUTH + ", and what the upstream plugin reads",
        reads=True,
    ),
    "representation": _Kind(
        ("tau21", "FatJet.${name}.embedding_tau21", 0, 1.2),
        "PF candidates (PFNano's FatJetPFCands and PFCands, or NanoAOD v15's)",
        finalize=False,
    ),
}
"""What each kind's run config histograms and its training files need."""


@dataclass(frozen=True)
class PluginNames:
    """The names a package is generated under."""

    name: str
    """Plugin name (run configs, entry point), e.g. ``my_tagger``."""
    package: str
    """Import package, e.g. ``jetplug_my_tagger``."""
    dist: str
    """Distribution, e.g. ``jetplug-my-tagger``."""

    @classmethod
    def from_name(cls, name: str) -> PluginNames:
        """From a plugin name or a directory name (``my-tagger`` -> ``my_tagger``)."""
        plugin = re.sub(r"[-\s.]+", "_", name.strip()).lower()
        if not _IDENTIFIER.match(plugin):
            msg = f"plugin name {plugin!r} (from {name!r}) is not a lower-case identifier"
            raise JetplugError(msg)
        package = plugin if plugin.startswith("jetplug_") else f"jetplug_{plugin}"
        return cls(plugin, package, package.replace("_", "-"))


DEFAULT_READS = "top_bdt.score"
"""What a decorrelator decorrelates unless ``--reads`` says otherwise."""


def default_seed(name: str) -> int:
    """``train.py``'s default seed for plugin ``name``: 100-9999, from the name.

    Packages of different names train on different synthetic events by
    default, so a decorrelator is not fitted to its upstream plugin's scores
    on that plugin's own training sample (overfit there); the tests' sample
    (seed 11) is never one of them.
    """
    return 100 + zlib.crc32(name.encode()) % 9900


def _scalar_columns(spec: ModelSpec) -> list[str]:
    """The plugin's output columns of one number per object (``<output>_<label>`` included)."""
    columns = []
    for out in spec.outputs:
        if out.dtype == "bool":
            continue
        if not out.shape:
            columns.append(out.name)
        columns.extend(f"{out.name}_{label}" for label in out.labels)
    return columns


def check_reads(reads: str, host: PluginHost, collection: str = "FatJet") -> None:
    """Raise :class:`JetplugError` (one line) unless ``reads`` names an output a decorrelator
    can read: ``<plugin>.<output>`` of an installed, available plugin that adds it to
    ``collection``, one number per object."""
    upstream, _, output = reads.partition(".")
    if not (_IDENTIFIER.match(upstream) and _IDENTIFIER.match(output)):
        msg = f"--reads {reads!r} is not <plugin>.<output>, e.g. {DEFAULT_READS}"
        raise JetplugError(msg)
    where = f"--reads {reads}"
    if upstream in host.models.unavailable:
        package, reason = host.models.unavailable[upstream]
        msg = (
            f"{where}: plugin {upstream!r} (from {package}) cannot run yet: {reason}; "
            "train it first (its train.py), then generate the decorrelator"
        )
        raise JetplugError(msg)
    if upstream not in host.models:
        close = closest(upstream, [*host.models.names(), *host.models.unavailable])
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        msg = f"{where}: no plugin {upstream!r} is installed{hint} (`jetplug plugins` lists them)"
        raise JetplugError(msg)
    spec = host.spec(upstream)
    if spec.target.mode is not TargetMode.ADD or spec.target_collection != collection:
        does = {
            TargetMode.CREATE: f"creates the collection {spec.target_collection}",
            TargetMode.REPLACE: f"replaces {spec.target_collection} fields",
        }.get(spec.target.mode, f"adds its outputs to {spec.target_collection}")
        msg = (
            f"{where}: plugin {upstream!r} ({spec.kind.value}) {does}; a decorrelator reads "
            f"an output a plugin adds to {collection} ({collection}.<plugin>.<output>), "
            f"e.g. {DEFAULT_READS}"
        )
        raise JetplugError(msg)
    scalars = _scalar_columns(spec)
    if output in scalars:
        return
    listing = ", ".join(f"{upstream}.{c}" for c in scalars)
    choose = (
        f"name one of {listing}"
        if scalars
        else f"{upstream!r} has no output of one number per object"
    )
    vector = {o.name: o for o in spec.outputs if o.shape}
    if output in vector:
        n = " x ".join(map(str, vector[output].shape))
        msg = (
            f"{where}: {output!r} holds {n} numbers per {collection} object (a vector output); "
            f"a decorrelator reads one number per object: {choose}"
        )
    elif output in {o.name for o in spec.outputs}:
        msg = f"{where}: {output!r} is a bool output; a decorrelator reads a score: {choose}"
    else:
        close = closest(output, scalars)
        hint = f"; did you mean {', '.join(f'{upstream}.{c}' for c in close)}?" if close else ""
        msg = f"{where}: plugin {upstream!r} has no output {output!r}{hint} ({choose})"
    raise JetplugError(msg)


def _upstream_note(upstream: str, quote: str) -> str:
    """A paragraph of ``train.py``'s docstring (``quote`` ````) or the README (`````)."""
    q = quote
    note = (
        f"A decorrelator must be trained on events that {q}{upstream}{q} was not trained on: "
        "its scores on its own training sample are overfit, and a decorrelation fitted to "
        f"them fails on other events. {q}train.py{q} refuses the synthetic samples and files "
        f"that {q}{upstream}{q}'s metadata lists ({q}check_sample{q}); with {q}--files{q}, "
        "give files it did not train on."
    )
    return "\n\n" + textwrap.fill(note, width=79, break_on_hyphens=False)


def _template(path: str) -> Template:
    return Template(files("jetplug").joinpath("templates", "plugin", path).read_text())


def _quoted(items: tuple[str, ...]) -> str:
    return ", ".join(f'"{i}"' for i in items)


def _run_plugins(kind: str, names: PluginNames, upstream: str) -> str:
    lines = []
    if kind == "decorrelator":
        lines.append(f"  - name: {upstream}             # the plugin whose score it decorrelates")
    lines.append(f"  - name: {names.name}")
    lines.append("    backend: local")
    if kind == "fastsim":
        lines.append("    seed: 1                      # keys the per-object random numbers")
    return "\n".join(lines)


def render_plugin(
    directory: Path,
    kind: str,
    fmt: str,
    *,
    name: str | None = None,
    reads: str | None = None,
    force: bool = False,
    host: PluginHost | None = None,
) -> list[Path]:
    """Write a plugin package of ``kind`` with a ``fmt`` model into ``directory``.

    ``name`` defaults to the directory's name; ``reads`` is the
    ``<plugin>.<output>`` a decorrelator decorrelates (default
    :data:`DEFAULT_READS`), checked against the plugins of ``host`` (default:
    the installed ones) by :func:`check_reads`; other kinds read no plugin's
    output and refuse it. Returns the files written.
    """
    if kind not in KINDS:
        msg = f"kind {kind!r} has no template; use one of {list(KINDS)}"
        raise JetplugError(msg)
    if fmt not in FORMATS:
        msg = f"format {fmt!r} unknown; use one of {list(FORMATS)}"
        raise JetplugError(msg)
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not force:
        msg = f"{directory} exists and is not empty (--force writes into it)"
        raise JetplugError(msg)
    names = PluginNames.from_name(name or directory.resolve().name)
    form, kinfo = FORMATS[fmt], KINDS[kind]
    if kinfo.reads:
        reads = reads or DEFAULT_READS
        check_reads(reads, host or PluginHost())
    elif reads is not None:
        users = " or ".join(f"--kind {k}" for k, v in KINDS.items() if v.reads)
        msg = f"--reads {reads} is for {users} (the output it decorrelates); a {kind} reads none"
        raise JetplugError(msg)
    else:
        reads = DEFAULT_READS  # the templates of this kind do not use it
    upstream, _, reads_field = reads.partition(".")
    artifact = f"{names.name}.{form.ext}"
    values = {
        "name": names.name,
        "pkg": names.package,
        "dist": names.dist,
        "kind": kind,
        "seed": str(default_seed(names.name)),
        "format": fmt,
        "artifact": artifact,
        "metadata": artifact.replace(".json", ".meta.json")
        if form.ext == "json"
        else f"{names.name}.json",
        "collection": "".join(p.capitalize() for p in names.name.split("_")) + "Jet",
        "upstream": upstream,
        "reads": reads,
        "reads_field": reads_field,
        "dependencies": _quoted(form.dependencies),
        "train_dependencies": _quoted(form.train_dependencies),
        "files_note": kinfo.files_note,
        "finalize_note": ", `finalize()`" if kinfo.finalize else "",
        "check_sample": "    check_sample(data)\n" if kinfo.reads else "",
        "train_note": _upstream_note(upstream, "``") if kinfo.reads else "",
        "readme_note": _upstream_note(upstream, "`") if kinfo.reads else "",
    }
    torch = fmt == "torch-state-dict"
    values["build_module"] = (
        _template("formats/torch-state-dict.module.tmpl").substitute(values) if torch else ""
    )
    values["network_row"] = (
        f"| `{names.package}/network.py` | the torch network (`build_module()`, `train.py`) |\n"
        if torch
        else ""
    )
    values["training_data"] = _template(f"kinds/{kind}.train.tmpl").substitute(values).strip()
    values["fit"] = _template(f"formats/{fmt}.fit.tmpl").substitute(values).strip()
    values["kind_test"] = _template(f"kinds/{kind}.test.tmpl").substitute(values)
    hist_name, hist_field, start, stop = kinfo.hist
    values |= {
        "plugins": _run_plugins(kind, names, upstream),
        "hist_name": hist_name,
        "hist_field": Template(hist_field).substitute(values),
        "hist_start": str(start),
        "hist_stop": str(stop),
    }
    pkg = Path(names.package)
    outputs: dict[Path, str] = {
        Path("pyproject.toml"): "pyproject.toml.tmpl",
        Path("README.md"): "README.md.tmpl",
        Path(".gitignore"): "gitignore.tmpl",
        Path("run.yaml"): "run.yaml.tmpl",
        Path("train.py"): "train.py.tmpl",
        Path("tests") / f"test_{names.name}.py": "tests/test_plugin.py.tmpl",
        pkg / "__init__.py": "package/__init__.py.tmpl",
        pkg / "plugin.py": "package/plugin.py.tmpl",
        pkg / "model.py": f"kinds/{kind}.model.tmpl",
    }
    if torch:
        outputs[pkg / "network.py"] = "formats/torch-state-dict.network.tmpl"
    written = []
    for rel, template in outputs.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        text = _template(template).substitute(values)
        if rel.suffix == ".py":  # an empty ${build_module} left a blank last line
            text = text.rstrip("\n") + "\n"
        path.write_text(text)
        written.append(path)
    typed = directory / pkg / "py.typed"
    typed.write_text("")
    (directory / pkg / "models").mkdir(exist_ok=True)
    return [*written, typed]
