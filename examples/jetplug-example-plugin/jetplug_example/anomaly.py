"""An anomaly score: an autoencoder's reconstruction error (tiny torch state dict)."""

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

MODEL = MODELS / "anomaly.pt"
FIELDS = ("pt", "msoftdrop", "tau1", "tau2", "tau3", "n2b1")


def features(inputs: ModelInputs) -> np.ndarray:
    """msd/pt, tau21, tau32, N2: order one, trained on QCD jets."""
    f = inputs.fields
    eps = 1e-6
    x = [f["msoftdrop"] / f["pt"], f["tau2"] / (f["tau1"] + eps), f["tau3"] / (f["tau2"] + eps)]
    x.append(f["n2b1"])
    return np.stack(x, 1).astype(np.float32)


def network() -> Any:
    """4 -> 2 -> 4: ``forward(x)`` returns ``recon`` (tensors_in in order, one tensor out)."""
    from torch import nn

    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2), nn.ReLU(), nn.Linear(2, 4))


def build_spec(artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """The spec: four features in, their reconstruction out, one score written back."""
    return ModelSpec(
        name="example_anomaly",
        kind=Kind.ANOMALY,
        version=str(meta.get("version", "0")),
        description="autoencoder reconstruction error of FatJet substructure (QCD-trained)",
        inputs=InputSpec("FatJet", tuple(FieldSpec(n) for n in FIELDS)),
        tensors_in=(TensorSpec("x", "float32", (4,)),),
        tensors_out=(TensorSpec("recon", "float32", (4,)),),
        outputs=(OutputSpec("score", "float32", description="mean squared error"),),
        artifact=artifact,
    )


class Anomaly(JetModel):
    """``FatJet.example_anomaly.score``: needs the input tensor, so uses ``prepared``."""

    spec = lazy_spec("example_anomaly", lambda: shipped_spec(MODEL, "torch-state-dict", build_spec))

    def build_module(self) -> Any:
        return network()

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        return {"x": features(inputs)}

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        return {"score": ((prepared["x"] - outputs["recon"]) ** 2).mean(axis=1)}
