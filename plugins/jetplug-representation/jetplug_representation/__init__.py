"""Representation plugins for jetplug: ``jetclr`` (a contrastive FatJet embedding)
and ``jetclr_qcd`` (a QCD-trained anomaly score on it)."""

from .augment import Cloud, collinear_split, rotate, smear, translate
from .jetclr import JetCLR, JetCLRAnomaly

__all__ = [
    "Cloud",
    "JetCLR",
    "JetCLRAnomaly",
    "collinear_split",
    "rotate",
    "smear",
    "translate",
]
