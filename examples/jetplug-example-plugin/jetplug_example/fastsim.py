"""A fast simulation: reco-like jets from gen jets (xgboost JSON, ``create``, random numbers)."""

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
    Option,
    OutputSpec,
    Target,
    TargetMode,
    TensorSpec,
    lazy_spec,
    shipped_spec,
)

from .shipped import MODELS

MODEL = MODELS / "fastsim.json"  # its metadata: fastsim.meta.json
P4 = ("pt", "eta", "phi", "mass")


def features(inputs: ModelInputs) -> np.ndarray:
    """log(pt/500), |eta| of the gen jet."""
    f = inputs.fields
    return np.stack([np.log(f["pt"] / 500), np.abs(f["eta"])], 1).astype(np.float32)


def build_spec(artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """GenJetAK8 -> ExampleFastJet, dropped by an efficiency, re-sorted by pt."""
    return ModelSpec(
        name="example_fastsim",
        kind=Kind.FASTSIM,
        version=str(meta.get("version", "0")),
        description="reco-like AK8 jets (ExampleFastJet) from GenJetAK8",
        inputs=InputSpec("GenJetAK8", tuple(FieldSpec(n) for n in P4)),
        tensors_in=(TensorSpec("x", "float32", (2,)),),
        tensors_out=(TensorSpec("log_response", "float32", ()),),
        outputs=(*(OutputSpec(n) for n in P4), OutputSpec("reconstructed", "bool")),
        target=Target(TargetMode.CREATE, "ExampleFastJet", keep="reconstructed", sort_by="pt"),
        options=(  # measured by train_examples.py; a run config may override them
            Option("resolution", "float", meta.get("resolution", 0.08), "relative pT smearing"),
            Option("efficiency", "float", meta.get("efficiency", 0.9), "probability to keep"),
        ),
        artifact=artifact,
    )


class FastSim(JetModel):
    """Mean response from the model, smearing and efficiency from per-object random numbers."""

    spec = lazy_spec("example_fastsim", lambda: shipped_spec(MODEL, "xgboost-json", build_spec))

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        return {"x": features(inputs)}

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        f, rnd = inputs.fields, inputs.random
        assert rnd is not None  # jetplug always passes them; keyed by seed, file, entry, index
        scale = np.exp(outputs["log_response"] + self.options["resolution"] * rnd.normal())
        new = {"pt": f["pt"] * scale, "eta": f["eta"], "phi": f["phi"], "mass": f["mass"] * scale}
        return {**new, "reconstructed": rnd.uniform() < self.options["efficiency"]}
