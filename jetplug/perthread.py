"""Counters kept per thread: what the chunk a thread is processing counted.

A chunk runs in one thread from start to end (coffea's executors call
``process`` once per chunk, in one thread), but a Dask worker with several
threads runs several chunks of one plugin chain at once. Counters shared by
the process (objects with non-finite inputs, rows a Triton fallback served)
would then be read and reset by one chunk while another adds to them, and the
per-chunk records (and lost increments, the run's totals) would be wrong.
Each thread has its own :class:`PerThread` value instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["PerThread"]

T = TypeVar("T")


class PerThread(Generic[T]):
    """One value of ``factory()`` per thread: :meth:`get` it, :meth:`take` it (and start anew)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._local = threading.local()

    def get(self) -> T:
        """This thread's value (made on first use)."""
        try:
            value: T = self._local.value
        except AttributeError:
            value = self._local.value = self._factory()
        return value

    def take(self) -> T:
        """This thread's value; the thread starts a new one."""
        value = self.get()
        self._local.value = self._factory()
        return value

    def __getstate__(self) -> dict[str, object]:  # thread-locals do not pickle
        return {"_factory": self._factory}

    def __setstate__(self, state: dict[str, object]) -> None:
        self._factory = state["_factory"]  # type: ignore[assignment]
        self._local = threading.local()
