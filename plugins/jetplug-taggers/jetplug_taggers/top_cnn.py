"""Top-vs-QCD tagger: a convolutional network on jet images.

Input: up to 128 PF candidates per FatJet, turned into a 32×32 η–φ image of
pT fractions over ±0.8 around the pT centroid, rotated to the principal axis
and flipped (:mod:`jetplug_taggers.images`). Output: ``score`` = P(top).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from jetplug import (
    Artifact,
    ConstituentSpec,
    InputSpec,
    JetModel,
    Kind,
    ModelInputs,
    ModelSpec,
    OutputSpec,
    TensorSpec,
    lazy_spec,
    load_model_metadata,
)

from .images import N_PIXELS, jet_images

__all__ = ["TopCNN"]

MAX_PARTICLES = 128
_MODEL = Path(__file__).parent / "models" / "top_cnn.pt"


def _spec() -> ModelSpec:
    meta = load_model_metadata(_MODEL)
    return ModelSpec(
        name="top_cnn",
        kind=Kind.TAGGER,
        version=str(meta["version"]),
        description="top vs QCD CNN on 32x32 jet images of PF-candidate pT",
        inputs=InputSpec(
            collection="FatJet",
            constituents=ConstituentSpec(
                fields=("pt", "eta", "phi"), max_constituents=MAX_PARTICLES
            ),
        ),
        tensors_in=(TensorSpec("image", "float32", (N_PIXELS, N_PIXELS)),),
        tensors_out=(TensorSpec("score", "float32", ()),),
        outputs=(OutputSpec("score", "float32", description="probability of a top jet"),),
        artifact=Artifact(_MODEL, str(meta["sha256"]), "torch-state-dict"),
    )


class TopCNN(JetModel):
    """Binary top tagger on jet images; output ``score`` = P(top)."""

    signal_truth: ClassVar[int | None] = 1
    spec = lazy_spec("top_cnn", _spec)

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """The ``(n_jets, 32, 32)`` images."""
        assert inputs.constituents is not None
        assert inputs.mask is not None
        c = inputs.constituents
        return {"image": jet_images(c[..., 0], c[..., 1], c[..., 2], inputs.mask)}

    def build_module(self) -> Any:
        """The network; weights come from the artifact."""
        from .nets import JetImageCNN

        return JetImageCNN(N_PIXELS)
