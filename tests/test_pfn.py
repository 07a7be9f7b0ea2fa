"""The multi-class constituent networks (pfn, part): valid probabilities on generated and real PFNano,
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

CONSTITUENT_TAGGERS = ["pfn", "part"]


@pytest.mark.parametrize("plugin", CONSTITUENT_TAGGERS)
@pytest.mark.parametrize("source", ["real", "generated"])
def test_probabilities_are_valid(
    real_data: Path, generated: dict[str, list[Path]], source: str, plugin: str
) -> None:
    path = real_data / "pfnano.root" if source == "real" else generated["ttbar"][0]
    events, out = tagger_outputs(path, plugin)
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


@pytest.mark.parametrize("plugin", CONSTITUENT_TAGGERS)
def test_multiclass_training(multiclass_files: list[Path], tmp_path: Path, plugin: str) -> None:
    out = tmp_path / f"{plugin}.pt"
    result = CliRunner().invoke(
        main,
        [
            "train",
            plugin,
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


def _jets(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p, 13)).astype(np.float32)
    x[..., 0:2] *= 0.3
    x[..., 2] = rng.uniform(0, 5, (n, p))
    x[..., 3] = x[..., 2] + rng.uniform(0, 1, (n, p))
    mask = (rng.uniform(size=(n, p)) < 0.7).astype(np.float32)
    mask[:, 0] = 1.0
    return x * mask[..., None], mask


@pytest.mark.parametrize("plugin", CONSTITUENT_TAGGERS)
def test_networks_ignore_order_and_padding(plugin: str) -> None:
    import torch

    from jetplug import PluginHost

    module = PluginHost().create_model(plugin).build_module().eval()
    x, mask = _jets(6, 32, seed=1)
    perm = np.random.default_rng(2).permutation(32)
    noisy = x.copy()
    noisy[mask == 0] = 7.0  # what a padded slot holds must not matter
    with torch.no_grad():
        ref, shuffled, padded = (
            module(torch.as_tensor(a), torch.as_tensor(m)).numpy()
            for a, m in ((x, mask), (x[:, perm], mask[:, perm]), (noisy, mask))
        )
    np.testing.assert_allclose(shuffled, ref, atol=1e-5)
    np.testing.assert_allclose(padded, ref, atol=1e-5)


def test_pair_mass_is_the_invariant_mass() -> None:
    import torch

    from jetplug_taggers.nets import pair_features

    x, mask = _jets(4, 8, seed=3)
    x[..., 3] = x[..., 2] + np.log(np.cosh(x[..., 0]))  # massless: E = pT cosh(η)
    u = pair_features(torch.as_tensor(x), torch.as_tensor(mask)).numpy()
    pt, eta, phi = np.exp(x[..., 2]), x[..., 0], x[..., 1]
    i, j = 0, 1
    m2 = 2 * pt[:, i] * pt[:, j] * (np.cosh(eta[:, i] - eta[:, j]) - np.cos(phi[:, i] - phi[:, j]))
    both = (mask[:, i] * mask[:, j]) > 0
    np.testing.assert_allclose(np.exp(u[both, i, j, 3]), m2[both], rtol=1e-3)
    np.testing.assert_allclose(
        np.exp(u[both, i, j, 0]),
        np.hypot(eta[:, i] - eta[:, j], phi[:, i] - phi[:, j])[both],
        rtol=1e-3,
    )
    assert (u[mask[:, 2] == 0][:, 2] == 0).all()
