"""Entry point of the ``jetplug-taggers`` package (group ``jetplug``)."""

from __future__ import annotations

from jetplug import ModelRegistry, hookimpl

from .top_bdt import TopBDT


@hookimpl
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Register the built-in taggers."""
    registry.add(TopBDT)
