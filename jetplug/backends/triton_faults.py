"""Fault handling of the Triton backend: which failures are transient, breakers, memory.

* :func:`is_transient` says whether a failure may pass by itself (retried,
  and served by the local fallback once the retries are spent) or is the
  request's fault (raised at once). A server that is down, overloaded, slow,
  or that closes the connection mid-request (killed, restarted, a proxy
  dropping it) is transient over gRPC and HTTP alike, and so is a model
  with no version loaded (a server stopping or starting unloads and loads
  its models: "unknown model ... has no available versions").
* :class:`Breaker` is one server's circuit breaker.
* :class:`DownMemory` remembers, per backend instance and process, that every
  server failed, so that the next chunks go straight to the fallback (or fail
  at once) instead of each waiting for the same timeouts; the servers are
  tried again after ``server_retry_s`` seconds.
"""

from __future__ import annotations

import http.client
import threading
import time
from typing import Any

__all__ = ["Breaker", "DownMemory", "error_text", "is_transient", "speaks_http", "wrong_protocol"]

_TRANSIENT_GRPC = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED")
_TRANSIENT_HTTP = ("502", "503", "504")
_TRANSIENT_TEXT = (
    "connection refused",
    "connection reset",
    "connection closed",
    "failed to connect",
    "timed out",
    "deadline",
    # a model unloaded while the server shuts down, or not yet loaded as it starts
    "has no available versions",
    "is not ready",
)


def _closed_connection(error: BaseException) -> bool:
    """An HTTP connection closed by the peer before its answer was complete."""
    if isinstance(error, http.client.IncompleteRead | http.client.RemoteDisconnected):
        return True
    try:
        from geventhttpclient.response import HTTPConnectionClosed
    except ImportError:  # pragma: no cover - tritonclient[http] always brings it
        return False
    return isinstance(error, HTTPConnectionClosed)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` may pass by itself (retry, then fall back) rather than be bad input."""
    from tritonclient.utils import InferenceServerException

    if isinstance(error, ConnectionError | TimeoutError | OSError) or _closed_connection(error):
        return True
    if isinstance(error, InferenceServerException):
        status = str(error.status() or "")
        message = str(error.message() or "").lower()
        if any(code in status for code in _TRANSIENT_GRPC) or status in _TRANSIENT_HTTP:
            return True
        return any(text in message for text in _TRANSIENT_TEXT)
    return False


def speaks_http(url: str, timeout_s: float) -> bool:
    """Whether ``host:port`` answers a plain HTTP/1.1 request (any status).

    A gRPC client connecting to a Triton HTTP port fails with ``UNAVAILABLE:
    Socket closed``, which reads as an outage; asked once on that failure, this
    tells a misconfigured ``protocol`` from a server that is down.
    """
    host, _, port = url.rpartition(":")
    if not port.isdigit():
        return False
    conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout_s)
    try:
        conn.request("GET", "/v2/health/live")
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    return True


def wrong_protocol(error: BaseException, protocol: str, url: str, timeout_s: float) -> str:
    """A hint when ``error`` came from a client speaking the other protocol than ``url``'s
    port, else ``""``.

    A gRPC client on an HTTP port fails transiently (``UNAVAILABLE: Socket
    closed``, read as an outage): the port is asked for HTTP once
    (:func:`speaks_http`). An HTTP client on a gRPC port gets "Expected HTTP/".
    """
    text = error_text(error)
    if is_transient(error):
        if protocol == "grpc" and "Socket closed" in text and speaks_http(url, timeout_s):
            return " (this port speaks HTTP: an HTTP port? set protocol: http)"
        return ""
    if "Expected HTTP/" in text:
        return " (this port does not speak HTTP: a gRPC port? set protocol: grpc)"
    return ""


def error_text(error: BaseException | None) -> str:
    """One line for an error (tritonclient's message when it has one)."""
    if error is None:
        return "no server available (circuit breakers open)"
    message = getattr(error, "message", None)
    text = message() if callable(message) else str(error)
    return " ".join(str(text).split()) or type(error).__name__


class Breaker:
    """Open after ``threshold`` consecutive failures; half-open again after ``reset_s``."""

    def __init__(self, threshold: int, reset_s: float) -> None:
        self.threshold = threshold
        self.reset_s = reset_s
        self.failures = 0
        self.opened_at: float | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "reset_s": self.reset_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["threshold"], state["reset_s"])  # type: ignore[misc]

    def available(self) -> bool:
        """Closed, or open for ``reset_s`` already (then one probe goes through)."""
        with self._lock:
            if self.opened_at is None:
                return True
            return time.monotonic() - self.opened_at >= self.reset_s

    def success(self) -> None:
        """The server answered: close the breaker."""
        with self._lock:
            self.failures = 0
            self.opened_at = None

    def failure(self) -> None:
        """The server failed (transiently): open after ``threshold`` in a row."""
        with self._lock:
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = time.monotonic()


class DownMemory:
    """When every server last failed, and why; forgotten after ``retry_s`` seconds.

    ``retry_s`` 0 remembers nothing (every chunk tries the servers again).
    Pickled empty: a worker process finds out for itself.
    """

    def __init__(self, retry_s: float) -> None:
        self.retry_s = retry_s
        self.since: float | None = None
        self.reason = ""
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"retry_s": self.retry_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["retry_s"])  # type: ignore[misc]

    def remaining(self) -> float:
        """Seconds until the servers may be tried again (0: try them now)."""
        with self._lock:
            if self.since is None:
                return 0.0
            left = self.since + self.retry_s - time.monotonic()
            if left <= 0:
                self.since = None
                return 0.0
            return left

    def mark(self, reason: str) -> None:
        """Every server failed: remember it (an earlier, still-remembered failure stays)."""
        if self.retry_s <= 0 or self.remaining() > 0:
            return
        with self._lock:
            self.since = time.monotonic()
            self.reason = reason

    def describe(self) -> str:
        """``failed N s ago (reason); not tried again for M s``, for error messages."""
        left = self.remaining()
        with self._lock:
            ago = 0.0 if self.since is None else time.monotonic() - self.since
            reason = self.reason
        return (
            f"failed {ago:.1f} s ago ({reason}); not tried again for {left:.1f} s "
            "(backend option server_retry_s)"
        )
