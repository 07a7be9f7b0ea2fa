"""A futures executor whose run survives a worker process dying.

coffea's :class:`~coffea.processor.FuturesExecutor` runs chunks in a process
pool; when one worker dies (out of memory, a segfault in a model) the pool
breaks, every pending chunk fails with ``BrokenProcessPool`` and the run is
lost, with no word of which chunk did it. Dask recomputes such chunks on
another worker; :class:`ResilientFuturesExecutor` does the same:

* each worker marks, in a scratch folder, the chunk it is running, so after a
  break the chunks that were *running* (the suspects) are known; chunks that
  were only queued are resubmitted to a fresh pool as they are;
* suspects are rerun one at a time in a fresh pool, so a chunk that kills its
  worker again is known for certain. Such a chunk is tried up to
  ``1 + worker_retries`` times on its own (an out-of-memory kill may have been
  caused by its neighbours); after that it is handed to ``on_lost``, which
  returns the output to record for it (jetplug's runner records a failed chunk
  naming dataset, file and entry range), and the run goes on;
* every finished chunk's output is kept.

loky, coffea's default pool, also replaces a worker whose memory grew more
than 300 MB past its size after its first chunk, taking the growth for a
leak. A torch model's worker grows that much without leaking (glibc keeps
the heap of the largest chunk so far: ``part`` on 1,000-event chunks settles
about 0.8 GB above its first chunk), and every replacement imports torch and
builds the models again, about 2 s a time. ``max_memory_growth`` raises that
limit (4 GB unless ``LOKY_MAX_MEMORY_LEAK_SIZE`` is set).

What happened is appended to ``deaths`` (a list shared by the executor's
copies, as coffea's ``Runner`` copies its executor before using it).
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import re
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coffea import processor
from coffea.util import rich_bar

__all__ = ["LostChunk", "ResilientFuturesExecutor", "describe_item"]

LOKY_GROWTH = "LOKY_MAX_MEMORY_LEAK_SIZE"
"""The environment variable loky's workers read their memory-growth limit from."""

LostChunk = Callable[[Any, str], Any]
"""``on_lost(item, reason)``: the output to accumulate for a chunk given up on."""


def describe_item(item: Any) -> dict[str, Any]:
    """Dataset, file and entry range of a coffea work item (file metadata: no range)."""
    out: dict[str, Any] = {
        "dataset": getattr(item, "dataset", None),
        "file": getattr(item, "filename", None),
    }
    if hasattr(item, "entrystart"):
        out["entrystart"] = int(item.entrystart)
        out["entrystop"] = int(item.entrystop)
    return out


@dataclass(frozen=True)
class _Tracked:
    """Runs ``function`` in a worker, leaving a marker file while it runs."""

    function: Callable[[Any], Any]
    markers: str

    def __call__(self, key: int, item: Any) -> Any:
        marker = Path(self.markers, str(key))
        marker.touch()
        try:
            return self.function(item)
        finally:  # not reached when the worker dies: the marker stays
            marker.unlink(missing_ok=True)


def _death_reason(error: BaseException) -> str:
    """``worker died (exit code ...)`` from loky's or concurrent.futures' error."""
    codes = re.search(r"exit codes? of the workers? (?:are|is) (\{[^}]*\}|\S+)", str(error))
    if codes:
        return f"worker died (exit code {codes.group(1).strip('{}')})"
    if type(error).__name__ == "TerminatedWorkerError":
        return "worker died"
    return f"worker died or the pool broke ({type(error).__name__}: {' '.join(str(error).split())})"


class _PoolBroke(Exception):
    """The pool broke: the indices whose work was lost and why."""

    def __init__(self, lost: list[int], reason: str, *, alone: bool = False) -> None:
        super().__init__(reason)
        self.lost = lost
        self.reason = reason
        self.alone = alone


