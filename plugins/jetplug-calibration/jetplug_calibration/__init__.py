"""Calibrator plugins for jetplug (kind ``calibrator``): FatJet pT towards the gen jet.

``calib_ni`` (numerical inversion, the experiments' baseline), ``calib_bdt``
(xgboost on jet-level features) and ``calib_pfn`` (a network on the jet's PF
candidates). Each replaces ``FatJet.pt``; the file's value stays in
``FatJet.pt_raw``. See ``docs/calibration.md``.
"""

from .common import Calibrator
from .constituent import ConstituentCalibrator
from .inversion import NumericalInversion
from .regression import JetLevelCalibrator

__all__ = ["Calibrator", "ConstituentCalibrator", "JetLevelCalibrator", "NumericalInversion"]
