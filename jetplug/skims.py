"""Skims: chosen columns of the objects that pass cuts, written chunk by chunk.

A run config's ``skims`` section (:class:`~jetplug.config.SkimConfig`) names,
per skim, a collection, fields of it (input branches or plugin outputs),
event-level fields, cuts (the histograms' cut language) and formats. For
every chunk that succeeds, after the plugins ran, :func:`write_skims` writes
one file per skim and format::

    <outdir>/skims/<skim>/<dataset>/<file stem>_<entrystart>-<entrystop>.parquet
    <outdir>/skims/<skim>/<dataset>/<file stem>_<entrystart>-<entrystop>.root

One row per event with at least one selected object; the collection is a
list of records per event (``FatJet: var * {pt, msoftdrop, top_bdt_score}``
in parquet, branches ``nFatJet``, ``FatJet_pt``, ... of the TTree ``Events``
in ROOT, NanoAOD-style, so coffea's ``NanoAODSchema`` reads it back). Dotted
field paths become flat names (``top_bdt.score`` -> ``top_bdt_score``), a
record field becomes one column per leaf, and a vector output (class
probabilities) one column per label (``part.probs`` -> ``part_probs_top``,
...; without labels ``<name>_0``, ``<name>_1``, ...).

Files are written to a temporary name in their directory and renamed into
place (:func:`jetplug.outputs.atomic_path`), so no half-written file is left;
a chunk that fails removes what it wrote and leaves no file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from .columns import get_path
from .config import RunConfig, SkimConfig
from .errors import SkimError
from .histograms import cut_mask, resolve
from .outputs import atomic_path, safe_name
from .skimconfig import SKIM_FORMATS

__all__ = ["FORMATS", "SkimError", "chunk_stem", "clear_skims", "skim_array", "write_skims"]

FORMATS = SKIM_FORMATS
"""Skim format -> file suffix (declared with the config section)."""
SKIMS = "skims"
"""Subdirectory of the run's output directory that holds the skims."""


