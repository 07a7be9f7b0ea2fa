"""The ``fileset`` of a run configuration: jetplug's short form and coffea's filesets.

Accepted, per dataset (mixed freely in one fileset)::

    ttbar: [data/tt_0.root, data/tt_1.root]               # jetplug's short form
    qcd: {files: [data/qcd_0.root], metadata: {xsec: 1.0}}
    dy:                                                    # coffea's form
      files: {data/dy_0.root: Events, data/dy_1.root: {object_path: Events}}
      metadata: {xsec: 6077.22, isMC: true}

A file given as a mapping takes the keys coffea's dataset tools write
(``coffea.dataset_tools.preprocess``, ``DataGroupSpec.model_dump()``):
``object_path`` (the tree), ``steps``, ``num_entries``, ``uuid``, ``format``,
``lfn``, ``pfn``, ``num_selected_entries``. A list entry may name its tree
after a colon (``data/dy_0.root:Events``), as coffea reads it. A file's tree
is its own, else the dataset's ``treename`` (coffea's ``Runner`` form),
else the run's ``treename``.

``fileset`` may also be the name of a JSON (or YAML) file holding such a
mapping, as coffea users keep them (``fileset: datasets.json``; ``.json.gz``
too); paths inside it are relative to that file.

jetplug chunks whole files itself (``chunksize``), so ``steps`` are accepted
only when they cover the whole file (as ``preprocess`` writes them); steps
selecting part of a file (``max_chunks``, ``slice_chunks``) are refused.
"""

from __future__ import annotations

import glob
import gzip
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .configkit import ConfigContext, load_yaml
from .errors import ConfigError, JetplugError

__all__ = ["DatasetConfig", "file_identity", "parse_fileset", "refuse_repeated"]

COFFEA_RESERVED = frozenset(
    {
        "dataset",
        "filename",
        "treename",
        "metadata",
        "entrystart",
        "entrystop",
        "fileuuid",
        "numentries",
        "uuid",
        "clusters",
        "preload",
    }
)
"""Metadata keys coffea's ``Runner`` sets itself and refuses in a fileset."""

_DATASET_KEYS = ("files", "metadata", "treename", "format", "form", "compressed_form", "did")
_FILE_KEYS = (
    "object_path",
    "steps",
    "num_entries",
    "uuid",
    "format",
    "lfn",
    "pfn",
    "num_selected_entries",
)


@dataclass(frozen=True)
class DatasetConfig:
    """A dataset: its files, each file's tree, and free-form metadata passed to the processor.

    ``trees`` maps a file to its tree name; files not in it use the run's
    ``treename`` (:meth:`tree`).
    """

    name: str
    files: tuple[str, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    trees: Mapping[str, str] = field(default_factory=dict)

    def tree(self, path: str, default: str) -> str:
        """The tree (or RNTuple) to read from ``path``."""
        return self.trees.get(path, default)


def _resolve(path: str, base: Path) -> str:
    return path if "://" in path or Path(path).is_absolute() else str((base / path).resolve())


def _split_object_path(entry: str) -> tuple[str, str | None]:
    """``"a.root:Events"`` -> ``("a.root", "Events")``, as coffea and uproot split it."""
    head, sep, tail = entry.rpartition(":")
    if sep and head.lower().endswith(".root") and tail and "/" not in tail:
        return head, tail
    return entry, None


def _check_steps(ctx: ConfigContext, spec: Mapping[str, Any], where: str) -> None:
    """Refuse ``steps`` that do not cover the whole file, contiguously from entry 0."""
    steps = spec.get("steps")
    if steps is None:
        return
    ok = isinstance(steps, list) and all(
        isinstance(s, list | tuple) and len(s) == 2 and all(isinstance(v, int) for v in s)
        for s in steps
    )
    if not ok or not steps:
        ctx.fail(f"{where}.steps", f"expected a list of [start, stop] entry pairs, got {steps!r}")
    stops = [0] + [int(s[1]) for s in steps]
    contiguous = all(int(s[0]) == stops[i] for i, s in enumerate(steps))
    n = spec.get("num_entries")
    if n is None:
        ctx.fail(
            f"{where}.steps",
            "steps without num_entries; jetplug processes whole files (in chunks of "
            "chunksize), so it needs num_entries to check that the steps cover the file, "
            "or give the file without steps",
        )
    if not contiguous or stops[-1] != n:
        covered = ", ".join(f"{s[0]}-{s[1]}" for s in steps)
        ctx.fail(
            f"{where}.steps",
            f"cover entries {covered} of the file's {n}; jetplug processes whole files "
            "(in chunks of chunksize) and cannot run a selection of steps (coffea's "
            "max_chunks, slice_chunks); give the file without steps, or use maxchunks",
        )


def _file_entry(ctx: ConfigContext, spec: Any, where: str) -> str | None:
    """The tree named by one entry of a ``files`` mapping (None: the default tree)."""
    if spec is None or isinstance(spec, str):
        return spec
    spec = ctx.mapping(spec, where)
    ctx.keys(spec, where, _FILE_KEYS)
    if spec.get("format") not in (None, "root"):
        ctx.fail(f"{where}.format", f"{spec['format']!r}: jetplug reads ROOT files only")
    _check_steps(ctx, spec, where)
    tree = spec.get("object_path")
    if tree is not None and not isinstance(tree, str):
        ctx.fail(f"{where}.object_path", f"expected a tree name, got {tree!r}")
    return tree


def _dataset(ctx: ConfigContext, name: str, spec: Any, base: Path) -> DatasetConfig:
    where = f"fileset.{name}"
    metadata: dict[str, Any] = {}
    default_tree = None
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, Mapping):
        ctx.keys(spec, where, _DATASET_KEYS)
        if spec.get("format") not in (None, "root"):
            ctx.fail(f"{where}.format", f"{spec['format']!r}: jetplug reads ROOT files only")
        metadata = dict(ctx.mapping(spec.get("metadata") or {}, f"{where}.metadata"))
        reserved = sorted(COFFEA_RESERVED & set(metadata))
        if reserved:
            ctx.fail(f"{where}.metadata", f"key(s) {reserved} are reserved by coffea's Runner")
        default_tree = spec.get("treename")
        if default_tree is not None and not isinstance(default_tree, str):
            ctx.fail(f"{where}.treename", f"expected a tree name, got {default_tree!r}")
        spec = spec.get("files")
    entries: list[tuple[str, str | None]] = []
    if isinstance(spec, Mapping):
        for f, entry in spec.items():
            entries.append((str(f), _file_entry(ctx, entry, f"{where}.files[{f!r}]")))
    elif isinstance(spec, Sequence) and not isinstance(spec, str):
        if not all(isinstance(f, str) for f in spec):
            ctx.fail(where, "needs a non-empty list of file paths")
        entries = [_split_object_path(f) for f in spec]
    if not entries:
        ctx.fail(where, "needs a non-empty list of file paths (or coffea's {path: tree} mapping)")
    expanded: list[tuple[str, str | None]] = []
    for given, own in entries:
        path = _resolve(given, base)
        literal = "://" in path or not any(c in path for c in "*?[") or Path(path).exists()
        if literal:
            expanded.append((path, own))
            continue
        matches = sorted(glob.glob(path))  # a glob: its files in sorted order
        if not matches:
            ctx.fail(where, f"{given!r} matches no file")
        expanded += [(m, own) for m in matches]
    files = tuple(path for path, _ in expanded)
    trees = {path: tree for path, own in expanded if (tree := own or default_tree) is not None}
    return DatasetConfig(name, files, metadata, trees)


