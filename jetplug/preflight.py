"""Checks made before any chunk runs, so that bad input fails with one clear error.

Per file (every file, 8 at a time): it exists (and is not a directory), is a
readable ROOT file and has the tree; its number of entries is read from the
tree's header without reading its branch list, which for NanoAOD (thousands
of branches) is nearly all the time an open takes. These entry counts and the
files' UUIDs are handed to coffea's ``Runner`` as its metadata cache
(:meth:`Preflight.metadata_cache`), so coffea's preprocessing opens no file
again.

Per dataset (its first file of each tree name, opened fully): the event-ID
branches coffea's NanoAOD schema needs, and every field that the configured
plugins, histograms and skims read is a branch or can be derived. Errors name
the plugin or histogram, the field and the file. A later file of the dataset
lacking such a field fails its chunks, each recorded with the same message
naming the file (see docs/running.md, "Preflight").

Remote files (``root://``, ``https://``, ...) are opened with uproot's
``timeout`` (the run config's ``timeout``), all files at once, so that a
server that never answers costs one timeout, not one per file; a missing
protocol package (``root://`` needs ``jetplug[xrootd]``), a server that cannot
be reached and one that does not answer in time are each one line naming the
URL.
"""

from __future__ import annotations

import concurrent.futures
import socket
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import uproot
from coffea.nanoevents import NanoAODSchema, PFNanoAODSchema
from coffea.processor.executor import FileMeta

from .config import RunConfig
from .errors import ConfigError, InputFileError, MissingInputError, closest
from .plan import COLLECTION, Plan, Provided
from .registry import DerivationRegistry
from .spec import ModelSpec

__all__ = [
    "INSTALL",
    "RUN_SCHEMAS",
    "FileInfo",
    "Preflight",
    "check_branches",
    "check_event_ids",
    "check_files",
    "local_file_problem",
    "preflight",
]

INSTALL = {"root": "pip install 'jetplug[xrootd]'"}
"""The install line for each protocol that needs an extra package."""
_OPEN_THREADS = 8


@dataclass(frozen=True)
class FileInfo:
    """What preflight learnt about an input file."""

    dataset: str
    path: str
    entries: int
    size: int | None


@dataclass(frozen=True)
class _Opened:
    """One file as preflight opened it; ``branches`` only for a dataset's sample file."""

    entries: int
    size: int | None
    uuid: bytes
    branches: set[str] | None


@dataclass
class Preflight:
    """What preflight learnt: the files, and what coffea's preprocessing would read again."""

    files: list[FileInfo] = field(default_factory=list)
    metadata: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    """``(dataset, path, tree)`` -> the metadata coffea's ``Runner`` keeps for the file."""
    sampled: list[tuple[str, str]] = field(default_factory=list)
    """``(dataset, path)`` of the files whose branches were checked."""

    def metadata_cache(self) -> dict[FileMeta, dict[str, Any]]:
        """A ``metadata_cache`` for coffea's ``Runner``, which then opens no file to preprocess.

        Each entry holds what coffea's own preprocessing would store (the
        dataset's metadata, ``numentries``, ``uuid``); coffea opens only
        files missing from it.
        """
        return {
            FileMeta(dataset, path, tree): dict(meta)
            for (dataset, path, tree), meta in self.metadata.items()
        }


def _branch_of(path: str) -> str:
    """``FatJet.pt`` -> ``FatJet_pt``; ``genWeight`` -> ``genWeight``."""
    return path.replace(".", "_", 1)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def local_file_problem(path: str) -> str | None:
    """Why the local input file ``path`` cannot be opened (missing, a directory), or ``None``."""
    p = Path(path)
    if p.is_file():
        return None
    if not p.is_dir():
        return "does not exist"
    n = len(list(p.glob("*.root")))
    there = f"{n} .root file{'s' if n != 1 else ''} there" if n else "it holds no .root files"
    return (
        f"is a directory, not a ROOT file; give the files in it, "
        f"e.g. with the glob '{p / '*.root'}' ({there})"
    )


