"""Substructure features shared by the built-in high-level taggers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jetplug import (
    Artifact,
    FieldSpec,
    InputSpec,
    Kind,
    ModelInputs,
    ModelSpec,
    OutputSpec,
    TensorSpec,
)

__all__ = ["FEATURES", "FIELDS", "substructure_features", "substructure_tagger_spec"]

FIELDS = tuple(FieldSpec(n) for n in ("msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1"))
"""NanoAOD FatJet branches read (present in generated and CMS files alike)."""

FEATURES = ("msoftdrop", "tau21", "tau32", "tau43", "n2b1", "n3b1")
"""Columns of the feature matrix."""


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float32)
    den = np.asarray(den, dtype=np.float32)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def substructure_features(inputs: ModelInputs) -> np.ndarray:
    """``(n_jets, 6)`` float32: m_SD, τ21, τ32, τ43, N2, N3 (ratios with τ = 0 give 0)."""
    f = inputs.fields
    columns = [
        np.asarray(f["msoftdrop"], dtype=np.float32),
        _ratio(f["tau2"], f["tau1"]),
        _ratio(f["tau3"], f["tau2"]),
        _ratio(f["tau4"], f["tau3"]),
        np.asarray(f["n2b1"], dtype=np.float32),
        np.asarray(f["n3b1"], dtype=np.float32),
    ]
    return np.stack(columns, axis=1)


def substructure_tagger_spec(
    name: str,
    model: Path,
    meta: Mapping[str, Any],
    artifact_format: str,
    description: str,
) -> ModelSpec:
    """The spec shared by the binary top taggers on :data:`FEATURES`.

    ``meta`` is the model's metadata (version, sha256). Networks standardise
    their inputs inside the module (buffers saved with the weights).
    """
    return ModelSpec(
        name=name,
        kind=Kind.TAGGER,
        version=str(meta["version"]),
        description=description,
        inputs=InputSpec(collection="FatJet", fields=FIELDS),
        tensors_in=(TensorSpec("features", "float32", (len(FEATURES),)),),
        tensors_out=(TensorSpec("score", "float32", ()),),
        outputs=(OutputSpec("score", "float32", description="probability of a top jet"),),
        artifact=Artifact(model, str(meta["sha256"]), artifact_format),
    )
