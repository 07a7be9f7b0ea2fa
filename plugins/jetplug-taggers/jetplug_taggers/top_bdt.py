"""Top-vs-QCD tagger: an xgboost BDT on FatJet substructure.

Features (one row per FatJet): soft-drop mass, τ21, τ32, τ43, N2 and N3
(``n2b1``, ``n3b1``), see :mod:`jetplug_taggers.features`. All inputs are
NanoAOD FatJet branches, so the tagger runs on generated files and on CMS
NanoAOD alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jetplug import (
    Artifact,
    InputSpec,
    JetModel,
    Kind,
    ModelInputs,
    ModelSpec,
    OutputSpec,
    TensorSpec,
    load_model_metadata,
)

from .features import FEATURES, FIELDS, substructure_features

__all__ = ["TopBDT"]

_MODEL = Path(__file__).parent / "models" / "top_bdt.ubj"
_META = load_model_metadata(_MODEL)


class TopBDT(JetModel):
    """Binary top tagger; output ``score`` = P(top) in [0, 1]."""

    spec = ModelSpec(
        name="top_bdt",
        kind=Kind.TAGGER,
        version=_META["version"],
        description="top vs QCD BDT on FatJet substructure (msoftdrop, tau ratios, N2, N3)",
        inputs=InputSpec(collection="FatJet", fields=FIELDS),
        tensors_in=(TensorSpec("features", "float32", (len(FEATURES),)),),
        tensors_out=(TensorSpec("score", "float32", ()),),
        outputs=(OutputSpec("score", "float32", description="BDT probability of a top jet"),),
        artifact=Artifact(_MODEL, _META["sha256"], "xgboost-ubj"),
    )

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """The ``(n_jets, 6)`` feature matrix."""
        return {"features": substructure_features(inputs)}
