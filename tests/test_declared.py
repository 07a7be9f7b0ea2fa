"""Bring your own model file: xgboost, TorchScript and ONNX declared in a run config only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import awkward as ak
import hist
import numpy as np
import pytest
import uproot
import xgboost as xgb
import yaml
from click.testing import CliRunner
from coffea.util import load

from jetplug import ConfigError, PluginHost
from jetplug.cli import main
from jetplug.config import load_config
from jetplug.declared import DeclaredModels
from jetplug.runner import run
from jetplug.spec import sha256_file


def _fatjets(files: list[Path]) -> dict[str, np.ndarray]:
    cols = ("pt", "eta", "msoftdrop", "tau1", "tau2", "tau3", "truthLabel")
    arrays = [uproot.open(f)["Events"].arrays([f"FatJet_{c}" for c in cols]) for f in files]
    return {
        c: np.concatenate([ak.to_numpy(ak.flatten(a[f"FatJet_{c}"])) for a in arrays]) for c in cols
    }


def _features(j: dict[str, np.ndarray]) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack(
            [j["msoftdrop"], j["tau3"] / j["tau2"], j["tau2"] / j["tau1"]], axis=1
        ).astype(np.float32)


@pytest.fixture(scope="module")
def foreign_bdt(generated: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Someone else's BDT: trained with plain xgboost, saved as JSON, no jetplug involved."""
    jets = _fatjets(generated["ttbar"] + generated["qcd"])
    keep = np.isin(jets["truthLabel"], (0, 1))
    x, y = _features(jets)[keep], (jets["truthLabel"][keep] == 1).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(x, label=y),
        num_boost_round=20,
    )
    path = tmp_path_factory.mktemp("foreign") / "their_top_tagger.json"
    booster.save_model(str(path))
    return path


def _write(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def _config(files: dict[str, list[Path]], model: dict[str, Any]) -> dict[str, Any]:
    return {
        "fileset": {d: [str(f) for f in fs] for d, fs in files.items()},
        "chunksize": 60,
        "models": {"theirs": model},
        "plugins": ["theirs"],
        "histograms": {
            "score": {"axes": [{"field": "FatJet.theirs.score", "bins": 25, "start": 0, "stop": 1}]}
        },
    }


@pytest.mark.slow
def test_foreign_xgboost_file_through_the_run_config_only(
    foreign_bdt: Path, generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    model = {
        "file": str(foreign_bdt),
        "inputs": ["msoftdrop", "tau3 / tau2", "tau2 / tau1"],
        "outputs": ["score"],
    }
    cfg = _write(tmp_path / "cfg.yaml", _config(generated, model))
    result = CliRunner().invoke(
        main, ["run", str(cfg), "-e", "futures", "-j", "2", "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    hists = load(str(tmp_path / "out" / "histograms.coffea"))
    booster = xgb.Booster(model_file=str(foreign_bdt))
    for dataset, files in generated.items():
        expected = hist.Hist.new.Reg(25, 0, 1).Double()
        x = _features(_fatjets(files))
        # jets with a non-finite input (tau2 = 0 in tau3 / tau2) get NaN, filled nowhere
        finite = np.isfinite(x).all(axis=1)
        expected.fill(booster.inplace_predict(x[finite]))
        np.testing.assert_array_equal(
            hists[dataset]["score"].values(flow=True), expected.values(flow=True)
        )
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    (entry,) = prov["plugins"]
    assert entry["artifact"]["sha256"] == sha256_file(foreign_bdt)  # computed and recorded
    assert entry["artifact"]["format"] == "xgboost-json"
    assert prov["config"]["content"]["models"][0]["sha256_given"] is False


def test_declared_sha256_is_checked_before_running(foreign_bdt: Path, tmp_path: Path) -> None:
    model = {"file": str(foreign_bdt), "inputs": ["msoftdrop"], "sha256": "0" * 64}
    cfg = _write(tmp_path / "cfg.yaml", _config({"d": [foreign_bdt]}, model))
    with pytest.raises(ConfigError, match=r"models\.theirs\.sha256: .* has sha256 [0-9a-f]{64}"):
        load_config(cfg)
    model = {"file": str(foreign_bdt), "inputs": ["msoftdrop", "tau3 / "]}
    with pytest.raises(ConfigError, match=r"models\.theirs\.inputs\[1\]"):
        load_config(_write(tmp_path / "bad.yaml", _config({"d": [foreign_bdt]}, model)))


def _torch_module() -> Any:
    import torch

    torch.manual_seed(3)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 8),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 1),
        torch.nn.Sigmoid(),
        torch.nn.Flatten(0),
    )


def test_torchscript_and_onnx_files_match_their_framework(
    generated: dict[str, list[Path]], real_data: Path, tmp_path: Path
) -> None:
    import torch

    module = _torch_module().eval()
    ts_path = tmp_path / "net.pt"
    torch.jit.script(module).save(str(ts_path))
    onnx_path = tmp_path / "net.onnx"
    torch.onnx.export(
        module,
        (torch.zeros(2, 3),),
        str(onnx_path),
        input_names=["jet_inputs"],
        output_names=["prob"],
        dynamic_axes={"jet_inputs": {0: "n"}, "prob": {0: "n"}},
        dynamo=False,
    )
    inputs = ["msoftdrop / 100", "tau3 / tau2", "tau2 / tau1"]
    raw = {
        "fileset": {"tt": [str(f) for f in generated["ttbar"]]},
        "models": {
            "ts": {"file": str(ts_path), "inputs": inputs, "kind": "anomaly"},
            "ox": {"file": str(onnx_path), "inputs": inputs, "outputs": ["score"]},
        },
        "plugins": ["ox", "ts"],
        "histograms": {
            "s": {"axes": [{"field": "FatJet.ts.score", "bins": 10, "start": 0, "stop": 1}]}
        },
    }
    cfg = load_config(_write(tmp_path / "cfg.yaml", raw))
    tensors = {m.name: m.input_tensor for m in cfg.models}
    assert tensors == {"ts": "features", "ox": "jet_inputs"}  # ONNX: from the file
    host = PluginHost()
    host.register(DeclaredModels(cfg.models))
    from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

    from jetplug import Plugins

    events = NanoEventsFactory.from_root(
        {str(generated["ttbar"][0]): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()
    out = Plugins(["ts", "ox"], host=host)(events)
    jets = events.FatJet
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.stack(
            [
                ak.to_numpy(ak.flatten(v))
                for v in (
                    # jets["tau2"], not jets.tau2: vector's tau2 property is the mass squared
                    jets["msoftdrop"] / 100,
                    jets["tau3"] / jets["tau2"],
                    jets["tau2"] / jets["tau1"],
                )
            ],
            axis=1,
        ).astype(np.float32)
    with torch.no_grad():
        want = module(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(out.FatJet.ts.score)), want, atol=1e-6)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(out.FatJet.ox.score)), want, atol=1e-5)
    result = run(cfg, tmp_path / "out", executor="iterative")
    # a jet with a non-finite input (tau2 = 0) scores NaN and is filled nowhere
    assert result.hists["tt"]["s"].sum(flow=True) == np.isfinite(want).sum()


