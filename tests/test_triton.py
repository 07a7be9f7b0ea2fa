"""A real tritonserver (bundled in nvidia-pytriton) serving the plugins; no mocks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory, PFNanoAODSchema

from jetplug import BackendError, PluginHost, Plugins
from jetplug.backends.triton import ServerUnavailableError, TritonBackend, TritonMismatchError
from jetplug.columns import gather_inputs
from jetplug.config import parse_config
from jetplug.runner import run
from jetplug.triton import ExportSettings, TritonServer, export_repository, free_port

from .helpers import copy_fatjets, corrupt_basket
from .tcp_proxy import FaultyProxy

pytestmark = pytest.mark.triton


@pytest.fixture(scope="session")
def chunk(real_data: Path) -> Any:
    return NanoEventsFactory.from_root(
        {str(real_data / "nano_tt_v15.root"): "Events"}, schemaclass=NanoAODSchema, mode="eager"
    ).events()


def _tensors(host: PluginHost, name: str, events: Any) -> tuple[Any, dict[str, np.ndarray]]:
    spec = host.spec(name)
    if spec.requires:  # a plugin reading another's output (example_decorrelator)
        events = Plugins(list(spec.requires), host=host)(events)
    inputs, _ = gather_inputs(events, spec, host.derivations)
    return spec, host.create_model(name).prepare(inputs)


def test_export_writes_a_standard_repository(tmp_path: Path) -> None:
    host = PluginHost()
    export_repository(host, ["top_bdt"], tmp_path, ExportSettings(max_batch_size=512, instances=2))
    text = (tmp_path / "top_bdt" / "config.pbtxt").read_text()
    assert 'backend: "python"' in text
    assert "max_batch_size: 512" in text
    assert 'name: "features"\n    data_type: TYPE_FP32\n    dims: [ 6 ]' in text
    assert 'name: "score"\n    data_type: TYPE_FP32\n    dims: [ 1 ]' in text
    assert "dynamic_batching {" in text and "count: 2" in text and "KIND_CPU" in text
    artifact = tmp_path / "top_bdt" / "1" / "top_bdt.ubj"
    assert artifact.read_bytes() == host.spec("top_bdt").artifact.path.read_bytes()
    assert (tmp_path / "top_bdt" / "1" / "model.py").is_file()
    assert host.spec("top_bdt").artifact.sha256 in text


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_golden_local_equals_triton_for_every_plugin(
    server: TritonServer,
    servable: list[str],
    protocol: str,
    real_data: Path,
    generated: dict[str, list[Path]],
) -> None:
    host = PluginHost()
    url = server.grpc_url if protocol == "grpc" else server.http_url
    remote = TritonBackend({"url": url, "protocol": protocol})
    assert {"top_bdt", "top_mlp", "top_cnn", "pfn", "part"} <= set(servable)
    decorrelators = {
        "tau21_ddt",
        "ddt_n2",
        "ddt_part_w",
        "adv_w",
        "adv_top",
        "disco_w",
        "disco_top",
    }
    assert decorrelators <= set(servable)
    assert {"dann_top", "sysadv_top"} <= set(servable)  # domain-adapted lambda scans
    assert {"jetclr", "jetclr_qcd"} <= set(servable)  # a vector output; an anomaly score on it
    assert "meta_w" in servable
    for path in (real_data / "pfnano.root", generated["ttbar"][0]):
        events = NanoEventsFactory.from_root(
            {str(path): "Events"},
            schemaclass=PFNanoAODSchema,
            mode="eager",
            metadata={"filename": str(path)},  # fastsim_gan draws per-object noise
        ).events()
        for name in servable:
            spec, tensors = _tensors(host, name, events)
            local = host.create_backend(spec, "local").infer(spec, tensors)
            served = remote.infer(spec, tensors)
            for key, value in local.items():
                assert served[key].shape == value.shape
                np.testing.assert_allclose(served[key], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_requests_are_split_without_padding(server: TritonServer, chunk: Any) -> None:
    import tritonclient.grpc as grpcclient

    host = PluginHost()
    spec, tensors = _tensors(host, "top_bdt", chunk)
    n = len(tensors["features"])
    client = grpcclient.InferenceServerClient(server.grpc_url)

    def counts() -> tuple[int, int]:
        stats = client.get_inference_statistics("top_bdt", as_json=True)["model_stats"][0]
        return int(stats.get("inference_count", 0)), int(
            stats["inference_stats"]["success"].get("count", 0)
        )

    rows0, requests0 = counts()
    out = TritonBackend({"url": server.grpc_url, "max_batch_size": 7, "in_flight": 3}).infer(
        spec, tensors
    )
    rows1, requests1 = counts()
    assert rows1 - rows0 == n  # every row sent once: no padding
    assert requests1 - requests0 == -(-n // 7)
    assert out["score"].shape == (n,)


def test_mismatch_is_detected_before_sending(server: TritonServer, chunk: Any) -> None:
    host = PluginHost()
    spec, tensors = _tensors(host, "top_bdt", chunk)
    backend = TritonBackend({"url": server.grpc_url, "model_name": "example_multiplicity"})
    with pytest.raises(
        TritonMismatchError,
        match=r"input 'features' has shape \[-1, 3\] on the server, expected \[-1, 6\]",
    ):
        backend.infer(spec, tensors)
    with pytest.raises(TritonMismatchError, match="cannot serve model 'nope'"):
        TritonBackend({"url": server.grpc_url, "model_name": "nope"}).infer(spec, tensors)
    # an HTTP client on the gRPC port: the message says so, not only "cannot serve"
    http_on_grpc = TritonBackend({"url": server.grpc_url, "protocol": "http"})
    with pytest.raises(TritonMismatchError, match=r"a gRPC port\? set protocol: grpc\)"):
        http_on_grpc.infer(spec, tensors)
    # same tensors, another plugin's model: refused by its artifact's sha256
    mlp = host.spec("top_mlp")
    assert (mlp.tensors_in, mlp.tensors_out) == (spec.tensors_in, spec.tensors_out)
    wrong = TritonBackend({"url": server.grpc_url, "model_name": "top_mlp"})
    with pytest.raises(TritonMismatchError, match=f"serves artifact sha256 {mlp.artifact.sha256}"):
        wrong.infer(spec, tensors)


def _impostor_repository(tmp_path: Path, name: str, impostor: str) -> Path:
    """A repository whose model ``name`` holds plugin ``impostor``'s artifact."""
    repo = tmp_path / "repo"
    export_repository(PluginHost(), [impostor], repo)
    (repo / impostor).rename(repo / name)
    config = repo / name / "config.pbtxt"
    config.write_text(config.read_text().replace(f'name: "{impostor}"', f'name: "{name}"'))
    return repo


