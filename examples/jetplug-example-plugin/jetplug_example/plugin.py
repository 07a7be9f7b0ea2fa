"""Entry point module (group ``jetplug``, name ``example``)."""

from __future__ import annotations

from jetplug import BackendRegistry, ModelRegistry, hookimpl

from .backend import DMatrixBackend
from .multiplicity import MultiplicityTagger


@hookimpl
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Register the example tagger."""
    registry.add(MultiplicityTagger)


@hookimpl
def jetplug_register_backends(registry: BackendRegistry) -> None:
    """Register the example backend."""
    registry.add(DMatrixBackend)
