"""Top-vs-QCD tagger: a small torch MLP on the same substructure features as ``top_bdt``.

It exercises the torch path end to end (local CPU/CUDA and Triton) with a
real trained network; the standardisation constants live in the state dict
(buffers) and are mirrored in the spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from jetplug import JetModel, ModelInputs, lazy_spec, load_model_metadata

from .features import FEATURES, substructure_features, substructure_tagger_spec

__all__ = ["TopMLP"]

_MODEL = Path(__file__).parent / "models" / "top_mlp.pt"


class TopMLP(JetModel):
    """Binary top tagger (MLP, 2×64 hidden units); output ``score`` = P(top)."""

    signal_truth: ClassVar[int | None] = 1

    spec = lazy_spec(
        "top_mlp",
        lambda: substructure_tagger_spec(
            "top_mlp",
            _MODEL,
            load_model_metadata(_MODEL),
            "torch-state-dict",
            "top vs QCD MLP (torch) on FatJet substructure",
        ),
    )

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """The ``(n_jets, 6)`` feature matrix (standardised inside the module)."""
        return {"features": substructure_features(inputs)}

    def build_module(self) -> Any:
        """The architecture; weights come from the artifact."""
        from .nets import StandardizedMLP

        return StandardizedMLP(len(FEATURES))
