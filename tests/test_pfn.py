"""The multi-class constituent network: valid probabilities on generated and real PFNano,
class-probability histograms, and the multi-class training path."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from click.testing import CliRunner

from jetplug.cli import main
from jetplug.config import parse_config
from jetplug.generation import generate
from jetplug.runner import run

from .helpers import tagger_outputs


@pytest.mark.parametrize("source", ["real", "generated"])
def test_probabilities_are_valid(
    real_data: Path, generated: dict[str, list[Path]], source: str
) -> None:
    path = real_data / "pfnano.root" if source == "real" else generated["ttbar"][0]
    events, out = tagger_outputs(path, "pfn")
    probs = ak.to_numpy(ak.flatten(out.probs))
    assert probs.shape == (int(ak.sum(ak.num(events.FatJet))), 5)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(out.probs_top)), probs[:, 0])
    d = ak.to_numpy(ak.flatten(out.top_vs_qcd))
    np.testing.assert_allclose(d, probs[:, 0] / (probs[:, 0] + probs[:, 4]), rtol=1e-5)


def test_histograms_of_class_probabilities(real_data: Path, tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "fileset": {"pf": [str(real_data / "pfnano.root")]},
            "plugins": ["pfn"],
            "histograms": {
                "disc": {
                    "axes": [
                        {"field": "FatJet.pfn.top_vs_qcd", "bins": 20, "start": 0, "stop": 1},
                        {"field": "FatJet.pfn.probs_W", "bins": 20, "start": 0, "stop": 1},
                    ]
                },
            },
        },
        base=tmp_path,
    )
    result = run(cfg)
    assert result.hists["pf"]["disc"].sum(flow=True) == 24


@pytest.fixture(scope="module")
def multiclass_files(
    tmp_path_factory: pytest.TempPathFactory, generated: dict[str, list[Path]]
) -> list[Path]:
    base = tmp_path_factory.mktemp("multiclass")
    files = [f for fs in generated.values() for f in fs]
    for process, seed in (("wjets", 21), ("zjets", 22), ("hbb", 23)):
        files += generate(
            process, 120, base / process, seed=seed, pt_hat_min=450, pt_hat_max=900, progress=False
        )
    return files


def test_multiclass_training(multiclass_files: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "pfn.pt"
    result = CliRunner().invoke(
        main,
        [
            "train",
            "pfn",
            *map(str, multiclass_files),
            "-o",
            str(out),
            "--pt-min",
            "300",
            "--pt-max",
            "1200",
            "--epochs",
            "3",
            "--threads",
            "1",
            "--model-version",
            "0.0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads(out.with_suffix(".json").read_text())
    assert set(meta["jets"]["train"]) == {"top", "W", "Z", "H", "QCD"}
    assert len(meta["standardization"]["mean"]) == 13
    assert 0.5 < meta["test_metrics"]["auc"] <= 1.0
    assert len(meta["val_loss_history"]) == 3
