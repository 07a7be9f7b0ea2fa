"""The command line: plugins, train, demo (end to end on generated events)."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import xgboost as xgb
from click.testing import CliRunner
from coffea.util import load

from jetplug.cli import main
from jetplug.generation import DetectorResponse


def test_plugins_lists_name_kind_version_package() -> None:
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["top_bdt"]["kind"] == "tagger"
    assert rows["top_bdt"]["package"] == "jetplug-taggers"
    assert rows["example_multiplicity"]["package"] == "jetplug-example-plugin"
    table = CliRunner().invoke(main, ["plugins"]).output
    assert table.splitlines()[0].split() == ["name", "kind", "version", "package"]
    assert "backends: onnx, torch, triton, xgboost" in table


def test_train_writes_model_and_metadata(generated: dict[str, list[Path]], tmp_path: Path) -> None:
    files = [str(f) for fs in generated.values() for f in fs]
    out = tmp_path / "bdt.ubj"
    result = CliRunner().invoke(
        main,
        [
            "train",
            "top_bdt",
            *files,
            "-o",
            str(out),
            "--pt-min",
            "300",
            "--pt-max",
            "1200",
            "--model-version",
            "9.9.9",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["version"] == "9.9.9"
    assert meta["plugin"] == "top_bdt"
    assert meta["test_metrics"]["auc"] > 0.8
    assert meta["jets"]["train"]["signal"] > 0 and meta["jets"]["test"]["background"] > 0
    # the sample's detector response (the default, realistic) is recorded
    realistic = DetectorResponse.preset("realistic").fingerprint()
    assert meta["detectors"] == [{"name": "realistic", "fingerprint": realistic}]
    booster = xgb.Booster(model_file=str(out))
    assert booster.num_features() == 6
    assert "AUC" in result.output and "R50" in result.output


def test_train_unknown_plugin_is_one_line() -> None:
    result = CliRunner().invoke(main, ["train", "nope", "x.root"])
    assert result.exit_code == 2
    assert "unknown plugin 'nope'" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threads", "0"], "Invalid value for '--threads': 0 is not in the range x>=1"),
        (["--batch-size", "0"], "Invalid value for '--batch-size': 0 is not in the range x>=1"),
        (["--lr", "-1"], "Invalid value for '--lr': -1.0 is not in the range x>0"),
        (["--pt-min", "500", "--pt-max", "500"], "--pt-max 500 must exceed --pt-min 500"),
        (["-o", "DIR"], "is a directory; give the model file to write"),
        (["-o", "new/"], "is a directory; give the model file to write"),
    ],
)
def test_train_refuses_bad_settings_before_training(
    tmp_path: Path, real_data: Path, args: list[str], message: str
) -> None:
    args = [a.replace("DIR", str(tmp_path)) for a in args]
    result = CliRunner().invoke(main, ["train", "top_bdt", str(real_data / "pfnano.root"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_demo_end_to_end(tmp_path: Path) -> None:
    cache, outdir = tmp_path / "cache", tmp_path / "demo"
    result = CliRunner().invoke(
        main, ["demo", "-o", str(outdir), "-n", "400", "--cache", str(cache), "-j", "2"]
    )
    assert result.exit_code == 0, result.output
    plots = {p.name for p in (outdir / "plots").glob("*.png")}
    expected = {"score_by_truth.png", "roc_top_vs_qcd.png", "roc_part_top_vs_qcd.png"}
    assert expected | {"msd_tagged.png", "anomaly_by_truth.png", "msd_w_tagged.png"} <= plots
    prov = json.loads((outdir / "provenance.json").read_text())
    assert prov["complete"] and prov["events_processed"] == 800
    assert prov["executor"]["name"] == "futures"
    hists = load(str(outdir / "histograms.coffea"))
    score = hists["ttbar"]["score"] + hists["qcd"]["score"]
    top = score[{"truth": 1}].values()
    qcd = score[{"truth": 0}].values()
    centers = score.axes["score"].centers
    assert top.sum() > 0 and qcd.sum() > 0
    # the tagger separates: top jets score higher than QCD jets on average
    assert np.average(centers, weights=top) > np.average(centers, weights=qcd) + 0.3
    # the QCD-trained anomaly score is higher for top jets than for QCD jets
    anomaly = hists["ttbar"]["anomaly"] + hists["qcd"]["anomaly"]
    at = anomaly.axes["anomaly"].centers
    top_a, qcd_a = anomaly[{"truth": 1}].values(), anomaly[{"truth": 0}].values()
    assert np.average(at, weights=top_a) > np.average(at, weights=qcd_a)
    # the skim holds the jets the score histogram was filled with
    jets = ak.from_parquet(outdir / "skims" / "jets" / "ttbar").FatJet
    assert len(ak.flatten(jets.top_bdt_score)) == sum(
        c["filled"]["score"] for c in prov["chunks_processed"] if c["dataset"] == "ttbar"
    )
    # a second run reuses the cached sample
    again = CliRunner().invoke(
        main, ["demo", "-o", str(tmp_path / "again"), "-n", "400", "--cache", str(cache)]
    )
    assert again.exit_code == 0, again.output
    assert "reusing ttbar" in again.output


def _run_config(tmp_path: Path, data: Path) -> Path:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        json.dumps(
            {
                "fileset": {"dy": [str(data / "nano_dy.root")]},
                "schema": "nanoaod",
                "histograms": {
                    "pt": {"axes": [{"field": "FatJet.pt", "bins": 5, "start": 0, "stop": 500}]}
                },
            }
        )
    )
    return cfg


def test_run_options_are_validated(tmp_path: Path, real_data: Path) -> None:
    cfg = str(_run_config(tmp_path, real_data))
    for option, value in (("--max-failures", "-1"), ("--chunksize", "0"), ("--workers", "0")):
        result = CliRunner().invoke(main, ["run", cfg, option, value])
        assert result.exit_code == 2, (option, result.output, result.exception)
        assert f"'{option}': {value} is not in the range" in result.output
        assert not (tmp_path / "results").exists()


def test_unreachable_scheduler_is_one_line(tmp_path: Path, real_data: Path) -> None:
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    address = f"tcp://127.0.0.1:{port}"
    cfg = str(_run_config(tmp_path, real_data))
    args = ["run", cfg, "-o", str(tmp_path / "o"), "-e", "dask", "--scheduler", address]
    for extra, seconds in (([], 5), (["--scheduler-timeout", "1"], 1)):
        t0 = time.monotonic()
        result = CliRunner().invoke(main, [*args, *extra])
        assert time.monotonic() - t0 < seconds + 10  # distributed's own default waits 30 s
        assert result.exit_code == 2, (result.output, result.exception)
        assert result.output.strip().splitlines() == [
            f"error: cannot reach the Dask scheduler at {address} within {seconds} s "
            f"(OSError: Timed out trying to connect to {address} after {seconds} s); "
            "is it running? (--scheduler-timeout sets the wait)"
        ]


def test_a_scheduler_that_never_answers_is_one_line(tmp_path: Path, real_data: Path) -> None:
    """A listener that accepts and stays silent once hung jetplug run for good."""
    import socket
    import threading
    import time

    held: list[socket.socket] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.2)

        def accept() -> None:
            while server.fileno() != -1:
                try:
                    held.append(server.accept()[0])
                except OSError:
                    continue

        threading.Thread(target=accept, daemon=True).start()
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        cfg = str(_run_config(tmp_path, real_data))
        args = ["run", cfg, "-o", str(tmp_path / "o"), "-e", "dask", "--scheduler", address]
        t0 = time.monotonic()
        result = CliRunner().invoke(main, [*args, "--scheduler-timeout", "1"])
        assert time.monotonic() - t0 < 15
    for conn in held:
        conn.close()
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.output.strip().splitlines() == [
        f"error: the Dask scheduler at {address} accepted the connection but did not answer "
        "within 3 s; is it a Dask scheduler, and is it alive? (--scheduler-timeout sets the wait)"
    ]


@pytest.mark.parametrize(
    ("args", "absent"),
    [
        (["run", "--help"], ("sklearn", "optuna", "torch", "scipy.ndimage", "jetplug.training")),
        (
            ["plugins"],
            ("sklearn", "optuna", "torch", "scipy.ndimage"),
        ),  # every installed plugin registered
    ],
)
def test_start_up_imports_only_what_the_command_needs(
    args: list[str], absent: tuple[str, ...]
) -> None:
    """Subcommands load lazily and plugin packages import torch/scikit-learn only to build or
    train a model: a `jetplug run` of an xgboost tagger starts without them."""
    import subprocess
    import sys

    code = (
        "import sys; from click.testing import CliRunner; from jetplug.cli import main; "
        f"r = CliRunner().invoke(main, {args!r}); assert r.exit_code == 0, r.output; "
        f"print(sorted(m for m in {absent!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
