"""Threads: counters kept per thread, and calls bounded in time.

:class:`PerThread` holds what the chunk a thread is processing counted.

A chunk runs in one thread from start to end (coffea's executors call
``process`` once per chunk, in one thread), but a Dask worker with several
threads runs several chunks of one plugin chain at once. Counters shared by
the process (objects with non-finite inputs, rows a Triton fallback served)
would then be read and reset by one chunk while another adds to them, and the
per-chunk records (and lost increments, the run's totals) would be wrong.
Each thread has its own :class:`PerThread` value instead.

:func:`call_within` waits for a call that may never return (a Dask scheduler
or worker that accepted a connection and went silent) for a bounded time, in
a daemon thread that cannot keep the process alive afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["NoAnswer", "PerThread", "call_within"]

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


class NoAnswer(Exception):
    """:func:`call_within`'s call had not returned when its time was up."""


def call_within(function: Callable[[], T], seconds: float, name: str) -> T:
    """``function()``, waited for at most ``seconds`` in a daemon thread named ``name``.

    Its result or its own exception, as it is; :class:`NoAnswer` if it has not
    returned by then (the thread is left to end on its own).
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as e:  # handed to the caller
            outcome["error"] = e

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        msg = f"{name}: no answer within {seconds:g} s"
        raise NoAnswer(msg)
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value
