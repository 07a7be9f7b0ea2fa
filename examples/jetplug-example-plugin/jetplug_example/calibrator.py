"""A calibrator: FatJet pT corrected towards the matched gen jet (xgboost JSON, ``replace``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from jetplug import (
    Artifact,
    FieldSpec,
    InputSpec,
    JetModel,
    Kind,
    ModelInputs,
    ModelSpec,
    OutputSpec,
    Target,
    TargetMode,
    TensorSpec,
    lazy_spec,
    shipped_spec,
)

from .shipped import MODELS

MODEL = MODELS / "calibrator.json"  # its metadata: calibrator.meta.json


def features(inputs: ModelInputs) -> np.ndarray:
    """log(pt/500), eta, msd/pt."""
    f = inputs.fields
    return np.stack([np.log(f["pt"] / 500), f["eta"], f["msoftdrop"] / f["pt"]], 1).astype("f4")


def build_spec(artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """The spec: reads FatJet pt, eta, msoftdrop; replaces FatJet.pt."""
    return ModelSpec(
        name="example_calibrator",
        kind=Kind.CALIBRATOR,
        version=str(meta.get("version", "0")),
        description="FatJet pT calibrated to the matched GenJetAK8",
        inputs=InputSpec("FatJet", (FieldSpec("pt"), FieldSpec("eta"), FieldSpec("msoftdrop"))),
        tensors_in=(TensorSpec("x", "float32", (3,)),),
        tensors_out=(TensorSpec("log_correction", "float32", ()),),
        outputs=(OutputSpec("pt", "float32", description="calibrated pT"),),
        target=Target(TargetMode.REPLACE),  # FatJet.pt; the file's value stays in FatJet.pt_raw
        artifact=artifact,
    )


class Calibrator(JetModel):
    """``FatJet.pt`` times exp(predicted log(pT_gen / pT))."""

    spec = lazy_spec("example_calibrator", lambda: shipped_spec(MODEL, "xgboost-json", build_spec))

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        return {"x": features(inputs)}

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        pt = inputs.fields["pt"] * np.exp(outputs["log_correction"])
        return {"pt": pt.astype(np.float32)}
