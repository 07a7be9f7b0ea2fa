"""What the decorrelators share: the shipped models' folder, spec helpers, ρ and ρ′."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jetplug import Artifact, ModelSpec, load_model_metadata

__all__ = ["MODELS", "rho", "rho_prime", "shipped", "untrained"]

MODELS = Path(__file__).parent / "models"
_MSD_MIN = 1.0
"""Soft-drop masses below this [GeV] (groomed to nothing) count as this in ρ and ρ′."""

SpecBuilder = Callable[[Artifact, Mapping[str, Any]], ModelSpec]


def shipped(model: Path, build: SpecBuilder) -> ModelSpec:
    """``build``'s spec for the shipped torch ``model`` (version and sha256 from its metadata)."""
    meta = load_model_metadata(model)
    return build(Artifact(model, str(meta["sha256"]), "torch-state-dict"), meta)


def untrained(model: Path, build: SpecBuilder, meta: Mapping[str, Any] | None = None) -> ModelSpec:
    """``build``'s spec before ``model`` exists (the training script gathers inputs with it)."""
    return build(Artifact(model, "0" * 64, "torch-state-dict"), {"version": "0", **(meta or {})})


def rho(msoftdrop: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """ρ = ln(m_SD² / pT²), the scaling variable of CMS's DDT maps."""
    m = np.maximum(np.asarray(msoftdrop, np.float64), _MSD_MIN)
    return np.asarray(2.0 * np.log(m / np.maximum(np.asarray(pt, np.float64), 1e-3)))


def rho_prime(msoftdrop: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """ρ′ = ln(m_SD² / (pT · 1 GeV)), the variable of τ21-DDT (Dolen et al.)."""
    m = np.maximum(np.asarray(msoftdrop, np.float64), _MSD_MIN)
    return np.asarray(np.log(m**2 / np.maximum(np.asarray(pt, np.float64), 1e-3)))
