"""Checks made before any chunk runs, so that bad input fails with one clear error.

For every input file: it exists, is a readable ROOT file, has the tree, and
has (or can derive) every field that the configured plugins and histograms
read. Errors name the plugin or histogram, the field and the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import uproot

from .config import RunConfig
from .errors import ConfigError, InputFileError, MissingInputError
from .registry import DerivationRegistry
from .spec import ModelSpec, TargetMode

__all__ = ["FileInfo", "Provided", "check_config", "check_files"]


@dataclass(frozen=True)
class FileInfo:
    """What preflight learnt about an input file."""

    dataset: str
    path: str
    entries: int
    size: int | None


class Provided:
    """Fields that plugins create, as ``(collection, dotted field)`` pairs."""

    def __init__(self, specs: Sequence[ModelSpec]) -> None:
        self.fields: set[tuple[str, str]] = set()
        self.collections: set[str] = set()
        for spec in specs:
            self.add(spec)

    def add(self, spec: ModelSpec) -> None:
        """Record the outputs of ``spec``."""
        coll = spec.target_collection
        names = []
        for out in spec.outputs:
            names.append(out.name)
            names.extend(f"{out.name}_{label}" for label in out.labels)
        if spec.target.mode is TargetMode.CREATE:
            self.collections.add(coll)
            self.fields.update((coll, n) for n in names)
        elif spec.target.mode is TargetMode.REPLACE:
            self.fields.update((coll, n) for n in names)
            self.fields.update((coll, f"{n}_raw") for n in names)
        else:
            self.fields.add((coll, spec.name))
            self.fields.update((coll, f"{spec.name}.{n}") for n in names)


def check_config(config: RunConfig) -> None:
    """File-independent checks: histogram fields come from one collection at most."""
    for h in config.histograms:
        heads = {f.split(".")[0] for f in h.fields() if "." in f}
        if len(heads) > 1:
            msg = (
                f"histograms.{h.name}: fields come from several collections {sorted(heads)}; "
                "a histogram fills one entry per object of a single collection"
            )
            raise ConfigError(msg, source=config.source)


def _branch_of(path: str) -> str:
    """``FatJet.pt`` -> ``FatJet_pt``; ``genWeight`` -> ``genWeight``."""
    return path.replace(".", "_", 1)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def _open(dataset: str, path: str, treename: str) -> tuple[set[str], int, int | None]:
    local = "://" not in path
    if local and not Path(path).is_file():
        raise InputFileError(path, "does not exist", dataset=dataset)
    try:
        with uproot.open(path) as f:
            if treename not in f:
                keys = sorted({k.split(";")[0] for k in f.keys(recursive=False)})
                raise InputFileError(
                    path, f"has no tree {treename!r} (it has {keys})", dataset=dataset
                )
            tree = f[treename]
            branches = set(tree.keys())
            entries = int(tree.num_entries)
    except InputFileError:
        raise
    except Exception as e:
        raise InputFileError(
            path,
            f"cannot be read as a ROOT file ({type(e).__name__}: {_one_line(e)}); "
            "is it truncated or corrupt?",
            dataset=dataset,
        ) from None
    return branches, entries, Path(path).stat().st_size if local else None


def _check_plugin(
    spec: ModelSpec,
    branches: set[str],
    provided: Provided,
    derivations: DerivationRegistry,
    path: str,
) -> None:
    consumer = f"plugin {spec.name!r}"
    coll = spec.inputs.collection
    coll_fields = sorted(b.split("_", 1)[1] for b in branches if b.startswith(f"{coll}_"))
    if coll not in provided.collections and not coll_fields:
        raise MissingInputError(
            consumer=consumer, field=coll, path=path, hint="(no such collection)"
        )
    for fs in spec.inputs.fields:
        if (coll, fs.name) in provided.fields or f"{coll}_{fs.name}" in branches:
            continue
        if fs.derive is not None:
            needed = derivations.get(fs.derive).required_branches(coll)
            missing = [b for b in needed if b not in branches]
            if not missing:
                continue
            hint = f"(derivation {fs.derive!r} would need branches {missing}, also missing)"
        else:
            hint = ""
        raise MissingInputError(
            consumer=consumer,
            field=f"{coll}.{fs.name}",
            path=path,
            available=coll_fields,
            hint=hint,
        )
    if spec.inputs.constituents is not None:
        cands = spec.inputs.constituents.candidates
        needed = (f"{coll}PFCands_pFCandsIdx", f"{coll}PFCands_jetIdx")
        needed += tuple(f"{cands}_{f}" for f in spec.inputs.constituents.fields)
        missing = [b for b in needed if b not in branches]
        if missing:
            raise MissingInputError(
                consumer=consumer,
                field=f"{coll} constituents ({cands})",
                path=path,
                hint=f"(constituents need the PFNano layout: branches {missing} are missing)",
            )


def _check_histograms(config: RunConfig, branches: set[str], provided: Provided, path: str) -> None:
    for h in config.histograms:
        for fld in h.fields():
            head, _, rest = fld.partition(".")
            if rest and ((head, rest) in provided.fields or _branch_of(fld) in branches):
                continue
            if not rest and fld in branches:
                continue
            if rest:
                available = sorted(
                    {b.split("_", 1)[1] for b in branches if b.startswith(f"{head}_")}
                    | {f for c, f in provided.fields if c == head}
                )
            else:
                available = sorted(b for b in branches if "_" not in b)
            raise MissingInputError(
                consumer=f"histogram {h.name!r}", field=fld, path=path, available=available
            )


def _check_skims(config: RunConfig, branches: set[str], provided: Provided, path: str) -> None:
    """Skim fields exist (or are plugin outputs); cuts and event fields fit the collection."""
    lists = {b[1:] for b in branches if b.startswith("n")} | provided.collections
    for s in config.skims:
        consumer = f"skim {s.name!r}"
        if s.collection is not None and s.collection not in lists:
            raise MissingInputError(
                consumer=consumer, field=s.collection, path=path, hint="(no such collection)"
            )
        for fld in s.reads():
            head, _, rest = fld.partition(".")
            if rest:
                known = (head, rest) in provided.fields or _branch_of(fld) in branches
                available = {b.split("_", 1)[1] for b in branches if b.startswith(f"{head}_")}
                available |= {f for c, f in provided.fields if c == head}
            else:
                known = fld in branches
                available = {b for b in branches if "_" not in b}
            if not known:
                raise MissingInputError(
                    consumer=consumer, field=fld, path=path, available=sorted(available)
                )
            if rest and head in lists and (head != s.collection or fld in s.event):
                per = f" or per {s.collection}" if s.collection else ""
                msg = (
                    f"skims.{s.name}: {fld!r} is a field of the collection {head}; "
                    f"this skim's event fields and cuts take one value per event{per}"
                )
                raise ConfigError(msg, source=config.source)


def check_files(
    config: RunConfig, specs: Sequence[ModelSpec], derivations: DerivationRegistry
) -> list[FileInfo]:
    """Open every file once (metadata only) and check what the run will read."""
    check_config(config)
    infos = []
    for dataset in config.fileset:
        for path in dataset.files:
            branches, entries, size = _open(dataset.name, path, config.treename)
            provided = Provided(())
            for spec in specs:
                _check_plugin(spec, branches, provided, derivations, path)
                provided.add(spec)
            _check_histograms(config, branches, provided, path)
            _check_skims(config, branches, provided, path)
            infos.append(FileInfo(dataset.name, path, entries, size))
    return infos
