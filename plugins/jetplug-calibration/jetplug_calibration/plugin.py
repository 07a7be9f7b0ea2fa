"""Entry point of the ``jetplug-calibration`` package (group ``jetplug``)."""

from __future__ import annotations

from jetplug import ModelRegistry, hookimpl

from .constituent import ConstituentCalibrator
from .inversion import NumericalInversion
from .regression import JetLevelCalibrator


@hookimpl
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Register the calibrators."""
    registry.add(NumericalInversion)
    registry.add(JetLevelCalibrator)
    registry.add(ConstituentCalibrator)
