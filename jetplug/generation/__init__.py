"""Event generation: Pythia 8 + a parametrised detector response + FastJet -> PFNano ROOT.

``jetplug generate PROCESS`` (or :func:`generate`) writes NanoAOD/PFNano-layout
files that coffea's ``PFNanoAODSchema`` reads with ``FatJet.constituents.pf``.
See ``docs/generation.md``.
"""

from ..samples import detectors_of, read_detector, read_generator
from .detector import DetectorResponse
from .driver import JOB_EVENTS, generate
from .processes import PROCESSES, Process
from .truth import TruthLabel

__all__ = [
    "JOB_EVENTS",
    "PROCESSES",
    "DetectorResponse",
    "Process",
    "TruthLabel",
    "detectors_of",
    "generate",
    "read_detector",
    "read_generator",
]
