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
from .plan import Plan, Provided
from .registry import DerivationRegistry
from .spec import ModelSpec

__all__ = ["FileInfo", "check_config", "check_files"]


@dataclass(frozen=True)
class FileInfo:
    """What preflight learnt about an input file."""

    dataset: str
    path: str
    entries: int
    size: int | None


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


def _require(consumer: str, fld: str, branches: set[str], provided: Provided, path: str) -> None:
    """Raise :class:`MissingInputError` unless ``fld`` is a branch or a plugin output."""
    head, _, rest = fld.partition(".")
    if rest and (provided.has(head, rest) or _branch_of(fld) in branches):
        return
    if not rest and fld in branches:
        return
    if rest:
        available = {b.split("_", 1)[1] for b in branches if b.startswith(f"{head}_")}
        available |= set(provided.fields_of(head))
    else:
        available = {b for b in branches if "_" not in b}
    raise MissingInputError(consumer=consumer, field=fld, path=path, available=sorted(available))


def _check_histograms(config: RunConfig, branches: set[str], provided: Provided, path: str) -> None:
    for h in config.histograms:
        for fld in h.fields():
            _require(f"histogram {h.name!r}", fld, branches, provided, path)


def _check_skims(config: RunConfig, branches: set[str], provided: Provided, path: str) -> None:
    """Skim fields exist (or are plugin outputs); cuts and event fields fit the collection."""
    lists = {b[1:] for b in branches if b.startswith("n")} | set(provided.collections())
    for s in config.skims:
        consumer = f"skim {s.name!r}"
        if s.collection is not None and s.collection not in lists:
            raise MissingInputError(
                consumer=consumer, field=s.collection, path=path, hint="(no such collection)"
            )
        for fld in s.reads():
            _require(consumer, fld, branches, provided, path)
            head, _, rest = fld.partition(".")
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
    """Open every file once (metadata only) and check what the run will read.

    ``specs`` are the plugins as run, in execution order.
    """
    check_config(config)
    plans = [Plan(s) for s in specs]
    infos = []
    for dataset in config.fileset:
        for path in dataset.files:
            branches, entries, size = _open(dataset.name, path, dataset.tree(path, config.treename))
            provided = Provided()
            for plan in plans:
                plan.check_file(branches, provided, derivations, path)
                provided.add(plan)
            _check_histograms(config, branches, provided, path)
            _check_skims(config, branches, provided, path)
            infos.append(FileInfo(dataset.name, path, entries, size))
    return infos