def _check_protocol(dataset: str, path: str) -> None:
    """Fail if the package reading ``path``'s protocol is missing (``root://``: fsspec-xrootd)."""
    protocol = path.split("://", 1)[0].rsplit("::", maxsplit=1)[-1].lower()
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as e:
        install = INSTALL.get(protocol)
        need = f"install it with: {install}" if install else _one_line(e)
        msg = f"reading {protocol}:// files needs a package that is not installed; {need}"
        raise InputFileError(path, msg, dataset=dataset) from None
    except ValueError:
        raise InputFileError(path, f"unknown protocol {protocol}://", dataset=dataset) from None


def _chain(e: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _unreachable() -> tuple[type[BaseException], ...]:
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - fsspec's http needs it
        return (ConnectionError, socket.gaierror)
    return (ConnectionError, socket.gaierror, aiohttp.ClientConnectionError)


def _remote_problem(e: BaseException, timeout: float) -> str | None:
    """What went wrong talking to a remote file's server, in words (None: not that)."""
    chain = list(_chain(e))
    if any(isinstance(c, TimeoutError) for c in chain):
        return (
            f"the server did not answer within {timeout:g} s (the run config's 'timeout', "
            "or jetplug run --timeout)"
        )
    for c in chain:
        if isinstance(c, FileNotFoundError):
            return "does not exist on the server"
        if isinstance(c, _unreachable()):
            return f"cannot be reached ({type(c).__name__}: {_one_line(c)})"
        status = getattr(c, "status", None)
        if isinstance(status, int) and status >= 400:
            reason = getattr(c, "message", "")
            return f"the server answered HTTP {status}{' ' + reason if reason else ''}"
    if isinstance(e, OSError):
        return f"cannot be read from the server ({type(e).__name__}: {_one_line(e)})"
    return None


_BYTECOUNT = 0x40000000
"""ROOT's flag on a streamed object's byte count (``kByteCountMask``)."""


def _header_entries(f: uproot.ReadOnlyDirectory, treename: str) -> int | None:
    """A TTree's ``fEntries``, read from its header without its branches; None: not so readable.

    A TTree (class versions 16 to 20, ROOT 5.26 on) is streamed as its byte
    count and version, then its bases TNamed, TAttLine, TAttFill and
    TAttMarker, each with a byte count, then ``fEntries`` (64-bit). Reading
    those bytes costs milliseconds where uproot's full read of a NanoAOD
    tree (thousands of TBranch objects) costs most of a second.
    """
    key = f.key(treename)
    if key.fClassName != "TTree":  # an RNTuple, ...: read in full
        return None
    chunk, _ = key.get_uncompressed_chunk_cursor()
    raw = chunk.raw_data
    try:
        count, version = struct.unpack_from(">IH", raw, 0)
        if not count & _BYTECOUNT or not 16 <= version <= 20:
            return None
        pos = 6
        for _ in range(4):  # TNamed, TAttLine, TAttFill, TAttMarker
            (count,) = struct.unpack_from(">I", raw, pos)
            if not count & _BYTECOUNT:
                return None
            pos += 4 + (count & ~_BYTECOUNT)
        (entries,) = struct.unpack_from(">q", raw, pos)
    except struct.error:
        return None
    return int(entries) if entries >= 0 else None


def _open(
    dataset: str, path: str, treename: str, timeout: float = 30.0, *, branches: bool = True
) -> _Opened:
    """Open ``path``'s tree; its branch names too if ``branches``, else only its entry count."""
    local = "://" not in path
    problem = local_file_problem(path) if local else None
    if problem:
        raise InputFileError(path, problem, dataset=dataset)
    names: set[str] | None = None
    try:
        with uproot.open(path, **({} if local else {"timeout": timeout})) as f:
            if treename not in f:
                keys = sorted({k.split(";")[0] for k in f.keys(recursive=False)})
                raise InputFileError(
                    path, f"has no tree {treename!r} (it has {keys})", dataset=dataset
                )
            entries = None if branches else _header_entries(f, treename)
            if entries is None:
                tree = f[treename]
                names = set(tree.keys()) if branches else None
                entries = int(tree.num_entries)
            uuid = bytes(f.file.fUUID)
    except InputFileError:
        raise
    except Exception as e:
        problem = None if local else _remote_problem(e, timeout)
        if problem is not None:
            raise InputFileError(path, problem, dataset=dataset) from None
        raise InputFileError(
            path,
            f"cannot be read as a ROOT file ({type(e).__name__}: {_one_line(e)}); "
            "is it truncated or corrupt?",
            dataset=dataset,
        ) from None
    return _Opened(entries, Path(path).stat().st_size if local else None, uuid, names)


class _RunNanoAOD(NanoAODSchema):  # type: ignore[misc]
    """coffea's NanoAOD schema; a missing event ID is jetplug's per-chunk error."""

    error_missing_event_ids = False


class _RunPFNanoAOD(PFNanoAODSchema):  # type: ignore[misc]
    """coffea's PFNano schema; a missing event ID is jetplug's per-chunk error."""

    error_missing_event_ids = False


#: The schemas runs build events with: coffea's, except that a file without an
#: event-ID branch is not an exception coffea retries four times and then
#: aborts the run with, without naming the file, but a failed chunk naming it
#: (:func:`check_event_ids`, called by the processor).
RUN_SCHEMAS: dict[str, type[NanoAODSchema]] = {"pfnano": _RunPFNanoAOD, "nanoaod": _RunNanoAOD}


def _event_ids() -> tuple[str, ...]:
    """Branches coffea's NanoAOD schemas (``nanoaod``, ``pfnano``) refuse to read a file without."""
    return tuple(NanoAODSchema.event_ids) if NanoAODSchema.error_missing_event_ids else ()


def check_event_ids(dataset: str, path: str, branches: set[str]) -> None:
    """Raise :class:`InputFileError` naming the file if it lacks an event-ID branch.

    Preflight checks a dataset's first file; the processor checks every chunk
    (its events are built by :data:`RUN_SCHEMAS`, which leave the check to it) so
    that a later file without them fails its own chunks, named, not the run.
    """
    missing = [b for b in _event_ids() if b not in branches]
    if missing:
        what = f"branch {missing[0]!r}" if len(missing) == 1 else f"branches {missing}"
        raise InputFileError(
            path,
            f"has no {what}, which coffea's NanoAOD schema needs to identify events "
            f"({', '.join(_event_ids())}); is it a NanoAOD file?",
            dataset=dataset,
        )


def _open_all(config: RunConfig) -> dict[tuple[str, str], _Opened]:
    """Open every file, several at once; the first failure in fileset order raises.

    A dataset's first file of each tree name is read in full (its branches
    are checked); the others only as far as their number of entries.
    """
    trees = {
        (d.name, path): d.tree(path, config.treename) for d in config.fileset for path in d.files
    }
    files = list(trees)
    for dataset, path in files:
        if "://" in path:
            _check_protocol(dataset, path)
    sampled: set[tuple[str, str]] = set()
    full = set()
    for (dataset, path), tree in trees.items():
        if (dataset, tree) not in sampled:
            sampled.add((dataset, tree))
            full.add((dataset, path))
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, min(_OPEN_THREADS, len(files))), thread_name_prefix="jetplug-preflight"
    ) as pool:
        futures = {
            key: pool.submit(_open, *key, trees[key], config.timeout, branches=key in full)
            for key in files
        }
        return {key: future.result() for key, future in futures.items()}


