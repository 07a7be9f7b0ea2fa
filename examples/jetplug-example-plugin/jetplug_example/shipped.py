"""Where the example models live (their specs come from ``jetplug.shipped_spec``)."""

from __future__ import annotations

from pathlib import Path

MODELS = Path(__file__).parent / "models"
