"""A TCP proxy on 127.0.0.1 with injectable faults, for the Triton client's fault tests.

It stands in front of a real ``tritonserver`` (or of nothing) and, by mode:

* ``forward``: passes bytes both ways;
* ``cut``: passes everything until the client sends an HTTP inference
  request (``/infer`` in the bytes), then closes both sides without an
  answer, as a server that dies mid-request;
* ``hang``: accepts connections and reads them, never answers (a stuck
  server or a black-holing load balancer).

The mode is read per connection (``hang``) and per read (``cut``), so a test
may switch it while clients are connected; :meth:`drop` closes every open
connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

MODES = ("forward", "cut", "hang")


class FaultyProxy:
    """Listen on a free port of 127.0.0.1 and forward to ``upstream`` (``host:port``)."""

    def __init__(self, upstream: str | None = None, mode: str = "forward") -> None:
        if mode not in MODES:
            msg = f"mode {mode!r} unknown; use one of {MODES}"
            raise ValueError(msg)
        self.upstream = upstream
        self.mode = mode
        self.accepted = 0
        """Connections accepted so far."""
        self.cut = 0
        """Inference requests dropped (``cut`` mode)."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.append(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            self.accepted += 1
            self._keep(client)
            if self.mode == "hang" or self.upstream is None:
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            host, port = self.upstream.rsplit(":", 1)
            try:
                server = socket.create_connection((host, int(port)))
            except OSError:
                _close(client)
                continue
            self._keep(server)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    @staticmethod
    def _swallow(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while data := src.recv(65536):
                if from_client and self.mode == "cut" and b"/infer" in data:
                    self.cut += 1
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)

    def drop(self) -> None:
        """Close every open connection (the listener stays)."""
        with self._lock:
            socks, self._open = self._open, []
        for sock in socks:
            _close(sock)

    def close(self) -> None:
        """Stop listening and close every connection."""
        _close(self._listener)
        self.drop()

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
