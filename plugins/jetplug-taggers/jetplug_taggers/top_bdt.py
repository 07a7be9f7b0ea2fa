"""Top-vs-QCD tagger: an xgboost BDT on FatJet substructure.

Features (one row per FatJet): soft-drop mass, τ21 = τ2/τ1, τ32 = τ3/τ2,
τ43 = τ4/τ3, N2 and N3 (``n2b1``, ``n3b1``). All are NanoAOD FatJet
branches, so the tagger runs on generated files and on CMS NanoAOD alike.
Ratios with a zero denominator are set to 0 (CMS stores τ = 0 for jets
without enough constituents).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jetplug import (
    Artifact,
    FieldSpec,
    InputSpec,
    JetModel,
    Kind,
    ModelInputs,
    ModelSpec,
    OutputSpec,
    TensorSpec,
    load_model_metadata,
)

__all__ = ["FEATURES", "TopBDT"]

FEATURES = ("msoftdrop", "tau21", "tau32", "tau43", "n2b1", "n3b1")

_MODEL = Path(__file__).parent / "models" / "top_bdt.ubj"
_META = load_model_metadata(_MODEL)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float32)
    den = np.asarray(den, dtype=np.float32)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


class TopBDT(JetModel):
    """Binary top tagger; output ``score`` = P(top) in [0, 1]."""

    spec = ModelSpec(
        name="top_bdt",
        kind=Kind.TAGGER,
        version=_META["version"],
        description="top vs QCD BDT on FatJet substructure (msoftdrop, tau ratios, N2, N3)",
        inputs=InputSpec(
            collection="FatJet",
            fields=tuple(
                FieldSpec(n) for n in ("msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1")
            ),
        ),
        tensors_in=(TensorSpec("features", "float32", (len(FEATURES),)),),
        tensors_out=(TensorSpec("score", "float32", ()),),
        outputs=(OutputSpec("score", "float32", description="BDT probability of a top jet"),),
        artifact=Artifact(_MODEL, _META["sha256"], "xgboost-ubj"),
    )

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """Stack the substructure features into a ``(n_jets, 6)`` float32 matrix."""
        f = inputs.fields
        columns = [
            np.asarray(f["msoftdrop"], dtype=np.float32),
            _ratio(f["tau2"], f["tau1"]),
            _ratio(f["tau3"], f["tau2"]),
            _ratio(f["tau4"], f["tau3"]),
            np.asarray(f["n2b1"], dtype=np.float32),
            np.asarray(f["n3b1"], dtype=np.float32),
        ]
        return {"features": np.stack(columns, axis=1)}
