"""Entry point of the ``jetplug-adaptation`` package (group ``jetplug``)."""

from __future__ import annotations

from jetplug import ModelRegistry, hookimpl

from .common import NETWORKS, model_path
from .networks import adapted_plugin


@hookimpl
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Register every trained adapted tagger."""
    for name in NETWORKS:
        if model_path(name).with_suffix(".json").is_file():
            registry.add(adapted_plugin(name))
