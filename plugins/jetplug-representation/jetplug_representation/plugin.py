"""Entry point of the ``jetplug-representation`` package (group ``jetplug``)."""

from __future__ import annotations

from jetplug import ModelRegistry, hookimpl

from .jetclr import JetCLR, JetCLRAnomaly


@hookimpl
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Register the JetCLR embedding and its anomaly score."""
    registry.add(JetCLR)
    registry.add(JetCLRAnomaly)
