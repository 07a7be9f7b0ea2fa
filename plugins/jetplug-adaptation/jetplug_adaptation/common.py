"""What the adaptation plugins share: the shipped models' folder and the methods."""

from __future__ import annotations

from pathlib import Path

from jetplug_decorrelation.networks import point_name

__all__ = ["METHODS", "MODELS", "NETWORKS", "model_path", "point_name"]

MODELS = Path(__file__).parent / "models"
METHODS = {
    "dann": "domain-adversarial (gradient reversal, unlabelled target jets; arXiv:1409.7495)",
    "sysadv": "systematic-aware adversarial (adversary predicts the shift from the score; "
    "arXiv:1611.01046)",
}
NETWORKS = tuple(f"{m}_top" for m in METHODS)
"""Plugin names: ``dann_top``, ``sysadv_top`` (top vs QCD)."""


def model_path(name: str) -> Path:
    """The state dict of network ``name``."""
    return MODELS / f"{name}.pt"
