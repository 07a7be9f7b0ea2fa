"""The chunk a plugin is running on, and reproducible random numbers per object.

A generative plugin (fast simulation, smearing, sampling) needs random numbers
that do not change when the same events are processed by another executor,
with another chunk size, or in another order. :class:`ObjectRandom` gives
each object its own counter-based stream, keyed by the plugin's seed, the
plugin name, the file and the object's entry number and index in the event:
the numbers an object gets depend on nothing else.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ChunkContext", "NoFileIdentityWarning", "ObjectRandom", "PartialChunkWarning"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise on uint64 (wrapping arithmetic)."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _key(*parts: object) -> np.uint64:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


@dataclass(frozen=True)
class ChunkContext:
    """Which events a chunk holds: dataset, file and entry range."""

    dataset: str | None = None
    file: str | None = None
    entrystart: int = 0
    entrystop: int = 0
    fileuuid: str | None = None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None, n_events: int) -> ChunkContext:
        """From coffea's ``events.metadata`` (entry range 0..n when absent)."""
        meta = dict(metadata or {})
        start = int(meta.get("entrystart", 0) or 0)
        stop = int(meta.get("entrystop", start + n_events) or start + n_events)
        uuid = meta.get("fileuuid")
        if isinstance(uuid, bytes | bytearray):
            uuid = uuid.hex()
        return cls(
            dataset=None if meta.get("dataset") is None else str(meta["dataset"]),
            file=None if meta.get("filename") is None else str(meta["filename"]),
            entrystart=start,
            entrystop=stop,
            fileuuid=None if uuid is None else str(uuid),
        )

    @classmethod
    def of(cls, events: Any, chunk: ChunkContext | None = None) -> ChunkContext:
        """``chunk`` if given, else the chunk ``events.metadata`` describes (coffea's keys)."""
        if chunk is not None:
            return chunk
        return cls.from_metadata(getattr(events, "metadata", None), len(events))

    @property
    def file_key(self) -> str:
        """What identifies the file in random streams: its ROOT UUID, else its name."""
        if self.fileuuid:
            return self.fileuuid
        return (self.file or "").replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def source(self) -> str | None:
        """``file [entries a-b)`` for error messages."""
        if self.file is None:
            return None
        return f"{self.file} [entries {self.entrystart}-{self.entrystop})"

    def where(self) -> dict[str, object]:
        """Keyword arguments for :func:`jetplug.errors.annotate`."""
        return {
            "dataset": self.dataset,
            "file": self.file,
            "entrystart": self.entrystart if self.file else None,
            "entrystop": self.entrystop if self.file else None,
        }


class NoFileIdentityWarning(UserWarning):
    """Per-object random numbers drawn for events that do not name their file."""


class PartialChunkWarning(UserWarning):
    """Per-object random numbers drawn for a selection or slice of a chunk.

    The events hold fewer entries than ``events.metadata`` says the chunk
    has (``events[mask]`` or ``events[a:b]`` of coffea's chunk), so objects
    are keyed by their position in the selection, not by their entry in the
    file: their numbers change with the selection and the chunk size.
    """


