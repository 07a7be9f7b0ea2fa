"""Training beyond taggers: the plugin's own inputs, truth and gen-matched targets."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import xgboost as xgb
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

from jetplug import (
    Artifact,
    FieldSpec,
    InputSpec,
    JetModel,
    JetplugError,
    Kind,
    ModelInputs,
    ModelRegistry,
    ModelSpec,
    OutputSpec,
    PluginHost,
    Plugins,
    Target,
    TargetMode,
    TensorSpec,
    hookimpl,
    write_model_metadata,
)
from jetplug.columns import gather_inputs
from jetplug.training import TrainingData, TrainSettings, training_inputs
from jetplug.training.dispatch import train_plugin
from jetplug.training.inputs import _gen_match

from .contract_plugins import ContractPlugins, make_models


def _events(path: Path) -> ak.Array:
    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()


def test_training_inputs_are_what_prepare_sees(generated: dict[str, list[Path]]) -> None:
    from jetplug_taggers import TopBDT
    from jetplug_taggers.part import ParticleTransformerTagger

    path = generated["ttbar"][0]
    host = PluginHost()
    for model in (TopBDT, ParticleTransformerTagger):
        data = training_inputs([path], model.spec)
        ref, counts = gather_inputs(_events(path), model.spec, host.derivations)
        assert len(data) == int(counts.sum()) > 50
        for name, values in ref.fields.items():
            np.testing.assert_array_equal(data.inputs.fields[name], values)
        if ref.constituents is not None:
            np.testing.assert_array_equal(data.inputs.constituents, ref.constituents)
        prepared = model().prepare(data.inputs)
        assert set(prepared) == {t.name for t in model.spec.tensors_in}
    assert set(np.unique(data.split)) == {"train", "val", "test"}
    assert set(np.unique(data.truth)) <= {-1, 0, 1, 2, 3, 4}


def test_gen_matching_by_index_and_by_delta_r_agree(generated: dict[str, list[Path]]) -> None:
    events = _events(generated["qcd"][0])
    by_index, matched = _gen_match(events, "FatJet")
    without = ak.with_field(
        events,
        ak.zip({k: events.FatJet[k] for k in ("pt", "eta", "phi", "mass")}),
        "FatJet",
    )
    by_dr, matched_dr = _gen_match(without, "FatJet")
    assert matched.mean() > 0.9
    both = matched & matched_dr
    assert both.mean() > 0.85
    np.testing.assert_allclose(by_dr["pt"][both], by_index["pt"][both])
    data = training_inputs(generated["qcd"][:1], make_host().spec("pt_calibrator"))
    ratio = data.reco["pt"][data.matched] / data.gen["pt"][data.matched]
    assert 0.9 < np.median(ratio) < 1.1
    assert np.all(np.isnan(data.gen["pt"][~data.matched]))


def make_host(models: Mapping[str, type[JetModel]] | None = None) -> PluginHost:
    if models is None:
        models = make_models(Path(__import__("tempfile").mkdtemp()))
    return PluginHost(plugins=[ContractPlugins(models)])


class LogResponseCalibrator(JetModel):
    """Predicts log(pT_gen / pT_reco) with xgboost and trains itself (JetModel.train)."""

    FEATURES = ("pt", "eta", "msoftdrop")
    spec = ModelSpec(
        name="log_response",
        kind=Kind.CALIBRATOR,
        version="0",
        inputs=InputSpec("FatJet", tuple(FieldSpec(f) for f in FEATURES)),
        tensors_in=(TensorSpec("x", "float32", (3,)),),
        tensors_out=(TensorSpec("log_r", "float32", ()),),
        outputs=(OutputSpec("pt"),),
        target=Target(TargetMode.REPLACE),
        artifact=Artifact(Path("untrained.json"), "0" * 64, "xgboost-json"),
    )

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        return {"x": np.stack([inputs.fields[f] for f in self.FEATURES], axis=1).astype("f4")}

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        return {"pt": (inputs.fields["pt"] * np.exp(outputs["log_r"])).astype("f4")}

    def train(
        self,
        data: TrainingData,
        output: Path,
        *,
        version: str,
        settings: TrainSettings,
        log: Callable[[str], None],
    ) -> dict[str, Any]:
        use = data.matched & (data.split == "train")
        x = self.prepare(data.inputs)["x"]
        y = np.log(data.gen["pt"] / data.reco["pt"])
        booster = xgb.train(
            {"max_depth": 3, "eta": 0.2, "nthread": 1, "seed": settings.seed},
            xgb.DMatrix(x[use], label=y[use]),
            num_boost_round=30,
        )
        booster.save_model(str(output))
        log(f"trained on {int(use.sum())} matched jets")
        return write_model_metadata(output, version, matched=int(use.sum()))


def test_a_calibrator_trains_itself_on_gen_matched_targets(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    class Plugin:
        @hookimpl
        def jetplug_register_models(self, registry: ModelRegistry) -> None:
            registry.add(LogResponseCalibrator)

    host = PluginHost(plugins=[Plugin()])
    files = generated["ttbar"] + generated["qcd"]
    lines: list[str] = []
    output, meta = train_plugin(
        host, "log_response", files, tmp_path / "calib.json", version="0.1", log=lines.append
    )
    assert meta["matched"] > 100 and any("gen-matched" in line for line in lines)

    class Trained(LogResponseCalibrator):
        spec = dataclasses.replace(
            LogResponseCalibrator.spec,
            name="log_response_trained",
            artifact=Artifact(output, meta["sha256"], "xgboost-json"),
        )

    class TrainedPlugin:
        @hookimpl
        def jetplug_register_models(self, registry: ModelRegistry) -> None:
            registry.add(Trained)

    data = training_inputs(files, Trained.spec)
    test = data.matched & (data.split == "test")
    events = [_events(f) for f in files]
    plugins = Plugins(["log_response_trained"], host=PluginHost(plugins=[TrainedPlugin()]))
    calibrated = np.concatenate([ak.to_numpy(ak.flatten(plugins(e).FatJet.pt)) for e in events])
    raw_bias = abs(np.median(data.reco["pt"][test] / data.gen["pt"][test]) - 1)
    cal_bias = abs(np.median(calibrated[test] / data.gen["pt"][test]) - 1)
    assert cal_bias <= max(raw_bias, 0.01)  # no worse than raw (the default response is unbiased)


def test_untrainable_plugins_are_refused_with_what_to_do(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    host = make_host()
    with pytest.raises(JetplugError, match=r"'pt_calibrator' is a calibrator.*JetModel.train\(\)"):
        train_plugin(host, "pt_calibrator", generated["qcd"], tmp_path / "x.json")


def test_cosine_schedule_ends_flat_at_its_final_factor() -> None:
    from jetplug.training.schedule import cosine_decay, cosine_factor

    assert cosine_factor(0.0) == 1.0 and cosine_factor(-0.5) == 1.0  # before the start
    assert cosine_factor(0.5, final=0.2) == pytest.approx(0.6)  # half way: the mean
    assert cosine_factor(1.0, final=0.05) == pytest.approx(0.05)
    assert cosine_factor(3.0, final=0.05) == pytest.approx(0.05)  # past the plan: flat
    factors = [cosine_decay(100, 0.1)(k) for k in range(0, 121, 10)]
    assert all(a >= b for a, b in itertools.pairwise(factors))  # never rises
    assert factors[-1] == pytest.approx(0.1) and factors[0] == 1.0