@dataclass
class ResilientFuturesExecutor(processor.FuturesExecutor):  # type: ignore[misc]
    """:class:`~coffea.processor.FuturesExecutor` that recovers from a worker dying.

    Parameters, besides the base class's (``workers``, ``status``, ``pool``;
    results are merged in the main process, so ``merging``, ``mergepool``,
    ``recoverable`` and ``compression`` are not used):

    worker_retries
        How many more times a chunk that killed its worker, run on its own, is
        tried before it is given up on.
    on_lost
        ``on_lost(item, reason)`` gives the output to record for a chunk given
        up on; ``None``: raise a :class:`RuntimeError` naming it instead.
    deaths
        Filled with one record per chunk that was running when a worker died:
        ``{dataset, file, entrystart, entrystop, lost, killed_worker, outcome}``
        (``lost``: runs of it lost with a pool; ``killed_worker``: runs of it
        alone that ended with its worker dying; ``outcome``: ``recovered`` or
        ``failed``), and one ``{"pool_broke": reason, "chunks_lost": n}`` per
        broken pool (``n`` chunks, running or queued, were lost with it).
    max_memory_growth
        Bytes a loky worker may grow past its size after its first chunk
        before loky replaces it as leaking (loky's own default: 300 MB);
        ``LOKY_MAX_MEMORY_LEAK_SIZE`` in the environment takes precedence.
        Only for loky pools (the default).
    """

    worker_retries: int = 1
    on_lost: LostChunk | None = None
    deaths: list[dict[str, Any]] = field(default_factory=list)
    max_memory_growth: int = 4_000_000_000

    def _new_pool(self) -> concurrent.futures.Executor:
        pool = self.pool
        target = pool.func if isinstance(pool, functools.partial) else pool
        if getattr(target, "__module__", "").startswith("loky") and LOKY_GROWTH not in os.environ:
            given = pool.keywords.get("env") if isinstance(pool, functools.partial) else None
            env = {LOKY_GROWTH: str(self.max_memory_growth), **(given or {})}
            return pool(max_workers=self.workers, env=env)  # type: ignore[no-any-return]
        return pool(max_workers=self.workers)  # type: ignore[no-any-return]

    def __call__(
        self, items: Iterable[Any], function: Callable[[Any], Any], accumulator: Any
    ) -> Any:
        """Run ``function`` on every item; return ``(accumulated output, 0)``."""
        work = list(items)
        if not work:
            return accumulator
        if isinstance(self.pool, concurrent.futures.Executor):
            msg = "ResilientFuturesExecutor needs a pool class: it makes a new pool after a break"
            raise TypeError(msg)
        run = _Run(self, work, accumulator)
        with tempfile.TemporaryDirectory(prefix="jetplug-workers-") as markers:
            tracked = _Tracked(function, markers)
            with rich_bar() as progress:
                task = progress.add_task(
                    self.desc, total=len(work), unit=self.unit, disable=not self.status
                )
                run.advance = lambda: progress.update(task, advance=1, refresh=True)
                while run.suspects or run.pending:
                    pool = self._new_pool()
                    try:
                        run.isolated(pool, tracked)
                        run.parallel(pool, tracked)
                    except _PoolBroke as broke:
                        run.broke(broke, Path(markers))
                    finally:
                        _shutdown(pool)
        return run.out, 0


def _shutdown(pool: concurrent.futures.Executor) -> None:
    try:
        pool.shutdown(wait=True, kill_workers=True)  # type: ignore[call-arg]  # loky
    except TypeError:
        pool.shutdown(wait=True, cancel_futures=True)


