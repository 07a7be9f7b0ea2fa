"""Entry point of the ``jetplug-taggers`` package (group ``jetplug``)."""

from __future__ import annotations

from jetplug import ModelRegistry, hookimpl

from .part import ParticleTransformerTagger
from .pfn import ParticleFlowTagger
from .top_bdt import TopBDT
from .top_cnn import TopCNN
from .top_mlp import TopMLP


@hookimpl
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Register the built-in taggers."""
    registry.add(TopBDT)
    registry.add(TopMLP)
    registry.add(ParticleFlowTagger)
    registry.add(TopCNN)
    registry.add(ParticleTransformerTagger)
