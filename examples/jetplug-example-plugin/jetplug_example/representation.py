"""A representation: a 4-d embedding of each FatJet from its PF candidates (torch state dict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from jetplug import (
    Artifact,
    ConstituentSpec,
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

MODEL = MODELS / "representation.pt"
N = 8  # hardest constituents
LABELS = ("msd_over_pt", "tau21", "tau32", "n2b1")  # what each entry is trained to predict


def features(inputs: ModelInputs) -> np.ndarray:
    """Per particle: pT fraction, Δη, Δφ to the jet axis (zero where padded), flattened."""
    assert inputs.constituents is not None  # the spec declares constituents
    assert inputs.mask is not None
    f, c = inputs.fields, inputs.constituents
    dphi = (c[:, :, 2] - f["phi"][:, None] + np.pi) % (2 * np.pi) - np.pi
    x = np.stack([c[:, :, 0] / f["pt"][:, None], c[:, :, 1] - f["eta"][:, None], dphi], 2)
    return (x * inputs.mask[:, :, None]).reshape(len(x), 3 * N).astype(np.float32)


def network() -> Any:
    """``forward(x)`` returns the embedding (batch, 4)."""
    from torch import nn

    return nn.Sequential(nn.Linear(3 * N, 32), nn.ReLU(), nn.Linear(32, 4))


def build_spec(artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """The jet axis and its N hardest PF candidates in; a labelled ``embedding`` (4,) out."""
    return ModelSpec(
        name="example_representation",
        kind=Kind.REPRESENTATION,
        version=str(meta.get("version", "0")),
        description="4-d FatJet embedding from its 8 hardest PF candidates",
        inputs=InputSpec(
            "FatJet",
            (FieldSpec("pt"), FieldSpec("eta"), FieldSpec("phi")),
            constituents=ConstituentSpec(fields=("pt", "eta", "phi"), max_constituents=N),
        ),
        tensors_in=(TensorSpec("x", "float32", (3 * N,)),),
        tensors_out=(TensorSpec("embedding", "float32", (4,)),),
        outputs=(OutputSpec("embedding", "float32", (4,), LABELS),),
        artifact=artifact,
    )


class Representation(JetModel):
    """``FatJet.example_representation.embedding`` and ``embedding_<label>``."""

    spec = lazy_spec(
        "example_representation", lambda: shipped_spec(MODEL, "torch-state-dict", build_spec)
    )

    def build_module(self) -> Any:
        return network()

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        return {"x": features(inputs)}