def test_a_model_holding_another_plugins_artifact_is_refused(tmp_path: Path) -> None:
    import tritonclient.grpc as grpcclient

    host = PluginHost()
    spec, bdt = host.spec("top_mlp"), host.spec("top_bdt")
    assert (spec.tensors_in, spec.tensors_out) == (bdt.tensors_in, bdt.tensors_out)
    repo = _impostor_repository(tmp_path, "top_mlp", "top_bdt")  # same tensors, other artifact
    x = {"features": np.random.default_rng(3).uniform(0.1, 1.0, (40, 6)).astype(np.float32)}
    with TritonServer(repo, log_path=tmp_path / "log") as srv:
        for protocol, url in (("grpc", srv.grpc_url), ("http", srv.http_url)):
            backend = TritonBackend({"url": url, "protocol": protocol, "fallback": "local"})
            with pytest.raises(TritonMismatchError) as info:
                backend.infer(spec, x)
            text = str(info.value)
            for part in (
                "plugin 'top_mlp'",
                url,
                "model 'top_mlp'",
                f"serves artifact sha256 {bdt.artifact.sha256}",
                f"the plugin's is {spec.artifact.sha256}",
            ):
                assert part in text, (part, text)
            assert backend.report() == {"rows_remote": 0, "rows_fallback": 0}
        stats = grpcclient.InferenceServerClient(srv.grpc_url).get_inference_statistics(
            "top_mlp", as_json=True
        )["model_stats"][0]
        assert int(stats.get("inference_count", 0)) == 0  # refused before sending anything