def _require(consumer: str, fld: str, branches: set[str], provided: Provided, path: str) -> None:
    """Raise :class:`MissingInputError` unless ``fld`` is a branch or a plugin output."""
    head, _, rest = fld.partition(".")
    if rest and (provided.has(head, rest) or _branch_of(fld) in branches):
        return
    if not rest and (fld in branches or (fld[:1] == "n" and provided.has(fld[1:], COLLECTION))):
        return
    hint = ""
    if rest:
        available = {b.split("_", 1)[1] for b in branches if b.startswith(f"{head}_")}
        available |= set(provided.fields_of(head))
        if not available:  # no such collection at all: name the ones like it
            collections = {b.split("_", 1)[0] for b in branches if "_" in b}
            collections |= set(provided.collections())
            collections -= {c for c in collections if c[:1] == "n" and c[1:] in collections}
            like = closest(head, collections) + sorted(
                (c for c in collections if head.lower() in c.lower()), key=lambda c: (len(c), c)
            )
            some = ", ".join(repr(c) for c in list(dict.fromkeys(like))[:6]) or "none"
            hint = f"(the file has no collection {head!r}; collections like it: {some})"
    else:
        available = {b for b in branches if "_" not in b}
    raise MissingInputError(
        consumer=consumer, field=fld, path=path, available=sorted(available), hint=hint
    )


