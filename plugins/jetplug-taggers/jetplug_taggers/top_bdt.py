"""Top-vs-QCD tagger: an xgboost BDT on FatJet substructure.

Features (one row per FatJet): soft-drop mass, τ21, τ32, τ43, N2 and N3
(``n2b1``, ``n3b1``), see :mod:`jetplug_taggers.features`. All inputs are
NanoAOD FatJet branches, so the tagger runs on generated files and on CMS
NanoAOD alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from jetplug import JetModel, ModelInputs, lazy_spec, load_model_metadata

from .features import substructure_features, substructure_tagger_spec

__all__ = ["TopBDT"]

_MODEL = Path(__file__).parent / "models" / "top_bdt.ubj"


class TopBDT(JetModel):
    """Binary top tagger; output ``score`` = P(top) in [0, 1]."""

    signal_truth: ClassVar[int | None] = 1

    spec = lazy_spec(
        "top_bdt",
        lambda: substructure_tagger_spec(
            "top_bdt",
            _MODEL,
            load_model_metadata(_MODEL),
            "xgboost-ubj",
            "top vs QCD BDT on FatJet substructure (msoftdrop, tau ratios, N2, N3)",
        ),
    )

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """The ``(n_jets, 6)`` feature matrix."""
        return {"features": substructure_features(inputs)}