def test_down_server_retries_then_fails_or_falls_back(chunk: Any) -> None:
    host = PluginHost()
    spec, tensors = _tensors(host, "top_bdt", chunk)
    dead = f"127.0.0.1:{free_port()}"
    fast = {"url": dead, "retries": 2, "backoff_s": 0.01, "timeout_s": 2}
    start = time.monotonic()
    with pytest.raises(
        ServerUnavailableError, match=rf"no Triton server reachable at \['{dead}'\]"
    ):
        TritonBackend(fast).infer(spec, tensors)
    assert time.monotonic() - start < 10
    backend = TritonBackend({**fast, "fallback": "local"})
    out = backend.infer(spec, tensors)
    np.testing.assert_allclose(
        out["score"], host.create_backend(spec).infer(spec, tensors)["score"]
    )
    assert backend.report() == {"rows_remote": 0, "rows_fallback": len(tensors["features"])}


def test_load_balancing_skips_a_dead_server(server: TritonServer, chunk: Any) -> None:
    host = PluginHost()
    spec, tensors = _tensors(host, "top_bdt", chunk)
    dead = f"127.0.0.1:{free_port()}"
    backend = TritonBackend(
        {
            "url": [dead, server.grpc_url],
            "max_batch_size": 5,
            "in_flight": 2,
            "backoff_s": 0.01,
            "breaker_failures": 1,
            "breaker_reset_s": 60,
        }
    )
    backend._checked[spec.name] = ("1", 5)  # the first url is dead: skip the metadata probe order
    out = backend.infer(spec, tensors)
    np.testing.assert_allclose(
        out["score"], host.create_backend(spec).infer(spec, tensors)["score"], rtol=1e-6
    )
    assert backend._servers[0].breaker.opened_at is not None  # dead server's breaker is open
    assert backend.report()["rows_remote"] == len(tensors["features"])


