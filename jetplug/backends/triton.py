"""Remote inference on NVIDIA Triton Inference Servers (``tritonclient``, gRPC or HTTP).

Compared with CMS SONIC and ``coffea.ml_tools.triton_wrapper``, this client:

* checks, before sending anything to a server (once per server and process),
  the plugin's tensors against the model's metadata and configuration
  (names, dtypes, shapes, max batch size) and that the model holds the
  plugin's artifact (sha256 and plugin version from ``config.pbtxt``), and
  fails with one clear error on a mismatch (:mod:`.triton_identity`); what
  the servers said is recorded in provenance;
* splits a chunk into requests of at most the server's ``max_batch_size``
  rows, without padding;
* keeps ``in_flight`` requests in flight (a thread pool; one client per
  thread and server, built lazily, so nothing unpicklable travels to workers);
* retries only transient failures (unavailable, deadline exceeded,
  connection refused/reset/closed mid-request, HTTP 502/503/504) with
  bounded exponential backoff and jitter, in seconds, in a loop; bad input
  fails at once (:mod:`.triton_faults`);
* bounds every call: ``connect_timeout_s`` for the model check (and for
  connecting over HTTP), ``timeout_s`` for an inference request;
* keeps a circuit breaker per server and balances requests over several
  servers (fewest requests in flight among the servers whose breaker is
  closed); a request that fails transiently on one server (killed,
  unreachable, overloaded) goes at once to another it has not tried, and
  backs off only when every server failed it; rows served are counted per
  server (``rows_remote@<url>`` in provenance);
* optionally falls back to the local backend when every server stays down,
  and reports how many rows (objects) it served locally (recorded in
  provenance and printed by ``jetplug run``);
* remembers that every server failed: for ``server_retry_s`` seconds the
  backend instance goes straight to the fallback (or fails at once) rather
  than waiting for the same timeouts in every chunk;
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
from ..perthread import PerThread
from ..registry import BackendRegistry
from ..spec import TRITON_DATATYPES, ModelSpec
from .base import Backend
from .triton_faults import Breaker, DownMemory, error_text, is_transient, wrong_protocol
from .triton_identity import ServedModel, parse_urls, served_model

__all__ = ["ServerUnavailableError", "TritonBackend", "TritonMismatchError"]


@dataclass
class _Server:
    url: str
    breaker: Breaker
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
        Option(
            "check_artifact",
            "bool",
            True,
            "refuse a served model whose artifact sha256 or plugin version is not the plugin's",
        ),
        Option("in_flight", "int", 4, "requests kept in flight per process"),
        Option("max_batch_size", "int", None, "rows per request (default: the server's)"),
        Option("timeout_s", "float", 30.0, "timeout of one inference request, in seconds"),
        Option(
            "connect_timeout_s",
            "float",
            5.0,
            "timeout of the model check (and, over HTTP, of connecting), in seconds",
        ),
        Option("retries", "int", 4, "retries of a transient failure"),
        Option("backoff_s", "float", 0.1, "first retry delay in seconds (doubles, with jitter)"),
        Option("backoff_max_s", "float", 5.0, "longest retry delay in seconds"),
        Option("breaker_failures", "int", 5, "consecutive failures that open a server's breaker"),
        Option("breaker_reset_s", "float", 30.0, "seconds before an open breaker probes again"),
        Option("fallback", "str", "none", "run locally when no server answers", ("none", "local")),
        Option(
            "server_retry_s",
            "float",
            60.0,
            "after every server failed: seconds before trying them again "
            "(meanwhile the fallback runs, or requests fail at once; 0: every chunk tries)",
        ),
        Option("tls", "dict", {}, "``root_certificates``, ``private_key``, ``certificate_chain``"),
        Option("headers", "dict", {}, "extra request headers"),
        Option("token_env", "str", None, "environment variable holding a bearer token"),
    )

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        o = self.options
        self.urls = parse_urls(o["url"])
        self.protocol = str(o["protocol"])
        self.in_flight = int(o["in_flight"])
        self.timeout_s = float(o["timeout_s"])
        self.connect_timeout_s = float(o["connect_timeout_s"])
        self.retries = int(o["retries"])
        self.backoff_s = float(o["backoff_s"])
        self.backoff_max_s = float(o["backoff_max_s"])
        self.fallback = str(o["fallback"])
        self._servers = [
            _Server(u, Breaker(int(o["breaker_failures"]), float(o["breaker_reset_s"])))
            for u in self.urls
        ]
        self._down = DownMemory(float(o["server_retry_s"]))
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._checked: dict[str, tuple[str, int]] = {}
        self._served: dict[tuple[str, str], ServedModel] = {}
        self._fallback_backend: Backend | None = None
        self._rows: PerThread[dict[str, int]] = PerThread(dict)  # this thread's chunk's
        self._clients: list[Any] = []
        _LIVE.add(self)

    def reads_artifact(self, spec: ModelSpec) -> bool:
        """The server holds the model; the local file is read only as the fallback."""
        del spec
        return self.fallback == "local"

    # -- pickling: clients, pools, locks and what was checked are rebuilt in each process ------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("_local", "_lock", "_pool", "_fallback_backend", "_clients"):
            state.pop(key, None)
        state["_servers"] = [
            _Server(s.url, Breaker(s.breaker.threshold, s.breaker.reset_s)) for s in self._servers
        ]
        state["_checked"], state["_served"] = {}, {}
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

    def _new_client(self, url: str, network_timeout: float) -> Any:
        """A client for ``url``; over HTTP, every call of it times out after ``network_timeout``."""
        tls = dict(self.options["tls"])
        if self.protocol == "grpc":
            import tritonclient.grpc as grpcclient

            return grpcclient.InferenceServerClient(
                url,
                ssl=bool(tls),
                root_certificates=tls.get("root_certificates"),
                private_key=tls.get("private_key"),
                certificate_chain=tls.get("certificate_chain"),
            )
        import tritonclient.http as httpclient

        ssl_options = {}
        if tls.get("root_certificates"):
            ssl_options["ca_certs"] = tls["root_certificates"]
        if tls.get("certificate_chain"):
            ssl_options["certfile"] = tls["certificate_chain"]
        if tls.get("private_key"):
            ssl_options["keyfile"] = tls["private_key"]
        return httpclient.InferenceServerClient(
            url,
            ssl=bool(tls),
            ssl_options=ssl_options or None,
            connection_timeout=self.connect_timeout_s,
            network_timeout=network_timeout,
        )

    def _client(self, url: str) -> Any:
        clients = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        client = clients.get(url)
        if client is None:
            client = clients[url] = self._new_client(url, self.timeout_s)
            self._clients.append(client)
        return client

    def _module(self) -> Any:
        if self.protocol == "grpc":
            import tritonclient.grpc as module
        else:
            import tritonclient.http as module
        return module

    # -- model check: tensors and artifact, once per server and process ---------------------
    def _model(self, spec: ModelSpec) -> tuple[str, str]:
        return str(self.options["model_name"] or spec.name), str(self.options["model_version"])

    def _ask(
        self, url: str, name: str, version: str, *, fresh: bool = False
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The model's metadata and configuration as JSON, within ``connect_timeout_s``.

        Over gRPC the client kept for ``url``'s requests asks, unless
        ``fresh``; otherwise a short-lived client (closed afterwards) does.
        """
        headers = self._headers()
        kwargs: dict[str, Any] = {"headers": headers}
        if self.protocol == "grpc":
            kwargs.update(as_json=True, client_timeout=self.connect_timeout_s)
            if not fresh:
                client = self._client(url)
                return (
                    client.get_model_metadata(name, version, **kwargs),
                    client.get_model_config(name, version, **kwargs),
                )
        client = self._new_client(url, self.connect_timeout_s)  # short-lived: a short timeout
        try:
            return (
                client.get_model_metadata(name, version, **kwargs),
                client.get_model_config(name, version, **kwargs),
            )
        finally:
            with contextlib.suppress(Exception):
                client.close()

    def _served_by(self, spec: ModelSpec, url: str, *, fresh: bool = False) -> ServedModel:
        """What ``url`` serves for ``spec``, checked (not cached).

        Transient failures propagate as they are; anything else is a
        :class:`TritonMismatchError` naming the plugin, the server and the model.
        """
        name, version = self._model(spec)
        self._headers()  # a missing token is the configuration's fault, not the server's
        try:
            meta, config = self._ask(url, name, version, fresh=fresh)
        except Exception as e:
            hint = wrong_protocol(e, self.protocol, url, self.connect_timeout_s)
            if is_transient(e) and not hint:
                raise
            text = f"{error_text(e)}{hint}"
            msg = f"plugin {spec.name!r}: server {url} cannot serve model {name!r}: {text}"
            raise TritonMismatchError(msg) from e
        return served_model(
            spec,
            url,
            name,
            version,
            meta,
            config,
            check_artifact=bool(self.options["check_artifact"]),
        )

    def _verify(self, spec: ModelSpec, server: _Server) -> ServedModel:
        """What ``server`` serves for ``spec``, checked (cached per server and process).

        Transient failures propagate as they are (the caller retries or moves
        on); anything else is a :class:`TritonMismatchError`.
        """
        key = (spec.name, server.url)
        served = self._served.get(key)
        if served is not None:
            return served
        served = self._served_by(spec, server.url)
        with self._lock:
            self._served[key] = served
        return served

    def preflight(self, spec: ModelSpec) -> None:
        """Before any chunk runs: refuse a server whose model is not ``spec``'s.

        Every server is asked once, with a short-lived client; the chunks check
        each server again before their first request to it (a server may be
        swapped mid-run). A model that differs (tensors, artifact sha256,
        plugin version), is missing, or a server that speaks another protocol
        raises :class:`TritonMismatchError`. A server that does not answer
        (down, overloaded, starting) is left to the chunks, which retry it or
        fall back; when none answers, that is remembered as a chunk's failure
        would be (``server_retry_s``), so the run does not wait for the same
        timeouts again. Servers are asked side by side: one that never answers
        costs one ``connect_timeout_s``. Anything else (a token only the
        workers have) is left to the chunks.
        """

        def ask(url: str) -> BaseException | None:
            try:
                self._served_by(spec, url, fresh=True)
            except Exception as e:  # sorted below: a mismatch refuses, an outage is remembered
                return e
            return None

        with concurrent.futures.ThreadPoolExecutor(len(self._servers)) as pool:
            answers = list(pool.map(ask, [server.url for server in self._servers]))
        for answer in answers:
            if isinstance(answer, TritonMismatchError):
                raise answer
        if all(a is not None and is_transient(a) for a in answers):
            self._down.mark(error_text(answers[-1]))

    def _raise_if_down(self, spec: ModelSpec) -> None:
        if self._down.remaining() > 0:
            msg = f"plugin {spec.name!r}: every Triton server ({self.urls}) {self._down.describe()}"
            raise ServerUnavailableError(msg)

    def check(self, spec: ModelSpec) -> tuple[str, int]:
        """Check ``spec`` against the first server that answers: (served version, batch size).

        Raises :class:`TritonMismatchError` when the server's model is not
        the plugin's (tensors, artifact sha256, plugin version) and
        :class:`ServerUnavailableError` when no server answers (or every
        server failed less than ``server_retry_s`` ago).
        """
        if spec.name in self._checked:
            return self._checked[spec.name]
        self._raise_if_down(spec)
        last: BaseException | None = None
        for server in self._servers:
            if not server.breaker.available():
                continue
            try:
                served = self._verify(spec, server)
            except BackendError:  # a mismatch, or a bad configuration
                raise
            except Exception as e:
                server.breaker.failure()
                last = e
                continue
            wanted = int(self.options["max_batch_size"] or served.max_batch_size)
            result = (served.model_version, min(wanted, served.max_batch_size))
            self._checked[spec.name] = result
            return result
        msg = f"plugin {spec.name!r}: no Triton server reachable at {self.urls}: {error_text(last)}"
        self._down.mark(error_text(last))
        raise ServerUnavailableError(msg) from last

    # -- inference ----------------------------------------------------------------------------
    def _untried(self, failed: set[str]) -> bool:
        """Whether a server whose breaker lets requests through has not failed this request."""
        return any(s.url not in failed and s.breaker.available() for s in self._servers)

    def _pick(self, avoid: set[str] | frozenset[str] = frozenset()) -> _Server | None:
        """The least-loaded server whose breaker is closed, preferring those not in ``avoid``.

        ``None`` when every breaker is open.
        """
        with self._lock:
            candidates = [s for s in self._servers if s.breaker.available()]
            if not candidates:
                return None
            candidates = [s for s in candidates if s.url not in avoid] or candidates
            server = min(candidates, key=lambda s: (s.in_flight, random.random()))
            server.in_flight += 1
            return server

    def _release(self, server: _Server) -> None:
        with self._lock:
            server.in_flight -= 1

    def _request(
        self, spec: ModelSpec, tensors: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], str]:
        """One request of at most max-batch-size rows: the outputs and the URL that served them.

        A transient failure moves the request at once to a server that has
        not failed it yet (least loaded first); once every available server
        failed it, the request backs off and starts another round, at most
        ``retries`` times. Only then (or when every breaker is open) is every
        server remembered as down (``server_retry_s``).
        """
        module = self._module()
        name, version = self._model(spec)
        n = len(next(iter(tensors.values())))
        inputs = []
        for t in spec.tensors_in:
            data = np.ascontiguousarray(tensors[t.name], dtype=t.dtype)
            if not t.shape:
                data = data.reshape(-1, 1)
            inp = module.InferInput(t.name, list(data.shape), TRITON_DATATYPES[t.dtype])
            inp.set_data_from_numpy(data)
            inputs.append(inp)
        outputs = [module.InferRequestedOutput(t.name) for t in spec.tensors_out]
        kwargs: dict[str, Any] = {"headers": self._headers()}
        if self.protocol == "grpc":
            kwargs["client_timeout"] = self.timeout_s
        last: BaseException | None = None
        failed: set[str] = set()  # servers that failed this request in this round
        attempt = 0
        while True:
            if self._down.remaining() > 0:  # another request found every server down
                self._raise_if_down(spec)
            server = self._pick(avoid=failed)
            if server is None:
                break
            try:
                served = self._verify(spec, server)  # before the first request to this server
                if n > served.max_batch_size:
                    msg = (
                        f"plugin {spec.name!r}: server {server.url} takes at most "
                        f"{served.max_batch_size} rows per request, not {n} "
                        "(set backend option max_batch_size)"
                    )
                    raise TritonMismatchError(msg)
                result = self._client(server.url).infer(
                    name, inputs, model_version=version, outputs=outputs, **kwargs
                )
            except BackendError:
                raise
            except Exception as e:
                if not is_transient(e):
                    msg = (
                        f"plugin {spec.name!r}: server {server.url} rejected the request: "
                        f"{error_text(e)}"
                    )
                    raise BackendError(msg) from e
                server.breaker.failure()
                last = e
                failed.add(server.url)
                if self._untried(failed):
                    continue  # fail over at once: another server has not failed this request
                if attempt >= self.retries:
                    break
                delay = min(self.backoff_max_s, self.backoff_s * 2**attempt)
                time.sleep(delay * random.uniform(0.5, 1.5))
                attempt += 1
                failed.clear()  # a new round: every server may be tried again
                continue
            finally:
                self._release(server)
            server.breaker.success()
            answer = {
                t.name: np.asarray(result.as_numpy(t.name), dtype=t.dtype).reshape((n, *t.shape))
                for t in spec.tensors_out
            }
            return answer, server.url
        msg = f"plugin {spec.name!r}: no Triton server answered ({self.urls}): {error_text(last)}"
        self._down.mark(error_text(last))
        raise ServerUnavailableError(msg) from last

    def _run_part(
        self, spec: ModelSpec, part: Mapping[str, np.ndarray], local: Callable[[], Backend] | None
    ) -> tuple[dict[str, np.ndarray], str | None]:
        """Outputs of one part and the URL that served it (``None``: the local fallback)."""
        try:
            return self._request(spec, part)
        except ServerUnavailableError:
            if local is None:
                raise
            return local().infer(spec, part), None

    def infer(self, spec: ModelSpec, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Split into ≤ max-batch-size requests, run them ``in_flight`` at a time, reassemble.

        With ``fallback: local``, rows no server answered run in-process and
        are counted (:meth:`report`); after every server failed, whole chunks
        do so for ``server_retry_s`` seconds without contacting the servers.
        """
        n = len(next(iter(tensors.values())))
        if n == 0:
            return {t.name: np.zeros((0, *t.shape), dtype=t.dtype) for t in spec.tensors_out}
        local = self._local_factory(spec) if self.fallback == "local" else None
        try:
            _, batch = self.check(spec)
            self._raise_if_down(spec)
        except ServerUnavailableError:
            if local is None:
                raise
            self._count("rows_fallback", n)
            return local().infer(spec, tensors)
        starts = range(0, n, batch)
        parts = [{k: v[s : s + batch] for k, v in tensors.items()} for s in starts]
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.in_flight)
        results = list(self._pool.map(lambda p: self._run_part(spec, p, local), parts))
        for part, (_, url) in zip(parts, results, strict=True):
            rows = len(next(iter(part.values())))
            for key in ("rows_fallback",) if url is None else ("rows_remote", f"rows_remote@{url}"):
                self._count(key, rows)
        return {
            t.name: np.concatenate([r[t.name] for r, _ in results], axis=0)
            for t in spec.tensors_out
        }

    def _local_factory(self, spec: ModelSpec) -> Callable[[], Backend]:
        def make() -> Backend:
            with self._lock:
                if self._fallback_backend is None:
                    from ..host import PluginHost

                    self._fallback_backend = PluginHost().create_backend(spec, "local")
                return self._fallback_backend

        return make

    def report(self) -> dict[str, int]:
        """Rows (objects) served remotely and by the local fallback since the last report.

        ``rows_remote@<url>`` (only for servers that served rows) splits
        ``rows_remote`` per server. The counters (this thread's: one chunk's on
        a multi-threaded worker) are reset; the run sums them per plugin.
        """
        rows = self._rows.take()
        return {"rows_remote": 0, "rows_fallback": 0, **rows}

    def _count(self, key: str, rows: int) -> None:
        counts = self._rows.get()
        counts[key] = counts.get(key, 0) + rows

    def describe(self, spec: ModelSpec) -> dict[str, Any]:
        """Backend, protocol, server URLs, model name, served version and what servers said.

        ``served`` lists, per server checked in this process, the model name
        and version it serves, the sha256 of the plugin artifact it holds and
        of the file it loads, and the plugin version (``config.pbtxt``
        parameters). ``rows_remote`` and ``rows_fallback`` start at 0; the
        run adds what the chunks reported (and ``rows_remote@<url>`` per
        server that served rows).
        """
        name, version = self._model(spec)
        info: dict[str, Any] = {
            "backend": self.name,
            "protocol": self.protocol,
            "urls": list(self.urls),
            "model_name": name,
            "model_version": version or "latest",
            "in_flight": self.in_flight,
            "fallback": self.fallback,
            "rows_remote": 0,
            "rows_fallback": 0,
        }
        try:
            served, batch = self.check(spec)
            info.update(model_version=served, max_batch_size=batch)
        except BackendError as e:
            info["error"] = str(e)
        info["served"] = [
            s.record() for (plugin, _), s in sorted(self._served.items()) if plugin == spec.name
        ]
        return info


@hookimpl
def jetplug_register_backends(registry: BackendRegistry) -> None:
    """Register the Triton backend."""
    registry.add(TritonBackend)
