"""coffea processors shipped with jetplug."""

from .plugin_processor import PluginProcessor

__all__ = ["PluginProcessor"]
