"""What the decorrelators share: the shipped models' folder, spec helpers, ρ and ρ′."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["MODELS", "rho", "rho_prime"]

MODELS = Path(__file__).parent / "models"
_MSD_MIN = 1.0
"""Soft-drop masses below this [GeV] (groomed to nothing) count as this in ρ and ρ′."""


def rho(msoftdrop: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """ρ = ln(m_SD² / pT²), the scaling variable of CMS's DDT maps."""
    m = np.maximum(np.asarray(msoftdrop, np.float64), _MSD_MIN)
    return np.asarray(2.0 * np.log(m / np.maximum(np.asarray(pt, np.float64), 1e-3)))


def rho_prime(msoftdrop: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """ρ′ = ln(m_SD² / (pT · 1 GeV)), the variable of τ21-DDT (Dolen et al.)."""
    m = np.maximum(np.asarray(msoftdrop, np.float64), _MSD_MIN)
    return np.asarray(np.log(m**2 / np.maximum(np.asarray(pt, np.float64), 1e-3)))