class ObjectRandom:
    """Random numbers per object, independent of chunking, executor and order.

    Parameters
    ----------
    seed, stream
        The plugin's seed (run config ``seed``) and name.
    file_key
        :attr:`ChunkContext.file_key`.
    entrystart, counts
        Entry number of the chunk's first event in the file, and the number
        of objects in each event: they give each object its entry and index.

    Each call of :meth:`uniform` / :meth:`normal` draws the next numbers of
    every object's stream, so a plugin that draws in a fixed order gets the
    same numbers for the same object whatever else is in the chunk.

    Events that do not say which file they come from (an empty ``file_key``:
    eager ``NanoEventsFactory`` events carry no ``filename``/``fileuuid``
    metadata) get streams keyed by entry alone, the same in every such file;
    the first draw warns (:class:`NoFileIdentityWarning`). ``entrystop``, when
    given, is where the chunk ends: events that are not ``entrystop -
    entrystart`` entries (a selection or slice of the chunk) are keyed by
    position, not entry, and the first draw warns (:class:`PartialChunkWarning`).
    """

    def __init__(
        self,
        seed: int,
        stream: str,
        file_key: str,
        entrystart: int,
        counts: np.ndarray,
        entrystop: int | None = None,
    ) -> None:
        self.seed = int(seed)
        self.stream = stream
        self.file_key = file_key
        self._start = int(entrystart)
        self._stop = None if entrystop is None else int(entrystop)
        self._counts = np.asarray(counts, dtype=np.int64)
        self._objects: np.ndarray | None = None  # built on first draw: free for plugins not drawing
        self._draws = 0

    def __len__(self) -> int:
        return int(self._counts.sum())

    def _keys(self) -> np.ndarray:
        if self._objects is None:
            if not self.file_key:
                warnings.warn(
                    f"{self.stream!r} draws per-object random numbers for events with no file "
                    "identity (no 'filename' or 'fileuuid' in events.metadata): they are keyed "
                    "by entry only and repeat in every such file; pass "
                    "NanoEventsFactory.from_root(..., metadata={'filename': PATH}) or run "
                    "through coffea's Runner",
                    NoFileIdentityWarning,
                    stacklevel=2,
                )
            n_events = len(self._counts)
            if self._stop is not None and self._stop - self._start != n_events:
                warnings.warn(
                    f"{self.stream!r} draws per-object random numbers for {n_events} events, "
                    f"but events.metadata says the chunk holds entries [{self._start}, "
                    f"{self._stop}): the events are a selection or slice of the chunk, so "
                    "objects are keyed by position, not by entry, and their numbers change "
                    "with the selection and the chunk size; apply the plugins to the whole "
                    "chunk before selecting (or pass chunk=ChunkContext(...) for events[a:b])",
                    PartialChunkWarning,
                    stacklevel=2,
                )
            entry = np.repeat(np.arange(self._start, self._start + n_events), self._counts)
            offsets = np.repeat(np.cumsum(self._counts) - self._counts, self._counts)
            index = np.arange(len(entry)) - offsets
            base = _key(self.seed, self.stream, self.file_key)
            entry_u, index_u = entry.astype(np.uint64), index.astype(np.uint64)
            self._objects = _mix(_mix(entry_u ^ base) + index_u * _GOLDEN)
        return self._objects

    def _bits(self, k: int) -> np.ndarray:
        draws = np.arange(self._draws, self._draws + k, dtype=np.uint64)
        self._draws += k
        return _mix(self._keys()[:, None] + _mix(draws + _GOLDEN)[None, :])

    def uniform(self, k: int | None = None) -> np.ndarray:
        """Uniform numbers in (0, 1): shape ``(n,)``, or ``(n, k)`` if ``k`` is given."""
        bits = self._bits(1 if k is None else k)
        u = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
        return u[:, 0] if k is None else u

    def normal(self, k: int | None = None) -> np.ndarray:
        """Standard normal numbers (Box–Muller): shape ``(n,)`` or ``(n, k)``."""
        u = self.uniform(2 * (1 if k is None else k))
        half = u.shape[1] // 2
        z: np.ndarray = np.sqrt(-2.0 * np.log(u[:, :half])) * np.cos(2.0 * np.pi * u[:, half:])
        return z[:, 0] if k is None else z

    def generator(self, *chunk: object) -> np.random.Generator:
        """A numpy generator for this plugin and ``chunk`` (e.g. the entry range).

        Reproducible for the same chunk, but not independent of the chunk
        size: prefer :meth:`uniform` / :meth:`normal` for per-object numbers.
        """
        return np.random.default_rng(int(_key(self.seed, self.stream, self.file_key, *chunk)))
