"""Entry point module (group ``jetplug``, name ``example``)."""

from __future__ import annotations

from jetplug import ModelRegistry, hookimpl

from .multiplicity import MultiplicityTagger


@hookimpl
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Register the example tagger."""
    registry.add(MultiplicityTagger)
