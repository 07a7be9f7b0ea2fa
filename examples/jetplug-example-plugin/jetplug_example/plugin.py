"""Entry point module (group ``jetplug``, name ``example``)."""

from __future__ import annotations

from jetplug import BackendRegistry, ModelRegistry, hookimpl

from .anomaly import Anomaly
from .backend import DMatrixBackend
from .calibrator import Calibrator
from .decorrelator import Decorrelator
from .fastsim import FastSim
from .multiplicity import MultiplicityTagger
from .representation import Representation


@hookimpl
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Register the example tagger and one example of every other kind."""
    for model in (MultiplicityTagger, Calibrator, Anomaly, FastSim, Decorrelator, Representation):
        registry.add(model)


@hookimpl
def jetplug_register_backends(registry: BackendRegistry) -> None:
    """Register the example backend."""
    registry.add(DMatrixBackend)