def chunk_stem(config: RunConfig, dataset: str, file: str, start: int, stop: int) -> str:
    """``<file stem>_<start>-<stop>``, unique within the dataset and the same on every executor.

    When two files of the dataset share a stem, 8 hex digits of the path's
    sha1 follow the stem.
    """
    stem = Path(file).stem or "file"
    stems = [Path(f).stem for d in config.fileset if d.name == dataset for f in d.files]
    if stems.count(stem) != 1:
        stem += "-" + hashlib.sha1(file.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{safe_name(stem)}_{start}-{stop}"


def _inner(value: ak.Array, depth: int) -> ak.types.Type:
    node: Any = value.type.content
    for _ in range(depth - 1):
        node = node.content
    return node


def _columns(
    parent: ak.Array, name: str, prefix: str, depth: int, out: dict[str, ak.Array]
) -> None:
    """Add the flat columns of ``parent[name]`` (``depth`` list levels) to ``out``."""
    value = parent[name]
    flat = f"{prefix}{name}"
    if ak.fields(value):
        for sub in ak.fields(value):
            _columns(value, sub, f"{flat}_", depth, out)
        return
    if value.ndim == depth:
        out.setdefault(flat, value)
        return
    inner = _inner(value, depth)
    if value.ndim == depth + 1:
        labels = [
            f for f in ak.fields(parent) if f.startswith(f"{name}_") and parent[f].ndim == depth
        ]
        for label in labels:
            out.setdefault(f"{prefix}{label}", parent[label])
        if labels:
            return
        if isinstance(inner, ak.types.RegularType):
            for i in range(inner.size):
                out.setdefault(f"{flat}_{i}", value[..., i])
            return
    msg = f"field {flat!r} has type {inner}: give its components (a scalar per object or event)"
    raise SkimError(msg)


def _flat_columns(node: ak.Array, paths: Iterable[str], depth: int) -> dict[str, ak.Array]:
    out: dict[str, ak.Array] = {}
    for path in paths:
        head, _, name = path.rpartition(".")
        parent = get_path(node, head) if head else node
        _columns(parent, name, f"{head.replace('.', '_')}_" if head else "", depth, out)
    return {k: ak.without_parameters(v) for k, v in out.items()}


def skim_array(events: ak.Array, skim: SkimConfig, *, source: str | None = None) -> ak.Array:
    """The skim's rows for ``events``: one per event with a selected object (or passing cuts)."""
    consumer = f"skim {skim.name!r}"
    for path in skim.reads():
        resolve(events, path, consumer, source)  # names the field if it is missing
    mask = cut_mask(events, skim.cuts, consumer, source)
    if skim.collection is None:
        if mask is not None and mask.ndim != 1:
            msg = f"{consumer}: without a collection, cuts must be on event-level fields"
            raise SkimError(msg)
        keep = np.ones(len(events), dtype=bool) if mask is None else ak.to_numpy(mask)
        return ak.zip(_flat_columns(events[keep], skim.event, 1), depth_limit=1)
    objects = events[skim.collection]
    index = ak.local_index(objects, axis=1)
    try:
        selected = ak.broadcast_arrays(True if mask is None else mask, index)[0]
    except ValueError:
        cuts = ", ".join(map(str, skim.cuts))
        msg = f"{consumer}: the cuts [{cuts}] select objects of another collection"
        msg += f" than {skim.collection}"
        raise SkimError(msg) from None
    keep = ak.to_numpy(ak.any(selected, axis=1))
    chosen = objects[selected][keep]
    obj = _flat_columns(chosen, skim.fields, 2)
    columns = _flat_columns(events[keep], skim.event, 1)
    columns[skim.collection] = ak.zip(obj, depth_limit=2)
    return ak.zip(columns, depth_limit=1)


def _write_parquet(array: ak.Array, path: Path) -> None:
    ak.to_parquet(array, path)


def _write_root(array: ak.Array, path: Path) -> None:
    branches = {name: array[name] for name in ak.fields(array)}
    with uproot.recreate(path) as f:
        tree = f.mktree("Events", {k: v.type.content for k, v in branches.items()})
        tree.extend(branches)


_WRITERS: Mapping[str, Callable[[ak.Array, Path], None]] = {
    "parquet": _write_parquet,
    "root": _write_root,
}


def write_skims(
    config: RunConfig,
    events: ak.Array,
    chunk: Mapping[str, Any],
    outdir: Path | None,
    *,
    source: str | None = None,
) -> list[str]:
    """Write every skim of ``config`` for one chunk; returns the paths relative to ``outdir``.

    ``chunk`` holds ``dataset``, ``file``, ``entrystart`` and ``entrystop``.
    Nothing is written without ``outdir``. If any write fails, the files this
    call wrote are removed before the error propagates.
    """
    if outdir is None or not config.skims:
        return []
    stem = chunk_stem(
        config, chunk["dataset"], chunk["file"], chunk["entrystart"], chunk["entrystop"]
    )
    written: list[Path] = []
    try:
        for skim in config.skims:
            array = ak.to_packed(skim_array(events, skim, source=source))
            directory = outdir / SKIMS / skim.name / safe_name(chunk["dataset"])
            directory.mkdir(parents=True, exist_ok=True)
            for fmt in skim.formats:
                path = directory / f"{stem}{FORMATS[fmt]}"
                with atomic_path(path) as tmp:
                    _WRITERS[fmt](array, tmp)
                written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return [path.relative_to(outdir).as_posix() for path in written]


def clear_skims(config: RunConfig, outdir: Path) -> None:
    """Remove skim files a previous run left in ``outdir`` for this config's skims.

    So that the skim directories hold exactly this run's chunks (a chunk that
    fails now leaves no stale file from an earlier run).
    """
    for skim in config.skims:
        for dataset in config.fileset:
            directory = outdir / SKIMS / skim.name / safe_name(dataset.name)
            if not directory.is_dir():
                continue
            for path in directory.iterdir():
                if path.is_file() and (path.suffix in FORMATS.values() or path.suffix == ".tmp"):
                    path.unlink()
