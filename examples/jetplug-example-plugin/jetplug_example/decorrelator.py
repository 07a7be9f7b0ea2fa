"""A decorrelator: the example tagger's score minus its QCD mean at that mass (xgboost JSON)."""

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
    TensorSpec,
    lazy_spec,
    shipped_spec,
)

from .shipped import MODELS

MODEL = MODELS / "decorrelator.json"  # its metadata: decorrelator.meta.json
SCORE = "example_multiplicity.score"  # another plugin's output: it runs first


def features(inputs: ModelInputs) -> np.ndarray:
    """msd/pt and log(pt/500): what the QCD mean of the score depends on."""
    f = inputs.fields
    return np.stack([f["msoftdrop"] / f["pt"], np.log(f["pt"] / 500)], 1).astype(np.float32)


def build_spec(artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """Reads FatJet.example_multiplicity.score (a dotted field), msoftdrop and pt."""
    return ModelSpec(
        name="example_decorrelator",
        kind=Kind.DECORRELATOR,
        version=str(meta.get("version", "0")),
        description="example_multiplicity score minus its QCD mean at the jet's mass and pT",
        inputs=InputSpec("FatJet", (FieldSpec(SCORE), FieldSpec("msoftdrop"), FieldSpec("pt"))),
        tensors_in=(TensorSpec("x", "float32", (2,)),),
        tensors_out=(TensorSpec("qcd_mean", "float32", ()),),
        outputs=(OutputSpec("score", "float32", description="decorrelated score"),),
        requires=("example_multiplicity",),
        artifact=artifact,
    )


class Decorrelator(JetModel):
    """``FatJet.example_decorrelator.score``."""

    spec = lazy_spec(
        "example_decorrelator", lambda: shipped_spec(MODEL, "xgboost-json", build_spec)
    )

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        return {"x": features(inputs)}

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        return {"score": (inputs.fields[SCORE] - outputs["qcd_mean"]).astype(np.float32)}
