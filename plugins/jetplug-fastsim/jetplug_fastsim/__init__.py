"""Fast-simulation plugins for jetplug (kind ``fastsim``): GenJetAK8 -> FastSimFatJet.

See ``docs/fastsim.md``.
"""

from .gan import CONDITIONS, FEATURES, FIELDS, GanFastSim, conditions, decode, encode

__all__ = ["CONDITIONS", "FEATURES", "FIELDS", "GanFastSim", "conditions", "decode", "encode"]
