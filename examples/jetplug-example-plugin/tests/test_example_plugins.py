"""The example plugins: the jetplug contract (``jetplug.testing``) and what each one does.

Run from the repository (``pytest``: ``examples/jetplug-example-plugin/tests`` is a
test path) or from this directory. Real files are found with ``--jetplug-data
DIR`` or ``$JETPLUG_DATA``; without them those tests are skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from jetplug import PluginHost
from jetplug.artifacts import metadata_path
from jetplug.testing import PluginContract, events_from_file, run_plugin, synthetic_events

HERE = Path(__file__).resolve().parents[1]
MODELS = HERE / "jetplug_example" / "models"


def flat(array: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array, axis=1))


@pytest.fixture(scope="module")
def pfnano_file_chunk(jetplug_file: object) -> ak.Array:
    """The real CMS PFNano file (skipped when it is not found)."""
    return events_from_file(jetplug_file("pfnano.root"))  # type: ignore[operator]


@pytest.fixture(scope="module")
def events() -> ak.Array:
    """Synthetic events the models were not trained on (they were: seed 7)."""
    return synthetic_events(600, seed=11)


# -- the contract, for every example ---------------------------------------------------------------
class TestMultiplicity(PluginContract):
    plugin = "example_multiplicity"


class TestMultiplicityOnNanoAOD(PluginContract):
    plugin = "example_multiplicity"
    chunk = "nanoaod_chunk"  # FatJet_nConstituents stored, not derived


class TestMultiplicityOnTheDMatrixBackend(PluginContract):
    plugin = "example_multiplicity"
    config = {"backend": "xgboost-dmatrix"}  # noqa: RUF012


class TestCalibrator(PluginContract):
    plugin = "example_calibrator"


class TestAnomaly(PluginContract):
    plugin = "example_anomaly"


class TestFastSim(PluginContract):
    plugin = "example_fastsim"
    config = {"seed": 3, "options": {"efficiency": 0.7}}  # noqa: RUF012


class TestDecorrelator(PluginContract):
    plugin = "example_decorrelator"


class TestRepresentation(PluginContract):
    plugin = "example_representation"


class TestFastSimOnARealFile(PluginContract):
    plugin = "example_fastsim"
    chunk = "pfnano_file_chunk"


class TestRepresentationOnARealFile(PluginContract):
    plugin = "example_representation"
    chunk = "pfnano_file_chunk"


# -- what each example does ----------------------------------------------------------------------
def test_calibrator_moves_pt_to_the_gen_jet(events: ak.Array, jetplug_host: PluginHost) -> None:
    out = run_plugin("example_calibrator", events, host=jetplug_host)
    gen = flat(ak.fill_none(events.FatJet.matched_gen.pt, np.nan))
    ok = np.isfinite(gen)
    raw, calibrated = flat(events.FatJet["pt"])[ok], flat(out.pt)[ok]
    assert abs(np.median(calibrated / gen[ok]) - 1) < 0.3 * abs(np.median(raw / gen[ok]) - 1)


def test_anomaly_scores_tops_above_qcd(events: ak.Array, jetplug_host: PluginHost) -> None:
    score = flat(run_plugin("example_anomaly", events, host=jetplug_host).score)
    truth = flat(events.FatJet["truthLabel"])
    assert np.median(score[truth == 1]) > 1.5 * np.median(score[truth == 0])


def test_fastsim_smears_drops_and_ranks(events: ak.Array, jetplug_host: PluginHost) -> None:
    jets = run_plugin("example_fastsim", events, host=jetplug_host, options={"efficiency": 0.5})
    n_gen = int(ak.sum(ak.num(events.GenJetAK8)))
    assert abs(ak.sum(ak.num(jets)) / n_gen - 0.5) < 0.05
    assert all(row == sorted(row, reverse=True) for row in ak.to_list(jets.pt))
    response = flat(jets.pt / events.GenJetAK8[jets.sourceIdx].pt)
    meta = json.loads((MODELS / "fastsim.meta.json").read_text())
    assert abs(np.std(np.log(response)) - meta["resolution"]) < 0.3 * meta["resolution"]
    assert float(ak.max(jets.delta_r(events.GenJetAK8[jets.sourceIdx]))) < 1e-6


def test_decorrelator_flattens_the_qcd_mass_dependence(
    events: ak.Array, jetplug_host: PluginHost
) -> None:
    raw = flat(run_plugin("example_multiplicity", events, host=jetplug_host).score)
    decorrelated = flat(run_plugin("example_decorrelator", events, host=jetplug_host).score)
    qcd = flat(events.FatJet["truthLabel"]) == 0
    msd = flat(events.FatJet["msoftdrop"])[qcd]
    before = abs(np.corrcoef(raw[qcd], msd)[0, 1])
    assert abs(np.corrcoef(decorrelated[qcd], msd)[0, 1]) < 0.5 * before


def test_representation_embeds_the_jet_mass(events: ak.Array, jetplug_host: PluginHost) -> None:
    out = run_plugin("example_representation", events, host=jetplug_host)
    assert flat(out.embedding).shape[1:] == (4,)
    fat = events.FatJet
    target = flat(fat["msoftdrop"] / fat["pt"])
    assert np.corrcoef(flat(out.embedding_msd_over_pt), target)[0, 1] > 0.7


@pytest.mark.slow
def test_train_examples_reproduces_the_shipped_models(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(HERE / "train_examples.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    models = ("calibrator.json", "anomaly.pt", "fastsim.json", "decorrelator.json")
    for name in (*models, "representation.pt"):
        shipped = json.loads(metadata_path(MODELS / name).read_text())
        again = json.loads(metadata_path(tmp_path / name).read_text())
        if shipped["training"]["trainer"] != again["training"]["trainer"]:
            pytest.skip(f"{name}: trained with {shipped['training']['trainer']}, not here")
        assert again["sha256"] == shipped["sha256"], f"{name} is not reproduced"
