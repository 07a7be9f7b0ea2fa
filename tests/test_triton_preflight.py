"""``jetplug run`` checks the model each Triton server serves before any chunk runs.

A real tritonserver serving another plugin's artifact under the plugin's
model name; the run must be refused in one line before a chunk runs, not
start and fail every chunk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jetplug import PluginHost
from jetplug.cli import main
from jetplug.triton import TritonServer, free_port

from .test_triton import _impostor_repository

pytestmark = pytest.mark.triton


def _config(tmp_path: Path, data: Path, options: dict[str, object]) -> Path:
    config = tmp_path / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "fileset": {"tt": [str(data / "nano_tt_v15.root")]},
                "schema": "nanoaod",
                "chunksize": 50,
                "plugins": [
                    "top_bdt",
                    {"name": "top_mlp", "backend": "triton", "backend_options": options},
                ],
            }
        )
    )
    return config


def test_a_wrong_served_model_refuses_the_run_before_any_chunk(
    real_data: Path, tmp_path: Path
) -> None:
    """Regression: the run started, failed every chunk with the mismatch and exited 3."""
    import tritonclient.grpc as grpcclient

    host = PluginHost()
    mlp, bdt = host.spec("top_mlp"), host.spec("top_bdt")
    repo = _impostor_repository(tmp_path, "top_mlp", "top_bdt")  # same tensors, other artifact
    with TritonServer(repo, log_path=tmp_path / "log") as srv:
        dead = f"127.0.0.1:{free_port()}"  # an unreachable server is left to the chunks
        for protocol, url in (("grpc", srv.grpc_url), ("http", srv.http_url)):
            options = {"url": [dead, url], "protocol": protocol, "fallback": "local"}
            out = tmp_path / f"out-{protocol}"
            result = CliRunner().invoke(
                main, ["run", str(_config(tmp_path, real_data, options)), "-o", str(out)]
            )
            assert result.exit_code == 2, result.output  # refused, not 3 (chunks failed)
            errors = [line for line in result.output.splitlines() if line.startswith("error:")]
            assert len(errors) == 1, result.output
            for part in (
                "plugin 'top_mlp'",
                url,
                "model 'top_mlp'",
                f"serves artifact sha256 {bdt.artifact.sha256}",
                f"the plugin's is {mlp.artifact.sha256}",
            ):
                assert part in errors[0], (part, errors[0])
            assert "chunks failed" not in result.output
            assert not (out / "provenance.json").exists()  # nothing ran
        stats = grpcclient.InferenceServerClient(srv.grpc_url).get_inference_statistics(
            "top_mlp", as_json=True
        )["model_stats"][0]
        assert int(stats.get("inference_count", 0)) == 0


def test_the_right_served_model_runs_and_an_unreachable_one_is_left_to_the_fallback(
    server: TritonServer, real_data: Path, tmp_path: Path
) -> None:
    """The server check passes for the plugin's own model; a dead server does not stop it."""
    dead = f"127.0.0.1:{free_port()}"
    for name, options in (
        ("served", {"url": server.grpc_url}),
        ("dead", {"url": dead, "retries": 1, "backoff_s": 0.01, "fallback": "local"}),
    ):
        out = tmp_path / name
        result = CliRunner().invoke(
            main,
            ["run", str(_config(tmp_path, real_data, options)), "-o", str(out), "--no-plots"],
        )
        assert result.exit_code == 0, result.output
        backend = json.loads((out / "provenance.json").read_text())["plugins"][1]["backend"]
        on_server = backend["rows_remote"] > 0
        assert (on_server, backend["rows_fallback"] > 0) == (name == "served", name == "dead")


def test_a_grpc_client_on_the_http_port_is_refused_not_left_to_the_fallback(
    server: TritonServer, real_data: Path, tmp_path: Path
) -> None:
    """gRPC on Triton's HTTP port fails with "UNAVAILABLE: Socket closed", which read as an
    outage: with fallback: local every row ran in-process (jetplug run and a user's
    processor alike). It is now refused as the reverse mistake was, naming the fix."""
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    from jetplug import Plugins
    from jetplug.errors import TritonMismatchError

    options = {"url": server.http_url, "protocol": "grpc", "fallback": "local"}
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(_config(tmp_path, real_data, options)), "-o", str(out), "--no-plots"]
    )
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].endswith(
        "(this port speaks HTTP: an HTTP port? set protocol: http)"
    ), result.output
    assert not (out / "provenance.json").exists()

    path = str(real_data / "nano_tt_v15.root")
    events = NanoEventsFactory.from_root(
        {path: "Events"}, schemaclass=NanoAODSchema, mode="eager", metadata={"filename": path}
    ).events()
    plugins = Plugins([{"name": "top_mlp", "backend": "triton", "backend_options": options}])
    with pytest.raises(TritonMismatchError, match=r"HTTP port\? set protocol: http\)"):
        plugins(events)
    assert plugins.report().get("top_mlp", {}).get("rows_fallback", 0) == 0