def test_declared_calibrator_replaces_the_field(real_data: Path, tmp_path: Path) -> None:
    """A foreign calibration (xgboost regression of a pT factor) on AK4 jets."""
    rng = np.random.default_rng(1)
    x = rng.uniform([20, -2.5], [500, 2.5], size=(3000, 2)).astype(np.float32)
    booster = xgb.train(
        {"objective": "reg:squarederror", "max_depth": 4, "nthread": 1},
        xgb.DMatrix(x, label=x[:, 0] * (1.1 - 0.02 * np.abs(x[:, 1]))),
        num_boost_round=60,
    )
    path = tmp_path / "jec.ubj"
    booster.save_model(str(path))
    raw = {
        "fileset": {"tt": [str(real_data / "nano_tt_v15.root")]},
        "schema": "nanoaod",
        "models": {
            "jec": {
                "file": str(path),
                "kind": "calibrator",
                "collection": "Jet",
                "inputs": ["pt", "eta"],
                "outputs": ["pt"],
            }
        },
        "plugins": ["jec"],
        "histograms": {
            "raw": {"axes": [{"field": "Jet.pt_raw", "bins": 10, "start": 0, "stop": 500}]},
            "cal": {"axes": [{"field": "Jet.pt", "bins": 10, "start": 0, "stop": 500}]},
        },
    }
    cfg = load_config(_write(tmp_path / "cfg.yaml", raw))
    result = run(cfg, None, executor="iterative")
    arrays = uproot.open(real_data / "nano_tt_v15.root")["Events"].arrays(["Jet_pt", "Jet_eta"])
    pt, eta = (ak.to_numpy(ak.flatten(arrays[b])) for b in ("Jet_pt", "Jet_eta"))
    expected = (
        hist.Hist.new.Reg(10, 0, 500)
        .Double()
        .fill(booster.inplace_predict(np.stack([pt, eta], axis=1).astype(np.float32)))
    )
    np.testing.assert_allclose(
        result.hists["tt"]["cal"].values(flow=True), expected.values(flow=True)
    )
    raw_h = hist.Hist.new.Reg(10, 0, 500).Double().fill(pt)
    np.testing.assert_array_equal(
        result.hists["tt"]["raw"].values(flow=True), raw_h.values(flow=True)
    )


@pytest.mark.triton
@pytest.mark.slow
def test_declared_model_served_by_triton_equals_local(
    foreign_bdt: Path, generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    from jetplug.triton import TritonServer

    model = {"file": str(foreign_bdt), "inputs": ["msoftdrop", "tau3 / tau2", "tau2 / tau1"]}
    cfg_path = _write(tmp_path / "cfg.yaml", _config(generated, model))
    repo = tmp_path / "repo"
    result = CliRunner().invoke(
        main, ["triton", "export", "--config", str(cfg_path), "-o", str(repo), "theirs"]
    )
    assert result.exit_code == 0, result.output
    local = run(load_config(cfg_path), None, executor="iterative").hists
    server = TritonServer(repo, log_path=tmp_path / "server.log")
    server.start()
    try:
        raw = yaml.safe_load(cfg_path.read_text())
        raw["plugins"] = [
            {"name": "theirs", "backend": "triton", "backend_options": {"url": server.grpc_url}}
        ]
        remote = run(load_config(_write(tmp_path / "remote.yaml", raw)), None).hists
    finally:
        server.stop()
    for dataset in generated:
        np.testing.assert_allclose(
            remote[dataset]["score"].values(flow=True), local[dataset]["score"].values(flow=True)
        )
        assert local[dataset]["score"].sum() > 0