def _read_fileset(ctx: ConfigContext, name: str, base: Path) -> tuple[Any, Path, ConfigContext]:
    """Load ``fileset: <file>``: the mapping, the directory its paths are relative to."""
    path = Path(name) if Path(name).is_absolute() else base / name
    if not path.is_file():
        ctx.fail("fileset", f"fileset file {path} does not exist")
    source = str(path)

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            msg = f"duplicate key(s) {twice}; JSON would keep only the last one"
            raise ConfigError(msg, source=source)
        return dict(pairs)

    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as f:
            text = f.read()
        if path.name.endswith((".json", ".json.gz")):
            raw = json.loads(text, object_pairs_hook=unique)
        else:
            raw = load_yaml(text, source)
    except (OSError, json.JSONDecodeError, yaml.YAMLError) as e:
        msg = f"cannot read the fileset: {' '.join(str(e).split())}"
        raise ConfigError(msg, source=source) from None
    return raw, path.resolve().parent, ConfigContext(source)


def parse_fileset(ctx: ConfigContext, raw: Any, base: Path) -> tuple[DatasetConfig, ...]:
    """Validate ``fileset``; relative paths resolve against ``base`` (or the fileset file's)."""
    if isinstance(raw, str):
        raw, base, ctx = _read_fileset(ctx, raw, base)
    if not raw:
        ctx.fail("fileset", "at least one dataset is required")
    datasets = [
        _dataset(ctx, str(name), spec, base) for name, spec in ctx.mapping(raw, "fileset").items()
    ]
    _refuse_repeated_files(ctx, datasets)
    return tuple(datasets)


def file_identity(path: str | Path) -> str:
    """What tells two listed files apart: a local file's resolved path, a remote one's URL."""
    path = str(path)
    return path if "://" in path else str(Path(path).resolve())


def refuse_repeated(files: Sequence[str | Path], what: str) -> None:
    """Raise :class:`JetplugError` if ``files`` (a command's FILES) name one file twice.

    ``what`` says what the files are for (``"jetplug validate"``): read twice,
    a file's events would count twice.
    """
    first: dict[str, str] = {}
    for f in map(str, files):
        key = file_identity(f)
        if key in first:
            also = f" (the second time as {f})" if f != first[key] else ""
            msg = f"{what}: file {first[key]} is given twice{also}; its events would count twice"
            raise JetplugError(msg)
        first[key] = f


def _refuse_repeated_files(ctx: ConfigContext, datasets: Sequence[DatasetConfig]) -> None:
    """Fail if one file is listed twice (it would be processed twice).

    Local files are compared by their resolved path (``a.root`` and
    ``./x/../a.root`` are one file), remote ones (``root://``...) by their URL.
    """
    first: dict[str, tuple[str, str]] = {}
    for dataset in datasets:
        for f in dataset.files:
            key = file_identity(f)
            if key not in first:
                first[key] = (dataset.name, f)
                continue
            where, path = first[key]
            listed = (
                f"twice in dataset {where!r}"
                if where == dataset.name
                else f"in dataset {where!r} and in dataset {dataset.name!r}"
            )
            also = f" (the second time as {f})" if f != path else ""
            ctx.fail(
                "fileset", f"file {path} is listed {listed}{also}; it would be processed twice"
            )
