"""Entry point of the ``jetplug-anomaly`` package (group ``jetplug``)."""

from __future__ import annotations

from jetplug import ModelRegistry, hookimpl

from .images import (
    AutoencoderQCD,
    AutoencoderTop,
    NormalizedAutoencoderQCD,
    NormalizedAutoencoderTop,
)


@hookimpl
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Register the anomaly scores."""
    for model in (
        AutoencoderQCD,
        AutoencoderTop,
        NormalizedAutoencoderQCD,
        NormalizedAutoencoderTop,
    ):
        registry.add(model)