class _Run:
    """The state of one :class:`ResilientFuturesExecutor` call."""

    def __init__(self, exe: ResilientFuturesExecutor, work: Sequence[Any], out: Any) -> None:
        self.exe = exe
        self.work = work
        self.out = out
        self.pending: deque[int] = deque(range(len(work)))
        self.suspects: deque[int] = deque()
        self.lost = [0] * len(work)  # runs lost with a broken pool (while running)
        self.killed = [0] * len(work)  # runs alone that ended with the worker dying
        self.finished = 0
        self.given_up: list[str] = []
        self.advance: Callable[[], None] = lambda: None

    def _merge(self, result: Any) -> None:
        self.out = processor.accumulate([result], self.out)
        self.advance()

    def _record(self, i: int, outcome: str) -> None:
        self.exe.deaths.append(
            {
                **describe_item(self.work[i]),
                "lost": self.lost[i],
                "killed_worker": self.killed[i],
                "outcome": outcome,
            }
        )

    def _done(self, i: int, result: Any) -> None:
        self.finished += 1
        self._merge(result)
        if self.lost[i]:
            self._record(i, "recovered")

    def isolated(self, pool: concurrent.futures.Executor, tracked: _Tracked) -> None:
        """Run the suspects one at a time: a death names its chunk for certain."""
        while self.suspects:
            i = self.suspects[0]
            try:
                result = pool.submit(tracked, i, self.work[i]).result()
            except concurrent.futures.BrokenExecutor as e:
                reason = _death_reason(e)
                self.lost[i] += 1
                self.killed[i] += 1
                if self.killed[i] > self.exe.worker_retries:
                    self.suspects.popleft()
                    self._give_up(i, reason)
                raise _PoolBroke([i], reason, alone=True) from None
            self.suspects.popleft()
            self._done(i, result)

    def _give_up(self, i: int, reason: str) -> None:
        tries = self.killed[i]
        times = "when it ran" if tries == 1 else f"each of the {tries} times it ran"
        why = f"{reason} {times} on its own (out of memory, or a crash in a model?)"
        self._record(i, "failed")
        where = ", ".join(f"{k} {v}" for k, v in describe_item(self.work[i]).items())
        self.given_up.append(f"{where}: {why}")
        if self.exe.on_lost is None:
            raise RuntimeError(self.given_up[-1])
        if not self.finished and len(self.given_up) >= max(3, self.exe.workers + 1):
            msg = (
                f"worker processes die on every chunk: {len(self.given_up)} chunks killed "
                f"their worker and none has finished (first: {self.given_up[0]})"
            )
            raise RuntimeError(msg)
        self._merge(self.exe.on_lost(self.work[i], why))

    def parallel(self, pool: concurrent.futures.Executor, tracked: _Tracked) -> None:
        """Run the pending chunks on the whole pool; a break raises :class:`_PoolBroke`."""
        futures: dict[concurrent.futures.Future[Any], int] = {}
        lost: list[int] = []  # submitted, lost with the pool
        reason = ""
        queue = list(self.pending)
        self.pending.clear()
        for n, i in enumerate(queue):
            try:
                futures[pool.submit(tracked, i, self.work[i])] = i
            except concurrent.futures.BrokenExecutor as e:  # broke while submitting
                lost, reason = queue[n:], _death_reason(e)
                break
        try:
            while futures:
                done, _ = concurrent.futures.wait(
                    futures, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    i = futures.pop(future)
                    error = future.exception()
                    if error is None:
                        self._done(i, future.result())
                    elif isinstance(error, concurrent.futures.BrokenExecutor):
                        lost.append(i)
                        reason = reason or _death_reason(error)
                    else:
                        raise error
        finally:
            for future in futures:
                future.cancel()
        if lost:
            raise _PoolBroke(lost, reason)

    def broke(self, broke: _PoolBroke, markers: Path) -> None:
        """After a break: running chunks become suspects, queued ones are resubmitted."""
        running = {int(p.name) for p in markers.iterdir()}
        for p in markers.iterdir():
            p.unlink()
        self.exe.deaths.append({"pool_broke": broke.reason, "chunks_lost": len(broke.lost)})
        if broke.alone:  # a suspect run alone: already counted and requeued or given up on
            return
        if not running & set(broke.lost):
            running = set(broke.lost)  # cannot tell which ran: try each alone
        for i in sorted(broke.lost):
            if i in running:
                self.lost[i] += 1
                self.suspects.append(i)
            else:
                self.pending.append(i)