def test_a_failed_request_moves_to_another_server_at_once(
    server: TritonServer, chunk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a retry went back to the least-loaded server, i.e. the dead one, until
    its retries were spent (and every server was then remembered as down)."""
    host = PluginHost()
    spec, tensors = _tensors(host, "top_bdt", chunk)
    n = len(tensors["features"])
    dead = f"127.0.0.1:{free_port()}"
    backend = TritonBackend(
        {
            "url": [dead, server.grpc_url],
            "max_batch_size": 5,
            "in_flight": 1,
            "backoff_s": 0.01,
            "breaker_failures": 1000,  # the breaker never opens: failover alone must do it
        }
    )
    backend._checked[spec.name] = ("1", 5)  # skip the model check, which would open with the dead
    monkeypatch.setattr("jetplug.backends.triton.random.random", lambda: 0.0)  # ties: first url
    out = backend.infer(spec, tensors)
    np.testing.assert_allclose(
        out["score"], host.create_backend(spec).infer(spec, tensors)["score"], rtol=1e-6
    )
    requests = -(-n // 5)
    assert backend._servers[0].breaker.failures == requests  # once each, then the live one
    assert backend._down.remaining() == 0
    assert backend.report() == {
        "rows_remote": n,
        "rows_fallback": 0,
        f"rows_remote@{server.grpc_url}": n,
    }


def test_every_server_failing_is_retried_in_rounds(chunk: Any) -> None:
    host = PluginHost()
    spec, tensors = _tensors(host, "top_bdt", chunk)
    dead = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    backend = TritonBackend(
        {"url": dead, "retries": 2, "backoff_s": 0.01, "breaker_failures": 1000, "in_flight": 1}
    )
    backend._checked[spec.name] = ("1", len(tensors["features"]))  # one request
    with pytest.raises(ServerUnavailableError, match="no Triton server answered"):
        backend.infer(spec, tensors)
    # each round tries every server once, then backs off: 1 + retries rounds
    assert [s.breaker.failures for s in backend._servers] == [3, 3]


def test_bearer_token_from_environment(
    server: TritonServer, chunk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = PluginHost()
    spec, tensors = _tensors(host, "top_bdt", chunk)
    backend = TritonBackend({"url": server.grpc_url, "token_env": "JETPLUG_TEST_TOKEN"})
    monkeypatch.delenv("JETPLUG_TEST_TOKEN", raising=False)
    with pytest.raises(BackendError, match="bearer-token variable 'JETPLUG_TEST_TOKEN' is not set"):
        backend.infer(spec, tensors)
    monkeypatch.setenv("JETPLUG_TEST_TOKEN", "s3cret")
    assert backend.infer(spec, tensors)["score"].shape == (len(tensors["features"]),)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_run_on_triton_equals_local_run(
    server: TritonServer,
    generated: dict[str, list[Path]],
    real_data: Path,
    tmp_path: Path,
    protocol: str,
) -> None:
    url = server.grpc_url if protocol == "grpc" else server.http_url
    fileset = {k: [str(f) for f in v] for k, v in generated.items()}
    fileset["cms_tt"] = [str(real_data / "nano_tt_v15.root")]
    hists = {
        "score": {
            "axes": [
                {"field": "FatJet.top_bdt.score", "bins": 50, "start": 0, "stop": 1},
                {"field": "FatJet.msoftdrop", "bins": 20, "start": 0, "stop": 300},
            ],
            "weight": "genWeight",
        }
    }

    def config(backend: dict[str, Any]) -> Any:
        return parse_config(
            {
                "fileset": fileset,
                "schema": "nanoaod",
                "chunksize": 60,
                "plugins": [{"name": "top_bdt", **backend}],
                "histograms": hists,
            },
            base=tmp_path,
        )

    local = run(config({}), tmp_path / "local")
    remote = run(
        config({"backend": "triton", "backend_options": {"url": url, "protocol": protocol}}),
        tmp_path / "remote",
        executor="futures",
    )
    for dataset, hs in local.hists.items():
        np.testing.assert_allclose(
            remote.hists[dataset]["score"].view(flow=True)["value"],
            hs["score"].view(flow=True)["value"],
            rtol=1e-9,
        )
    prov = json.loads((tmp_path / "remote" / "provenance.json").read_text())
    backend = prov["plugins"][0]["backend"]
    assert backend["backend"] == "triton" and backend["protocol"] == protocol
    assert backend["urls"] == [url] and backend["model_name"] == "top_bdt"
    assert backend["model_version"] == "1"
    assert backend["rows_remote"] > 0 and backend["rows_fallback"] == 0
    artifact = prov["plugins"][0]["artifact"]
    assert backend["served"] == [
        {
            "url": url,
            "model_name": "top_bdt",
            "model_version": "1",
            "artifact_sha256": artifact["sha256"],
            "file_sha256": artifact["sha256"],  # xgboost is served as shipped
            "plugin_version": prov["plugins"][0]["version"],
        }
    ]


def test_backend_pickles_without_clients_and_rebuilds_lazily(
    server: TritonServer, chunk: Any
) -> None:
    import pickle

    host = PluginHost()
    spec, tensors = _tensors(host, "top_bdt", chunk)
    backend = TritonBackend({"url": server.grpc_url, "in_flight": 2})
    first = backend.infer(spec, tensors)["score"]
    assert backend._pool is not None and backend._local.clients
    clone = pickle.loads(pickle.dumps(backend))
    assert clone._pool is None and not hasattr(clone._local, "clients")
    np.testing.assert_array_equal(clone.infer(spec, tensors)["score"], first)


def test_fallback_is_recorded_in_provenance(real_data: Path, tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    raw = {
        "fileset": {"tt": [str(real_data / "nano_tt_v15.root")]},
        "schema": "nanoaod",
        "histograms": {
            "s": {"axes": [{"field": "FatJet.top_bdt.score", "bins": 20, "start": 0, "stop": 1}]}
        },
    }
    local = run(parse_config({**raw, "plugins": ["top_bdt"]}, base=tmp_path))
    options = {"url": dead, "retries": 1, "backoff_s": 0.01, "fallback": "local"}
    remote = run(
        parse_config(
            {
                **raw,
                "plugins": [{"name": "top_bdt", "backend": "triton", "backend_options": options}],
            },
            base=tmp_path,
        ),
        tmp_path / "out",
    )
    assert (remote.hists["tt"]["s"].values() == local.hists["tt"]["s"].values()).all()
    backend = json.loads((tmp_path / "out" / "provenance.json").read_text())["plugins"][0][
        "backend"
    ]
    assert backend["fallback"] == "local"
    rows = int(local.hists["tt"]["s"].sum(flow=True))
    assert backend["rows_fallback"] == rows and backend["rows_remote"] == 0
    assert "error" in backend  # the server could not be described either
    # and the console says so
    from click.testing import CliRunner

    from jetplug.cli import main

    config = tmp_path / "run.yaml"
    config.write_text(
        json.dumps(
            {
                **raw,
                "plugins": [{"name": "top_bdt", "backend": "triton", "backend_options": options}],
            }
        )
    )
    result = CliRunner().invoke(
        main, ["run", str(config), "-o", str(tmp_path / "cli"), "--no-plots"]
    )
    assert result.exit_code == 0, result.output
    assert f"top_bdt (triton): 0 objects on the server, {rows} on the local fallback" in (
        result.output
    )


def test_http_connection_closed_mid_request_is_transient(server: TritonServer, chunk: Any) -> None:
    host = PluginHost()
    spec, tensors = _tensors(host, "top_bdt", chunk)
    n = len(tensors["features"])
    options = {"protocol": "http", "retries": 1, "backoff_s": 0.01}
    with FaultyProxy(server.http_url, mode="cut") as proxy:  # answers metadata, dies on /infer
        with pytest.raises(ServerUnavailableError, match="no Triton server answered"):
            TritonBackend({**options, "url": proxy.url}).infer(spec, tensors)
        backend = TritonBackend({**options, "url": proxy.url, "fallback": "local"})
        out = backend.infer(spec, tensors)
        assert proxy.cut >= 2
    np.testing.assert_allclose(
        out["score"], host.create_backend(spec).infer(spec, tensors)["score"]
    )
    assert backend.report() == {"rows_remote": 0, "rows_fallback": n}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_an_unanswering_server_is_remembered(protocol: str, chunk: Any) -> None:
    host = PluginHost()
    spec, tensors = _tensors(host, "top_bdt", chunk)
    n = len(tensors["features"])
    wait = 2.0
    options = {
        "protocol": protocol,
        "timeout_s": wait,
        "connect_timeout_s": wait,
        "server_retry_s": 6,
        "retries": 1,
        "backoff_s": 0.01,
    }
    with FaultyProxy(mode="hang") as stuck:  # accepts connections, never answers
        backend = TritonBackend({**options, "url": stuck.url, "fallback": "local"})
        times = []
        for _ in range(3):
            start = time.monotonic()
            backend.infer(spec, tensors)
            times.append(time.monotonic() - start)
        failed_at = time.monotonic() - sum(times[1:])
        assert wait * 0.9 < times[0] < wait * 3
        assert max(times[1:]) < wait / 2, times  # remembered: straight to the fallback
        assert backend.report() == {"rows_remote": 0, "rows_fallback": 3 * n}
        strict = TritonBackend({**options, "url": stuck.url})
        with pytest.raises(ServerUnavailableError, match="no Triton server reachable"):
            strict.infer(spec, tensors)
        start = time.monotonic()
        with pytest.raises(ServerUnavailableError, match="server_retry_s"):
            strict.infer(spec, tensors)
        assert time.monotonic() - start < wait / 2
        time.sleep(max(0.0, failed_at + 6.2 - time.monotonic()))
        start = time.monotonic()
        backend.infer(spec, tensors)  # the retry interval passed: the server is tried again
        assert time.monotonic() - start > wait * 0.9
        assert backend.report() == {"rows_remote": 0, "rows_fallback": n}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_preflight_asks_servers_side_by_side_and_remembers_none_answered(
    protocol: str, chunk: Any
) -> None:
    """Regression: preflight asked the servers one after the other and kept nothing, so two
    servers that never answer cost two connect timeouts before the run and the first
    chunk waited for them again."""
    host = PluginHost()
    spec, tensors = _tensors(host, "top_bdt", chunk)
    n = len(tensors["features"])
    wait = 2.0
    options = {"protocol": protocol, "connect_timeout_s": wait, "fallback": "local"}
    with FaultyProxy(mode="hang") as a, FaultyProxy(mode="hang") as b:
        backend = TritonBackend({**options, "url": [a.url, b.url]})
        start = time.monotonic()
        backend.preflight(spec)  # nothing answers: no error, the chunks fall back
        assert wait * 0.9 < time.monotonic() - start < wait * 1.6  # one timeout, not two
        start = time.monotonic()
        backend.infer(spec, tensors)
        assert time.monotonic() - start < wait / 2  # remembered: straight to the fallback
        assert backend.report() == {"rows_remote": 0, "rows_fallback": n}


def test_tls_with_a_real_server(tmp_path: Path, servable: list[str]) -> None:
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    repo = tmp_path / "repo"
    export_repository(PluginHost(), ["top_bdt"], repo)
    tls_flags = (
        "--grpc-use-ssl=true",
        f"--grpc-server-cert={cert}",
        f"--grpc-server-key={key}",
        f"--grpc-root-cert={cert}",
    )
    host = PluginHost()
    spec = host.spec("top_bdt")
    x = {
        "features": np.random.default_rng(1).uniform(0.1, 1.0, (50, 6)).astype(np.float32)
        * [200, 1, 1, 1, 0.4, 3]
    }
    x["features"] = x["features"].astype(np.float32)
    with TritonServer(repo, extra_args=tls_flags, log_path=tmp_path / "log") as srv:
        secure = TritonBackend({"url": srv.grpc_url, "tls": {"root_certificates": str(cert)}})
        out = secure.infer(spec, x)["score"]
        np.testing.assert_allclose(
            out, host.create_backend(spec).infer(spec, x)["score"], rtol=1e-6
        )
        plain = TritonBackend({"url": srv.grpc_url, "retries": 0, "timeout_s": 3})
        with pytest.raises(BackendError):
            plain.infer(spec, x)


@pytest.mark.parametrize(
    ("status", "message", "transient"),
    [
        ("400", "Request for unknown model: 'top_mlp' has no available versions", True),
        ("StatusCode.UNAVAILABLE", "Request for unknown model: 'top_mlp' is not ready", True),
        ("400", "Request for unknown model: 'top_mlp' is not found", False),
        ("400", "unexpected shape for input 'features'", False),
    ],
)
def test_a_model_being_unloaded_or_loaded_is_transient(
    status: str, message: str, transient: bool
) -> None:
    """A restarting server answered 'no available versions' and the fallback was not used."""
    from tritonclient.utils import InferenceServerException

    from jetplug.backends.triton_faults import is_transient

    assert is_transient(InferenceServerException(message, status=status)) is transient


def test_a_run_with_failed_chunks_still_says_what_served_the_others(
    real_data: Path, tmp_path: Path
) -> None:
    """The Triton summary lines were printed only when every chunk succeeded."""
    from click.testing import CliRunner

    from jetplug.cli import main

    path = copy_fatjets(real_data / "nano_tt_v15.root", tmp_path / "c.root")
    corrupt_basket(path, "FatJet_msoftdrop", 1)  # entries [50, 100) cannot be read
    options = {"url": f"127.0.0.1:{free_port()}", "retries": 1, "fallback": "local"}
    config = tmp_path / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "fileset": {"tt": [str(path)]},
                "schema": "nanoaod",
                "chunksize": 50,
                "plugins": [{"name": "top_bdt", "backend": "triton", "backend_options": options}],
            }
        )
    )
    result = CliRunner().invoke(main, ["run", str(config), "-o", str(tmp_path / "o")])
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    summary = [line for line in lines if line.startswith("top_bdt (triton): 0 objects on the")]
    assert len(summary) == 1 and "on the local fallback" in summary[0]
    assert lines[-1].startswith("error: 1 of 4 chunks failed")
