"""Anomaly scores: the shipped AE/NAE plugins, their training, the validate section."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

from jetplug import Artifact, PluginHost, Plugins
from jetplug.metrics import efficiency_metrics, signal_efficiency
from jetplug.spec import Kind
from jetplug.testing import PluginContract
from jetplug.training import TrainSettings, training_inputs
from jetplug_anomaly.images import AutoencoderQCD, NormalizedAutoencoderTop, build_spec
from jetplug_anomaly.train import train_anomaly
from jetplug_anomaly.training import NAEResult, NAESettings, choose_epoch

ANOMALY = ("ae_qcd", "ae_top", "nae_qcd", "nae_top")


def _events(path: Path) -> ak.Array:
    events: ak.Array = NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()
    return events


def test_registered_as_anomaly_scores(host: PluginHost) -> None:
    for name in ANOMALY:
        spec = host.spec(name)
        assert spec.kind is Kind.ANOMALY
        assert [o.name for o in spec.outputs] == ["score"]
        assert host.models.get(name).normal_truth == (0 if name.endswith("qcd") else 1)


def test_scores_on_generated_files_finite_and_reproducible(
    generated: dict[str, list[Path]],
) -> None:
    plugins = Plugins(list(ANOMALY))
    truth, scores = [], {n: [] for n in ANOMALY}
    for path in generated["ttbar"] + generated["qcd"]:
        events = _events(path)
        first, second = plugins(events).FatJet, plugins(events).FatJet
        truth.append(ak.to_numpy(ak.flatten(first.truthLabel)))
        for name in ANOMALY:
            a = ak.to_numpy(ak.flatten(first[name].score))
            np.testing.assert_array_equal(a, ak.to_numpy(ak.flatten(second[name].score)))
            assert np.isfinite(a).all() and (a >= 0).all(), name
            scores[name].append(a)
    t = np.concatenate(truth)
    s = {n: np.concatenate(v) for n, v in scores.items()}
    assert (t == 1).sum() > 20 and (t == 0).sum() > 20
    # the QCD-trained autoencoder finds top jets more anomalous than QCD jets
    assert np.median(s["ae_qcd"][t == 1]) > np.median(s["ae_qcd"][t == 0])
    # and the normalized autoencoders differ from the autoencoders they started from
    assert not np.allclose(s["nae_qcd"], s["ae_qcd"])


def test_scores_on_real_pfnano(real_data: Path) -> None:
    out = Plugins(list(ANOMALY))(_events(real_data / "pfnano.root")).FatJet
    for name in ANOMALY:
        score = ak.to_numpy(ak.flatten(out[name].score))
        assert len(score) > 0
        assert np.isfinite(score).all() and (score >= 0).all(), name


def test_training_is_reproducible_and_recorded(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    files = generated["ttbar"] + generated["qcd"]
    untrained = Artifact(tmp_path / "x.pt", "0" * 64, "torch-state-dict")
    data = training_inputs(files, build_spec("reader", "nae", 1, untrained, "0"))
    settings = TrainSettings(pt_min=400, pt_max=900, epochs=2, batch_size=64, threads=1)
    nae = NAESettings(epochs=2, steps_per_epoch=2, batch_size=16, n_monitor=32)
    plugin = NormalizedAutoencoderTop()
    kw = {"version": "0.1", "settings": settings, "log": lambda _: None, "nae": nae}
    # same file name in two places: torch.save records the name in the archive
    metas = [train_anomaly(plugin, data, tmp_path / f"run{i}" / "m.pt", **kw) for i in range(2)]
    assert metas[0]["sha256"] == metas[1]["sha256"]
    meta = metas[0]
    assert meta["normal_truth"] == 1 and meta["method"] == "nae"
    assert meta["settings"]["seed"] == settings.seed
    assert len(meta["nae"]["val_energy"]) == nae.epochs + 1
    assert 0 <= meta["nae"]["chosen_epoch"] <= nae.epochs
    assert len(meta["nae"]["auc_by_epoch_after_the_fact"]["0"]) == nae.epochs + 1
    # the saved state dict is plain (no spectral-norm parametrisation) and loads safely
    import torch

    state = torch.load(tmp_path / "run0" / "m.pt", weights_only=True)
    AutoencoderQCD().build_module().load_state_dict(state)


def test_choose_epoch_is_label_free() -> None:
    result = NAEResult(val_energy=[1.0, 1.1, 1.2, 1.5], neg_energy=[0.1, 0.5, 1.3, 4.0])
    assert choose_epoch(result) == 2
    never = NAEResult(val_energy=[1.0, 1.0, 1.0], neg_energy=[0.1, 0.2, 0.3])
    assert choose_epoch(never) == 2
    # with the learning rate lowered at the crossing, training settles: the last epoch
    lowered = NAEResult(val_energy=result.val_energy, neg_energy=result.neg_energy, crossed_at=2)
    assert choose_epoch(lowered) == 3


def test_signal_efficiency_at_background_quantile() -> None:
    rng = np.random.default_rng(0)
    background, signal = rng.normal(0, 1, 200_000), rng.normal(2, 1, 50_000)
    labels = np.r_[np.zeros(len(background)), np.ones(len(signal))]
    scores = np.r_[background, signal]
    # the cut at the 99 % quantile of N(0,1) is 2.326; P(N(2,1) > 2.326) = 0.372
    assert signal_efficiency(labels, scores, 1e-2) == pytest.approx(0.372, abs=0.01)
    m = efficiency_metrics(labels, scores, n_bootstrap=20)
    assert m.auc == pytest.approx(0.921, abs=0.005)  # Φ(2/√2)
    assert m.eff_s[1] == pytest.approx(0.138, abs=0.02)  # P(N(2,1) > 3.09)
    assert all(0 < e < 0.02 for e in m.eff_s_err)


def test_validate_anomaly_section(generated: dict[str, list[Path]], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from jetplug.cli import main

    files = [str(f) for f in generated["ttbar"] + generated["qcd"]]
    result = CliRunner().invoke(
        main,
        ["validate", *files, "--section", "anomaly", "-p", "ae_qcd", "-p", "nae_top",
         "--split", "all", "--pt-bins", "400,900", "--n-bootstrap", "5", "-o", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = (tmp_path / "anomaly.md").read_text()
    assert "| `ae_qcd` | QCD | top |" in text and "| `nae_top` | top | QCD |" in text
    assert "NAE checkpoints" in text
    for plot in ("scores_ae_qcd", "efficiency_QCD", "efficiency_top", "epochs_nae_top"):
        assert (tmp_path / "plots" / f"{plot}.png").is_file(), plot
    bad = CliRunner().invoke(
        main, ["validate", *files, "--section", "anomaly", "-p", "top_bdt", "-o", str(tmp_path)]
    )
    assert bad.exit_code != 0
    assert "not anomaly scores" in bad.output


def test_anomaly_section_default_is_the_scores_that_declare_their_training_class() -> None:
    """Without -p the section once failed on the example plugin (no normal_truth)."""
    from jetplug.cli.validate_common import anomaly_plugins

    names = anomaly_plugins(PluginHost())
    assert {"ae_qcd", "ae_top", "nae_qcd", "nae_top"} <= set(names)
    assert "example_anomaly" in PluginHost().models.names() and "example_anomaly" not in names


class TestAutoencoderContract(PluginContract):
    plugin = "ae_qcd"


class TestNormalizedAutoencoderContract(PluginContract):
    plugin = "nae_top"