def _lists(branches: set[str], provided: Provided) -> set[str]:
    """Collections with a list of objects per event (NanoAOD counters, created collections)."""
    return {b[1:] for b in branches if b.startswith("n")} | set(provided.collections())


def _check_histograms(config: RunConfig, branches: set[str], provided: Provided, path: str) -> None:
    lists = _lists(branches, provided)
    for h in config.histograms:
        fields = h.fields()
        heads = {f.split(".")[0] for f in fields if "." in f} & lists
        if len(heads) > 1:  # event-level records (PuppiMET.pt) broadcast; lists cannot
            msg = (
                f"histograms.{h.name}: fields come from several collections {sorted(heads)}; "
                "a histogram fills one entry per object of a single collection"
            )
            raise ConfigError(msg, source=config.source)
        for fld in fields:
            _require(f"histogram {h.name!r}", fld, branches, provided, path)
            head, _, rest = fld.partition(".")
            scalars = provided.not_scalar.get((head, rest))
            if scalars is not None:
                some = ", ".join(f"{head}.{s}" for s in scalars[:6]) or "none"
                msg = (
                    f"histograms.{h.name}: {fld!r} holds several numbers per {head} (a plugin's "
                    f"vector output or its record of outputs); an axis, cut or weight takes one "
                    f"number per object: name one of its columns ({some})"
                )
                raise ConfigError(msg, source=config.source)


def _check_skims(config: RunConfig, branches: set[str], provided: Provided, path: str) -> None:
    """Skim fields exist (or are plugin outputs); cuts and event fields fit the collection."""
    lists = _lists(branches, provided)
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


def check_branches(
    config: RunConfig,
    plans: Sequence[Plan],
    derivations: DerivationRegistry,
    dataset: str,
    path: str,
    branches: set[str],
) -> None:
    """Raise the first error a file with ``branches`` gives the run (event IDs, fields)."""
    check_event_ids(dataset, path, branches)
    provided = Provided()
    for plan in plans:
        plan.check_file(branches, provided, derivations, path)
        provided.add(plan)
    _check_histograms(config, branches, provided, path)
    _check_skims(config, branches, provided, path)


def preflight(
    config: RunConfig, specs: Sequence[ModelSpec], derivations: DerivationRegistry
) -> Preflight:
    """Open every file once and check what the run will read (see the module's docstring).

    ``specs`` are the plugins as run, in execution order.
    """
    plans = [Plan(s) for s in specs]
    opened = _open_all(config)
    result = Preflight()
    first: dict[bytes, tuple[str, str]] = {}  # ROOT UUID -> (dataset, path) listing it first
    for dataset in config.fileset:
        for path in dataset.files:
            o = opened[dataset.name, path]
            if o.uuid.strip(b"\0") and o.entries:
                _refuse_copy(first.setdefault(o.uuid, (dataset.name, path)), dataset.name, path, o)
            if o.branches is not None:
                check_branches(config, plans, derivations, dataset.name, path, o.branches)
                result.sampled.append((dataset.name, path))
            result.files.append(FileInfo(dataset.name, path, o.entries, o.size))
            tree = dataset.tree(path, config.treename)
            meta = {**dataset.metadata, "numentries": o.entries, "uuid": o.uuid}
            result.metadata[dataset.name, path, tree] = meta
    return result


def _refuse_copy(first: tuple[str, str], dataset: str, path: str, opened: _Opened) -> None:
    """Refuse ``path`` when a file listed before it has its ROOT UUID (a copy of it)."""
    if first == (dataset, path):
        return
    where = f"dataset {first[0]!r}" if first[0] != dataset else "this dataset"
    msg = (
        f"is the same ROOT file as {first[1]} ({where}): both have UUID "
        f"{opened.uuid.hex()}, so its {opened.entries} events would be processed twice; "
        "list the file once"
    )
    raise InputFileError(path, msg, dataset=dataset)


def check_files(
    config: RunConfig, specs: Sequence[ModelSpec], derivations: DerivationRegistry
) -> list[FileInfo]:
    """:func:`preflight`'s files: every file opened, each dataset's branches checked."""
    return preflight(config, specs, derivations).files
