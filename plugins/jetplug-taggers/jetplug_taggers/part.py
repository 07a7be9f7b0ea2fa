"""Multi-class jet tagger on constituents: a small Particle Transformer.

The 32 hardest PF candidates per FatJet with the features of
:mod:`jetplug_taggers.particles`; self-attention biased by pairwise features
(ln ΔR, ln kT, ln z, ln m²), class attention, softmax over top, W, Z, H→bb
and QCD (:class:`jetplug_taggers.nets.ParticleTransformer`). Padded
particles are masked out, so the output is permutation invariant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jetplug import lazy_spec, load_model_metadata

from .particles import CLASSES, PARTICLE_FEATURES, ConstituentTagger, constituent_tagger_spec

__all__ = ["ParticleTransformerTagger"]

MAX_PARTICLES = 32
_MODEL = Path(__file__).parent / "models" / "part.pt"


class ParticleTransformerTagger(ConstituentTagger):
    """Multi-class ParT; outputs ``probs`` (with ``probs_<class>`` fields) and ``top_vs_qcd``."""

    spec = lazy_spec(
        "part",
        lambda: constituent_tagger_spec(
            "part",
            _MODEL,
            load_model_metadata(_MODEL),
            MAX_PARTICLES,
            "multi-class Particle Transformer on the 32 hardest PF candidates",
        ),
    )

    def build_module(self) -> Any:
        """The network; weights come from the artifact."""
        from .nets import ParticleTransformer

        return ParticleTransformer(len(PARTICLE_FEATURES), len(CLASSES))
