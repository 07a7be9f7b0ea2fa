"""Where the example models live, and their specs built from the shipped metadata."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jetplug import Artifact, ModelSpec, load_model_metadata

MODELS = Path(__file__).parent / "models"

SpecBuilder = Callable[[Artifact, Mapping[str, Any]], ModelSpec]


def shipped(model: Path, fmt: str, build: SpecBuilder) -> ModelSpec:
    """``build``'s spec for the shipped ``model`` (version and sha256 from its metadata)."""
    meta = load_model_metadata(model)
    return build(Artifact(model, meta["sha256"], fmt), meta)


def untrained(model: Path, fmt: str, build: SpecBuilder) -> ModelSpec:
    """``build``'s spec before ``model`` exists (``train_examples.py`` gathers inputs with it)."""
    return build(Artifact(model, "0" * 64, fmt), {})
