"""A top tagger on constituent multiplicity and jet masses (xgboost)."""

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
    lazy_spec,
    load_model_metadata,
)

_MODEL = Path(__file__).parent / "models" / "multiplicity.ubj"


def _spec() -> ModelSpec:
    meta = load_model_metadata(_MODEL)
    return ModelSpec(
        name="example_multiplicity",
        kind=Kind.TAGGER,
        version=meta["version"],
        description="example third-party tagger on constituent multiplicity and masses",
        inputs=InputSpec(
            collection="FatJet",
            fields=(
                FieldSpec("nConstituents", derive="count_constituents"),
                FieldSpec("mass"),
                FieldSpec("msoftdrop"),
            ),
        ),
        tensors_in=(TensorSpec("features", "float32", (3,)),),
        tensors_out=(TensorSpec("score", "float32", ()),),
        outputs=(OutputSpec("score", "float32", description="probability of a top jet"),),
        artifact=Artifact(_MODEL, meta["sha256"], "xgboost-ubj"),
    )


class MultiplicityTagger(JetModel):
    """P(top) from (nConstituents, mass, msoftdrop)."""

    spec = lazy_spec("example_multiplicity", _spec)

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """``(n_jets, 3)`` float32 features."""
        names = ("nConstituents", "mass", "msoftdrop")
        return {
            "features": np.stack(
                [np.asarray(inputs.fields[n], dtype=np.float32) for n in names], axis=1
            )
        }
