"""Remote inference on NVIDIA Triton Inference Servers (``tritonclient``, gRPC or HTTP).

Compared with CMS SONIC and ``coffea.ml_tools.triton_wrapper``, this client:

* checks the plugin's tensors against the server's model metadata and
  configuration before sending anything (names, dtypes, shapes, max batch
  size) and fails with one clear error on a mismatch;
* splits a chunk into requests of at most the server's ``max_batch_size``
  rows, without padding;
* keeps ``in_flight`` requests in flight (a thread pool; one client per
  thread and server, built lazily, so nothing unpicklable travels to workers);
* retries only transient failures (unavailable, deadline exceeded,
  connection refused/reset, HTTP 502/503/504) with bounded exponential
  backoff and jitter, in seconds, in a loop; bad input fails at once;
* keeps a circuit breaker per server and balances requests over several
  servers (fewest requests in flight among the servers whose breaker is
  closed);
* optionally falls back to the local backend when every server stays down,
  and reports how many rows it served locally (recorded in provenance);
* supports TLS (root certificates, client certificate and key) and headers,
  e.g. a bearer token read from an environment variable.

Options (``backend_options`` in the run config) are declared in
:attr:`TritonBackend.options_spec` and listed in ``docs/serving.md``.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import BackendError, ServerUnavailableError, TritonMismatchError
from ..hookspecs import hookimpl
from ..options import Option
from ..registry import BackendRegistry
from ..spec import TRITON_DATATYPES, ModelSpec, TensorSpec
from .base import Backend

__all__ = ["ServerUnavailableError", "TritonBackend", "TritonMismatchError"]

_TRANSIENT_GRPC = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED")
_TRANSIENT_HTTP = ("502", "503", "504")


def _is_transient(error: BaseException) -> bool:
    from tritonclient.utils import InferenceServerException

    if isinstance(error, ConnectionError | TimeoutError | OSError):
        return True
    if isinstance(error, InferenceServerException):
        status = str(error.status() or "")
        message = str(error.message() or "").lower()
        if any(code in status for code in _TRANSIENT_GRPC) or status in _TRANSIENT_HTTP:
            return True
        return any(
            text in message
            for text in (
                "connection refused",
                "connection reset",
                "failed to connect",
                "timed out",
                "deadline",
            )
        )
    return False


class _Breaker:
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
        with self._lock:
            if self.opened_at is None:
                return True
            return time.monotonic() - self.opened_at >= self.reset_s  # half-open: one probe

    def success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = time.monotonic()


@dataclass
class _Server:
    url: str
    breaker: _Breaker
    in_flight: int = 0


_LIVE: weakref.WeakSet[TritonBackend] = weakref.WeakSet()


@atexit.register
def _close_live_backends() -> None:
    """Close clients while the interpreter is still whole (gRPC channels complain later)."""
    for backend in list(_LIVE):
        backend.close()


class TritonBackend(Backend):
    """Inference on one or more Triton servers (see the module docstring for options)."""

    name: ClassVar[str] = "triton"
    formats: ClassVar[tuple[str, ...]] = ()
    options_spec: ClassVar[tuple[Option, ...]] = (
        Option("url", "any", "127.0.0.1:8001", "server ``host:port``, or a list of them"),
        Option("protocol", "str", "grpc", "transport", choices=("grpc", "http")),
        Option("model_name", "str", None, "served model name (default: the plugin name)"),
        Option("model_version", "str", "", "served model version (default: latest)"),
        Option("in_flight", "int", 4, "requests kept in flight per process"),
        Option("max_batch_size", "int", None, "rows per request (default: the server's)"),
        Option("timeout_s", "float", 30.0, "per-request timeout in seconds"),
        Option("retries", "int", 4, "retries of a transient failure"),
        Option("backoff_s", "float", 0.1, "first retry delay in seconds (doubles, with jitter)"),
        Option("backoff_max_s", "float", 5.0, "longest retry delay in seconds"),
        Option("breaker_failures", "int", 5, "consecutive failures that open a server's breaker"),
        Option("breaker_reset_s", "float", 30.0, "seconds before an open breaker probes again"),
        Option("fallback", "str", "none", "run locally when no server answers", ("none", "local")),
        Option("tls", "dict", {}, "``root_certificates``, ``private_key``, ``certificate_chain``"),
        Option("headers", "dict", {}, "extra request headers"),
        Option("token_env", "str", None, "environment variable holding a bearer token"),
    )

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        o = self.options
        urls = o["url"]
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            msg = "backend 'triton' needs at least one url"
            raise BackendError(msg)
        self.protocol = str(o["protocol"])
        self.in_flight = int(o["in_flight"])
        self.timeout_s = float(o["timeout_s"])
        self.retries = int(o["retries"])
        self.backoff_s = float(o["backoff_s"])
        self.backoff_max_s = float(o["backoff_max_s"])
        self.fallback = str(o["fallback"])
        self._servers = [
            _Server(u, _Breaker(int(o["breaker_failures"]), float(o["breaker_reset_s"])))
            for u in self.urls
        ]
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._checked: dict[str, tuple[str, int]] = {}
        self._fallback_backend: Backend | None = None
        self.rows_remote = 0
        self.rows_fallback = 0
        self._clients: list[Any] = []
        _LIVE.add(self)

    def reads_artifact(self, spec: ModelSpec) -> bool:
        """The server holds the model; the local file is read only as the fallback."""
        del spec
        return self.fallback == "local"

    # -- pickling: clients, pools and locks are rebuilt lazily in each process ----------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("_local", "_lock", "_pool", "_fallback_backend", "_clients"):
            state.pop(key, None)
        state["_servers"] = [
            _Server(s.url, _Breaker(s.breaker.threshold, s.breaker.reset_s)) for s in self._servers
        ]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pool = None
        self._fallback_backend = None
        self._clients = []
        _LIVE.add(self)

    def close(self) -> None:
        """Close every client and the request pool (also run at interpreter exit)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        while self._clients:
            client = self._clients.pop()
            with contextlib.suppress(Exception):
                client.close()
        self._local = threading.local()

    # -- clients ----------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {str(k).lower(): str(v) for k, v in dict(self.options["headers"]).items()}
        token_env = self.options["token_env"]
        if token_env:
            token = os.environ.get(str(token_env))
            if not token:
                msg = f"backend 'triton': bearer-token variable {token_env!r} is not set"
                raise BackendError(msg)
            headers["authorization"] = f"Bearer {token}"  # gRPC metadata keys are lowercase
        return headers

    def _client(self, url: str) -> Any:
        clients = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        client = clients.get(url)
        if client is None:
            tls = dict(self.options["tls"])
            if self.protocol == "grpc":
                import tritonclient.grpc as grpcclient

                client = grpcclient.InferenceServerClient(
                    url,
                    ssl=bool(tls),
                    root_certificates=tls.get("root_certificates"),
                    private_key=tls.get("private_key"),
                    certificate_chain=tls.get("certificate_chain"),
                )
            else:
                import tritonclient.http as httpclient

                ssl_options = {}
                if tls.get("root_certificates"):
                    ssl_options["ca_certs"] = tls["root_certificates"]
                if tls.get("certificate_chain"):
                    ssl_options["certfile"] = tls["certificate_chain"]
                if tls.get("private_key"):
                    ssl_options["keyfile"] = tls["private_key"]
                client = httpclient.InferenceServerClient(
                    url,
                    ssl=bool(tls),
                    ssl_options=ssl_options or None,
                    connection_timeout=self.timeout_s,
                    network_timeout=self.timeout_s,
                )
            clients[url] = client
            self._clients.append(client)
        return client

    def _module(self) -> Any:
        if self.protocol == "grpc":
            import tritonclient.grpc as module
        else:
            import tritonclient.http as module
        return module

    # -- metadata check --------------------------------------------------------------------
    def _model(self, spec: ModelSpec) -> tuple[str, str]:
        return str(self.options["model_name"] or spec.name), str(self.options["model_version"])

    def check(self, spec: ModelSpec) -> tuple[str, int]:
        """Validate ``spec`` against the server; returns (served version, max batch size)."""
        if spec.name in self._checked:
            return self._checked[spec.name]
        name, version = self._model(spec)
        server = self._servers[0]
        last: BaseException | None = None
        for server in self._servers:
            try:
                client = self._client(server.url)
                meta = client.get_model_metadata(
                    name, version, headers=self._headers(), **self._as_json()
                )
                config = client.get_model_config(
                    name, version, headers=self._headers(), **self._as_json()
                )
                break
            except Exception as e:
                if not _is_transient(e):
                    msg = (
                        f"plugin {spec.name!r}: server {server.url} cannot serve "
                        f"model {name!r}: {_text(e)}"
                    )
                    raise TritonMismatchError(msg) from e
                last = e
        else:
            msg = f"plugin {spec.name!r}: no Triton server reachable at {self.urls}: {_text(last)}"
            raise ServerUnavailableError(msg) from last
        config = config.get("config", config)
        served_max = int(config.get("max_batch_size", 0))
        problems = _compare(spec.tensors_in, meta.get("inputs", []), served_max, "input")
        problems += _compare(spec.tensors_out, meta.get("outputs", []), served_max, "output")
        if served_max < 1:
            problems.append("the served model has max_batch_size 0 (no batching)")
        if problems:
            msg = (
                f"plugin {spec.name!r} does not match model {name!r} on {server.url}: "
                + "; ".join(problems)
            )
            raise TritonMismatchError(msg)
        versions = meta.get("versions") or [version or "?"]
        wanted = int(self.options["max_batch_size"] or served_max)
        result = (
            str(version or max(versions, key=lambda v: int(v) if str(v).isdigit() else -1)),
            min(wanted, served_max),
        )
        self._checked[spec.name] = result
        return result

    def _as_json(self) -> dict[str, Any]:
        return {"as_json": True} if self.protocol == "grpc" else {}

    # -- inference ----------------------------------------------------------------------------
    def _pick(self) -> _Server | None:
        with self._lock:
            candidates = [s for s in self._servers if s.breaker.available()]
            if not candidates:
                return None
            server = min(candidates, key=lambda s: (s.in_flight, random.random()))
            server.in_flight += 1
            return server

    def _release(self, server: _Server) -> None:
        with self._lock:
            server.in_flight -= 1

    def _request(self, spec: ModelSpec, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        module = self._module()
        name, version = self._model(spec)
        inputs = []
        for t in spec.tensors_in:
            data = np.ascontiguousarray(tensors[t.name], dtype=t.dtype)
            if not t.shape:
                data = data.reshape(-1, 1)
            inp = module.InferInput(t.name, list(data.shape), TRITON_DATATYPES[t.dtype])
            inp.set_data_from_numpy(data)
            inputs.append(inp)
        outputs = [module.InferRequestedOutput(t.name) for t in spec.tensors_out]
        last: BaseException | None = None
        for attempt in range(self.retries + 1):
            server = self._pick()
            if server is None:
                break
            try:
                kwargs: dict[str, Any] = {"headers": self._headers()}
                if self.protocol == "grpc":
                    kwargs["client_timeout"] = self.timeout_s
                result = self._client(server.url).infer(
                    name, inputs, model_version=version, outputs=outputs, **kwargs
                )
            except Exception as e:
                if not _is_transient(e):
                    msg = (
                        f"plugin {spec.name!r}: server {server.url} rejected the request: "
                        f"{_text(e)}"
                    )
                    raise BackendError(msg) from e
                server.breaker.failure()
                last = e
                delay = min(self.backoff_max_s, self.backoff_s * 2**attempt)
                time.sleep(delay * random.uniform(0.5, 1.5))
                continue
            finally:
                self._release(server)
            server.breaker.success()
            n = len(next(iter(tensors.values())))
            return {
                t.name: np.asarray(result.as_numpy(t.name), dtype=t.dtype).reshape((n, *t.shape))
                for t in spec.tensors_out
            }
        msg = f"plugin {spec.name!r}: no Triton server answered ({self.urls}): {_text(last)}"
        raise ServerUnavailableError(msg) from last

    def _run_part(
        self, spec: ModelSpec, part: Mapping[str, np.ndarray], local: Callable[[], Backend] | None
    ) -> tuple[dict[str, np.ndarray], bool]:
        try:
            return self._request(spec, part), False
        except ServerUnavailableError:
            if local is None:
                raise
            return local().infer(spec, part), True

    def infer(self, spec: ModelSpec, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Split into ≤ max-batch-size requests, run them ``in_flight`` at a time, reassemble."""
        n = len(next(iter(tensors.values())))
        if n == 0:
            return {t.name: np.zeros((0, *t.shape), dtype=t.dtype) for t in spec.tensors_out}
        local = self._local_factory(spec) if self.fallback == "local" else None
        try:
            _, batch = self.check(spec)
        except ServerUnavailableError:
            if local is None:
                raise
            self.rows_fallback += n
            return local().infer(spec, tensors)
        starts = range(0, n, batch)
        parts = [{k: v[s : s + batch] for k, v in tensors.items()} for s in starts]
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.in_flight)
        results = list(self._pool.map(lambda p: self._run_part(spec, p, local), parts))
        for part, (_, fell_back) in zip(parts, results, strict=True):
            rows = len(next(iter(part.values())))
            if fell_back:
                self.rows_fallback += rows
            else:
                self.rows_remote += rows
        return {
            t.name: np.concatenate([r[t.name] for r, _ in results], axis=0)
            for t in spec.tensors_out
        }

    def _local_factory(self, spec: ModelSpec) -> Callable[[], Backend]:
        def make() -> Backend:
            if self._fallback_backend is None:
                from ..host import PluginHost

                self._fallback_backend = PluginHost().create_backend(spec, "local")
            return self._fallback_backend

        return make

    def report(self) -> dict[str, int]:
        """Rows served remotely and by the local fallback since the last report (then reset)."""
        out = {"rows_remote": self.rows_remote, "rows_fallback": self.rows_fallback}
        self.rows_remote = self.rows_fallback = 0
        return out

    def describe(self, spec: ModelSpec) -> dict[str, Any]:
        """Backend, protocol, server URLs, model name and served version."""
        name, version = self._model(spec)
        info: dict[str, Any] = {
            "backend": self.name,
            "protocol": self.protocol,
            "urls": list(self.urls),
            "model_name": name,
            "model_version": version or "latest",
            "in_flight": self.in_flight,
            "fallback": self.fallback,
        }
        try:
            served, batch = self.check(spec)
            info.update(model_version=served, max_batch_size=batch)
        except BackendError as e:
            info["error"] = str(e)
        return info


def _text(error: BaseException | None) -> str:
    if error is None:
        return "no server available (circuit breakers open)"
    message = getattr(error, "message", None)
    text = message() if callable(message) else str(error)
    return " ".join(str(text).split())


def _compare(
    declared: tuple[TensorSpec, ...], served: list[dict[str, Any]], max_batch: int, kind: str
) -> list[str]:
    by_name = {t["name"]: t for t in served}
    problems = []
    for t in declared:
        got = by_name.get(t.name)
        if got is None:
            problems.append(f"{kind} {t.name!r} not served (server has {sorted(by_name)})")
            continue
        if got["datatype"] != TRITON_DATATYPES[t.dtype]:
            problems.append(
                f"{kind} {t.name!r} is {got['datatype']} on the server, {t.dtype} in the plugin"
            )
        shape = [int(d) for d in got["shape"]]
        expected = [-1, *(t.shape or (1,))] if max_batch > 0 else list(t.shape or (1,))
        if shape != expected:
            problems.append(
                f"{kind} {t.name!r} has shape {shape} on the server, expected {expected}"
            )
    return problems


@hookimpl
def jetplug_register_backends(registry: BackendRegistry) -> None:
    """Register the Triton backend."""
    registry.add(TritonBackend)
