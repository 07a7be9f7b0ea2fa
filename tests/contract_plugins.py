"""Plugins of every contract shape, with small real xgboost models trained on the fly.

They exercise what the contract must admit besides a tagger: a calibrator that
replaces a column, a fast-simulation plugin that creates a collection from gen
jets, and a decorrelator that post-processes another plugin's score (and reads
the calibrated pT, so it depends on two plugins).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import xgboost as xgb

from jetplug import (
    Artifact,
    FieldSpec,
    InputSpec,
    JetModel,
    Kind,
    ModelInputs,
    ModelRegistry,
    ModelSpec,
    Option,
    OutputSpec,
    Target,
    TargetMode,
    TensorSpec,
    hookimpl,
)
from jetplug.spec import sha256_file


def calib_factor(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """The correction the calibrator's model learns."""
    return 1.0 + 0.05 * np.tanh(eta) + 20.0 / (pt + 100.0)


def fastsim_response(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """The reco/gen response the fast-sim model learns."""
    return 0.95 + 0.02 * np.abs(eta)


def decorrelation_offset(msd: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """The mass-dependent offset the decorrelator's model learns."""
    return 0.2 * np.log1p(msd**2 / pt)


def train_regressor(
    path: Path, ranges: list[tuple[float, float]], target: Callable[..., np.ndarray]
) -> Artifact:
    """Train a small xgboost regressor on uniform inputs; save as JSON."""
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(lo, hi, 4000) for lo, hi in ranges]).astype(np.float32)
    booster = xgb.train(
        {"objective": "reg:squarederror", "max_depth": 6, "eta": 0.3, "nthread": 1},
        xgb.DMatrix(x, label=target(*x.T)),
        num_boost_round=60,
    )
    booster.save_model(str(path))
    return Artifact(path, sha256_file(path), "xgboost-json")


class Stacked(JetModel):
    """Base of the contract plugins: the model input ``x`` stacks the fields ``STACK``."""

    STACK: ClassVar[tuple[str, ...]] = ("pt", "eta")

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        cols = [np.asarray(inputs.fields[n], dtype=np.float32) for n in self.STACK]
        return {"x": np.stack(cols, axis=1) if cols else np.zeros((0, 2), np.float32)}


