"""Multi-class jet tagger on constituents: a Particle Flow Network (Deep Sets).

Up to 64 PF candidates per FatJet with the features of
:mod:`jetplug_taggers.particles`; per-particle network Φ, masked sum
(permutation invariant by construction), network F, softmax over top, W, Z,
H→bb and QCD.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jetplug import lazy_spec, load_model_metadata

from .particles import CLASSES, PARTICLE_FEATURES, ConstituentTagger, constituent_tagger_spec

__all__ = ["ParticleFlowTagger"]

MAX_PARTICLES = 64
_MODEL = Path(__file__).parent / "models" / "pfn.pt"


class ParticleFlowTagger(ConstituentTagger):
    """Multi-class PFN; outputs ``probs`` (with ``probs_<class>`` fields) and ``top_vs_qcd``."""

    spec = lazy_spec(
        "pfn",
        lambda: constituent_tagger_spec(
            "pfn",
            _MODEL,
            load_model_metadata(_MODEL),
            MAX_PARTICLES,
            "multi-class Particle Flow Network on up to 64 PF candidates",
        ),
    )

    def build_module(self) -> Any:
        """The network; weights come from the artifact."""
        from .nets import ParticleFlowNetwork

        return ParticleFlowNetwork(len(PARTICLE_FEATURES), len(CLASSES))
