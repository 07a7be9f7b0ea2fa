"""Top-vs-QCD tagger: a small torch MLP on the same substructure features as ``top_bdt``.

It exists to exercise the torch path end to end (local CPU/CUDA and Triton)
with a real trained network; standardisation constants live in the state
dict (buffers) and are mirrored in the spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jetplug import (
    Artifact,
    InputSpec,
    JetModel,
    Kind,
    ModelInputs,
    ModelSpec,
    OutputSpec,
    TensorSpec,
    load_model_metadata,
)

from .features import FEATURES, FIELDS, substructure_features

__all__ = ["TopMLP"]

_MODEL = Path(__file__).parent / "models" / "top_mlp.pt"
_META = load_model_metadata(_MODEL)


class TopMLP(JetModel):
    """Binary top tagger (MLP, 2×64 hidden units); output ``score`` = P(top)."""

    spec = ModelSpec(
        name="top_mlp",
        kind=Kind.TAGGER,
        version=_META["version"],
        description="top vs QCD MLP (torch) on FatJet substructure",
        inputs=InputSpec(
            collection="FatJet",
            fields=FIELDS,
            standardization={
                f: (float(m), float(s))
                for f, m, s in zip(
                    FEATURES,
                    _META.get("standardization", {}).get("mean", [0.0] * len(FEATURES)),
                    _META.get("standardization", {}).get("std", [1.0] * len(FEATURES)),
                    strict=True,
                )
            },
        ),
        tensors_in=(TensorSpec("features", "float32", (len(FEATURES),)),),
        tensors_out=(TensorSpec("score", "float32", ()),),
        outputs=(OutputSpec("score", "float32", description="MLP probability of a top jet"),),
        artifact=Artifact(_MODEL, _META["sha256"], "torch-state-dict"),
    )

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """The ``(n_jets, 6)`` feature matrix (standardised inside the module)."""
        return {"features": substructure_features(inputs)}

    def build_module(self) -> Any:
        """The architecture; weights come from the artifact."""
        from .nets import StandardizedMLP

        return StandardizedMLP(len(FEATURES))