def make_models(tmp: Path) -> dict[str, type[JetModel]]:
    """Build the contract plugins with freshly trained artifacts under ``tmp``."""
    calib_art = train_regressor(tmp / "calib.json", [(150, 1500), (-2.5, 2.5)], calib_factor)
    fast_art = train_regressor(tmp / "fast.json", [(100, 1500), (-2.5, 2.5)], fastsim_response)
    decor_art = train_regressor(tmp / "decor.json", [(0, 300), (150, 1500)], decorrelation_offset)

    class PtCalibrator(Stacked):
        spec = ModelSpec(
            name="pt_calibrator",
            kind=Kind.CALIBRATOR,
            version="0.1",
            inputs=InputSpec("FatJet", (FieldSpec("pt"), FieldSpec("eta"))),
            tensors_in=(TensorSpec("x", "float32", (2,)),),
            tensors_out=(TensorSpec("factor", "float32", ()),),
            outputs=(OutputSpec("pt", "float32"),),
            target=Target(TargetMode.REPLACE),
            artifact=calib_art,
        )

        def finalize(
            self,
            tensors: Mapping[str, np.ndarray],
            inputs: ModelInputs,
            prepared: Mapping[str, np.ndarray],
        ) -> dict[str, np.ndarray]:
            return {"pt": (inputs.fields["pt"] * tensors["factor"]).astype(np.float32)}

    class GenFastSim(Stacked):
        spec = ModelSpec(
            name="gen_fastsim",
            kind=Kind.FASTSIM,
            version="0.1",
            inputs=InputSpec(
                "GenJetAK8", tuple(FieldSpec(n) for n in ("pt", "eta", "phi", "mass"))
            ),
            tensors_in=(TensorSpec("x", "float32", (2,)),),
            tensors_out=(TensorSpec("response", "float32", ()),),
            outputs=tuple(OutputSpec(n, "float32") for n in ("pt", "eta", "phi", "mass")),
            target=Target(TargetMode.CREATE, "FastSimFatJet"),
            artifact=fast_art,
        )

        def finalize(
            self,
            tensors: Mapping[str, np.ndarray],
            inputs: ModelInputs,
            prepared: Mapping[str, np.ndarray],
        ) -> dict[str, np.ndarray]:
            f = inputs.fields
            r = tensors["response"]
            return {
                "pt": (f["pt"] * r).astype(np.float32),
                "eta": np.asarray(f["eta"], np.float32),
                "phi": np.asarray(f["phi"], np.float32),
                "mass": (f["mass"] * r).astype(np.float32),
            }

    class ScoreDecorrelator(Stacked):
        spec = ModelSpec(
            name="score_decorrelator",
            kind=Kind.DECORRELATOR,
            version="0.1",
            inputs=InputSpec(
                "FatJet", (FieldSpec("top_bdt.score"), FieldSpec("msoftdrop"), FieldSpec("pt"))
            ),
            tensors_in=(TensorSpec("x", "float32", (2,)),),
            tensors_out=(TensorSpec("offset", "float32", ()),),
            outputs=(OutputSpec("score", "float32"), OutputSpec("pt_seen", "float32")),
            requires=("top_bdt", "pt_calibrator"),
            artifact=decor_art,
        )

        STACK = ("msoftdrop", "pt")

        def finalize(
            self,
            tensors: Mapping[str, np.ndarray],
            inputs: ModelInputs,
            prepared: Mapping[str, np.ndarray],
        ) -> dict[str, np.ndarray]:
            f = inputs.fields
            return {
                "score": (f["top_bdt.score"] - tensors["offset"]).astype(np.float32),
                "pt_seen": np.asarray(f["pt"], np.float32),
            }

    class SecondCalibrator(PtCalibrator):
        """Another calibration of FatJet.pt: halves what the first one added."""

        spec = dataclasses.replace(PtCalibrator.spec, name="pt_calibrator2")

        def finalize(
            self,
            tensors: Mapping[str, np.ndarray],
            inputs: ModelInputs,
            prepared: Mapping[str, np.ndarray],
        ) -> dict[str, np.ndarray]:
            return {"pt": (inputs.fields["pt"] * 0.5 * (1 + tensors["factor"])).astype(np.float32)}

    class PtSeen(Stacked):
        """A tagger that reads FatJet.pt (no ``requires``): records what it saw."""

        spec = ModelSpec(
            name="pt_seen",
            kind=Kind.TAGGER,
            version="0.1",
            inputs=InputSpec("FatJet", (FieldSpec("pt"), FieldSpec("eta"))),
            tensors_in=(TensorSpec("x", "float32", (2,)),),
            tensors_out=(TensorSpec("factor", "float32", ()),),
            outputs=(OutputSpec("pt", "float32"),),
            artifact=calib_art,
        )

        def finalize(
            self,
            tensors: Mapping[str, np.ndarray],
            inputs: ModelInputs,
            prepared: Mapping[str, np.ndarray],
        ) -> dict[str, np.ndarray]:
            return {"pt": np.asarray(inputs.fields["pt"], np.float32)}

    class ReconstructionError(Stacked):
        """An anomaly score that needs input and output together: |pt - model(pt, eta)|."""

        spec = ModelSpec(
            name="recon_error",
            kind=Kind.ANOMALY,
            version="0.1",
            inputs=InputSpec("FatJet", (FieldSpec("pt"), FieldSpec("eta"))),
            tensors_in=(TensorSpec("x", "float32", (2,)),),
            tensors_out=(TensorSpec("recon", "float32", ()),),
            outputs=(OutputSpec("score", "float32"),),
            artifact=calib_art,
        )

        def finalize(
            self,
            tensors: Mapping[str, np.ndarray],
            inputs: ModelInputs,
            prepared: Mapping[str, np.ndarray],
        ) -> dict[str, np.ndarray]:
            return {"score": np.abs(prepared["x"][:, 0] - tensors["recon"]).astype(np.float32)}

    class SmearingFastSim(Stacked):
        """Gen jets -> reco-like jets: random smearing, an efficiency, re-ranked by pt."""

        spec = ModelSpec(
            name="smear_fastsim",
            kind=Kind.FASTSIM,
            version="0.1",
            inputs=InputSpec(
                "GenJetAK8", tuple(FieldSpec(n) for n in ("pt", "eta", "phi", "mass"))
            ),
            tensors_in=(TensorSpec("x", "float32", (2,)),),
            tensors_out=(TensorSpec("response", "float32", ()),),
            outputs=(
                *(OutputSpec(n, "float32") for n in ("pt", "eta", "phi", "mass")),
                OutputSpec("reconstructed", "bool"),
            ),
            target=Target(TargetMode.CREATE, "SmearedJet", keep="reconstructed", sort_by="pt"),
            artifact=fast_art,
            options=(Option("resolution", "float", 0.3, "relative pt resolution"),),
        )

        def finalize(
            self,
            tensors: Mapping[str, np.ndarray],
            inputs: ModelInputs,
            prepared: Mapping[str, np.ndarray],
        ) -> dict[str, np.ndarray]:
            assert inputs.random is not None
            f = inputs.fields
            smear = 1.0 + self.options["resolution"] * inputs.random.normal()
            pt = f["pt"] * tensors["response"] * smear
            return {
                "pt": pt.astype(np.float32),
                "eta": np.asarray(f["eta"], np.float32),
                "phi": np.asarray(f["phi"], np.float32),
                "mass": np.asarray(f["mass"], np.float32),
                "reconstructed": inputs.random.uniform() < 0.8,
            }

    models = (
        PtCalibrator,
        GenFastSim,
        ScoreDecorrelator,
        SecondCalibrator,
        PtSeen,
        ReconstructionError,
        SmearingFastSim,
    )
    return {m.spec.name: m for m in models}


class ContractPlugins:
    """A pluggy plugin object registering the contract models."""

    def __init__(self, models: Mapping[str, type[JetModel]]) -> None:
        self.models = dict(models)

    @hookimpl
    def jetplug_register_models(self, registry: ModelRegistry) -> None:
        for model in self.models.values():
            registry.add(model)
