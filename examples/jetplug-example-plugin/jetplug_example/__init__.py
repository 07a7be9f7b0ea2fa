"""An example third-party jetplug plugin package: one small plugin of every kind."""

from .anomaly import Anomaly
from .calibrator import Calibrator
from .decorrelator import Decorrelator
from .fastsim import FastSim
from .multiplicity import MultiplicityTagger
from .representation import Representation

__all__ = [
    "Anomaly",
    "Calibrator",
    "Decorrelator",
    "FastSim",
    "MultiplicityTagger",
    "Representation",
]
