"""Entry point of the ``jetplug-decorrelation`` package (group ``jetplug``)."""

from __future__ import annotations

from jetplug import ModelRegistry, hookimpl

from .ddt import Tau21DDT, ddt_map_plugins
from .networks import NETWORKS, model_path, network_plugin


@hookimpl
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Register τ21-DDT, every shipped DDT map and the trained networks."""
    registry.add(Tau21DDT)
    for plugin in ddt_map_plugins():
        registry.add(plugin)
    for name in NETWORKS:
        if model_path(name).with_suffix(".json").is_file():
            registry.add(network_plugin(name))
