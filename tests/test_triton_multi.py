"""Several real Triton servers behind one run (``url: [A, B]``), A SIGKILLed mid-run; no mocks.

The kill is deterministic: every client the backend builds for server A is
wrapped so that A's ``KILL_AT``-th inference request SIGKILLs the server
just before it is sent (requests other threads have in flight on A at that
moment lose their connection). The run must complete with the histograms
of a local run, every chunk processed, and the rows served split between
both servers in provenance (``rows_remote@<url>``), with or without
``fallback: local``: the surviving server takes the load. Under the futures
executor (worker processes), a thread kills A once its statistics show it
has run rows.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from jetplug import PluginHost
from jetplug.backends.triton import TritonBackend
from jetplug.config import parse_config
from jetplug.runner import run
from jetplug.triton import ExportSettings, TritonServer, export_repository

pytestmark = pytest.mark.triton

PLUGINS = ("top_bdt", "top_mlp")  # xgboost and TorchScript on the python backend
KILL_AT = 8  # server A's 8th request kills it: about the third of eight chunks


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("multi_repository")
    export_repository(PluginHost(), list(PLUGINS), repo, ExportSettings(max_batch_size=64))
    return repo


@pytest.fixture
def two_servers(repository: Path, tmp_path: Path) -> Iterator[tuple[TritonServer, TritonServer]]:
    """Two tritonservers on 127.0.0.1 serving the same repository (started in parallel)."""
    servers = (
        TritonServer(repository, log_path=tmp_path / "a.log"),
        TritonServer(repository, log_path=tmp_path / "b.log"),
    )
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda s: s.start(), servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


class _Client:
    """A tritonclient client whose ``infer`` counts requests and may kill the server first."""

    def __init__(self, client: Any, killer: _Killer, url: str) -> None:
        self._client, self._killer, self._url = client, killer, url

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def infer(self, *args: Any, **kwargs: Any) -> Any:
        self._killer.seen(self._url)
        return self._client.infer(*args, **kwargs)


class _Killer:
    """Counts inference requests per URL; the victim's ``at``-th request SIGKILLs it."""

    def __init__(self, victim: TritonServer, at: int) -> None:
        self.victim, self.url, self.at = victim, victim.grpc_url, at
        self.calls: dict[str, int] = {}
        self.calls_at_kill: int | None = None
        self.stubs: list[Any] = []  # the victim's python-backend stub processes
        self._lock = threading.Lock()

    def seen(self, url: str) -> None:
        with self._lock:
            self.calls[url] = self.calls.get(url, 0) + 1
            if url == self.url and self.calls[url] == self.at:
                self.calls_at_kill = sum(self.calls.values())
                assert self.victim.pid is not None
                self.stubs = psutil.Process(self.victim.pid).children(recursive=True)
                self.victim.kill()  # SIGKILL, then wait until the process is gone

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = TritonBackend._new_client

        def new_client(backend: TritonBackend, url: str, network_timeout: float) -> Any:
            return _Client(original(backend, url, network_timeout), self, url)

        monkeypatch.setattr(TritonBackend, "_new_client", new_client)


def _config(tmp_path: Path, data: Path, options: dict[str, Any] | None) -> Any:
    plugins: list[Any] = list(PLUGINS)
    if options is not None:
        plugins = [{"name": n, "backend": "triton", "backend_options": options} for n in PLUGINS]
    return parse_config(
        {
            "fileset": {"tt": [str(data / "nano_tt_v15.root")]},
            "schema": "nanoaod",
            "chunksize": 25,  # 200 events: 8 chunks
            "plugins": plugins,
            "histograms": {
                n: {"axes": [{"field": f"FatJet.{n}.score", "bins": 40, "start": 0, "stop": 1}]}
                for n in PLUGINS
            },
        },
        base=tmp_path,
    )


