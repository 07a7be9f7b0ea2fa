"""Entry point of the ``jetplug-meta`` package (group ``jetplug``)."""

from __future__ import annotations

from jetplug import ModelRegistry, hookimpl

from .tagger import few_shot_plugins


@hookimpl
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Register every adapted few-shot tagger (``models/meta_*.pt``)."""
    for plugin in few_shot_plugins():
        registry.add(plugin)