@pytest.mark.parametrize("fallback", ["none", "local"])
def test_one_of_two_servers_killed_mid_run(
    two_servers: tuple[TritonServer, TritonServer],
    real_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fallback: str,
) -> None:
    a, b = two_servers
    local = run(_config(tmp_path, real_data, None), tmp_path / "local", plots=False)
    killer = _Killer(a, KILL_AT)
    killer.install(monkeypatch)
    options = {
        "url": [a.grpc_url, b.grpc_url],
        "max_batch_size": 2,  # about four requests per chunk and plugin
        "in_flight": 4,
        "backoff_s": 0.01,
        "fallback": fallback,
    }
    remote = run(_config(tmp_path, real_data, options), tmp_path / "remote", plots=False)

    # A was killed mid-run, and B went on serving after it
    assert killer.calls_at_kill is not None and not a.is_running() and b.is_running()
    assert sum(killer.calls.values()) - killer.calls_at_kill >= 8, killer.calls
    # its python-backend stubs died with it (they used to outlive a killed server)
    assert killer.stubs and not [p.pid for p in killer.stubs if p.is_running()]
    # every chunk processed, the same histograms as in-process
    assert remote.failed == []
    assert len(remote.chunks) == len(local.chunks) == 8
    assert remote.events == local.events == 200
    for name in PLUGINS:
        np.testing.assert_array_equal(
            remote.hists["tt"][name].values(flow=True), local.hists["tt"][name].values(flow=True)
        )
    prov = json.loads((tmp_path / "remote" / "provenance.json").read_text())
    assert prov["complete"] is True
    by_server = dict.fromkeys((a.grpc_url, b.grpc_url), 0)
    for entry in prov["plugins"]:
        backend = entry["backend"]
        jets = int(local.hists["tt"][entry["name"]].sum(flow=True))
        # no row lost or counted twice; the survivor took the load, not the fallback
        assert backend["rows_remote"] + backend["rows_fallback"] == jets == 64
        assert backend["rows_fallback"] == 0, backend
        per_url = {u: backend.get(f"rows_remote@{u}", 0) for u in by_server}
        assert sum(per_url.values()) == backend["rows_remote"], backend
        for url, rows in per_url.items():
            by_server[url] += rows
        assert backend["urls"] == [a.grpc_url, b.grpc_url]
        assert {s["url"] for s in backend["served"]} <= set(by_server)
    assert all(rows > 0 for rows in by_server.values()), by_server  # both servers were used


def _served_rows(client: Any) -> int:
    """Rows a server has run for :data:`PLUGINS` (its statistics)."""
    stats = client.get_inference_statistics("", as_json=True, client_timeout=2)["model_stats"]
    return sum(int(s.get("inference_count", 0)) for s in stats if s["name"] in PLUGINS)


def test_one_of_two_servers_killed_under_worker_processes(
    two_servers: tuple[TritonServer, TritonServer], real_data: Path, tmp_path: Path
) -> None:
    """The same with the futures executor: a thread SIGKILLs A once its statistics show rows."""
    a, b = two_servers
    local = run(_config(tmp_path, real_data, None), tmp_path / "local", plots=False)
    running = threading.Event()
    killed: list[int] = []  # rows A had run when it was killed, while the run was going

    def kill_when_busy() -> None:
        import tritonclient.grpc as grpcclient

        client = grpcclient.InferenceServerClient(a.grpc_url)
        try:
            while running.is_set():
                rows = _served_rows(client)
                if rows >= 10:
                    a.kill()
                    killed.append(rows)
                    return
                time.sleep(0.02)
        finally:
            client.close()

    options = {"url": [a.grpc_url, b.grpc_url], "max_batch_size": 2, "backoff_s": 0.01}
    running.set()
    killer = threading.Thread(target=kill_when_busy, daemon=True)
    killer.start()
    try:
        remote = run(
            _config(tmp_path, real_data, options),
            tmp_path / "remote",
            executor="futures",
            workers=2,
            plots=False,
        )
    finally:
        running.clear()
        killer.join(10)
    assert killed and not a.is_running() and b.is_running(), "A was not killed during the run"
    assert remote.failed == [] and len(remote.chunks) == 8 and remote.events == 200
    for name in PLUGINS:
        np.testing.assert_array_equal(
            remote.hists["tt"][name].values(flow=True), local.hists["tt"][name].values(flow=True)
        )
    prov = json.loads((tmp_path / "remote" / "provenance.json").read_text())
    on_a = on_b = 0
    for entry in prov["plugins"]:
        backend = entry["backend"]
        assert backend["rows_remote"] == 64 and backend["rows_fallback"] == 0, backend
        on_a += backend.get(f"rows_remote@{a.grpc_url}", 0)
        on_b += backend.get(f"rows_remote@{b.grpc_url}", 0)
    assert on_a > 0 and on_b > 0 and on_a + on_b == 128  # both servers served rows
