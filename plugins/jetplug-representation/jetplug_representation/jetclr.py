"""``jetclr``: a JetCLR embedding of each FatJet; ``jetclr_qcd``: an anomaly score on it.

Input: the :data:`N_CONSTITUENTS` hardest PF candidates of each FatJet as a
:class:`~jetplug_representation.augment.Cloud` (pT fraction, Δη, Δφ to the
jet axis, as JetCLR), turned into four features per constituent by
:func:`particle_inputs`. The encoder (:class:`~jetplug_representation.nets.JetCLREncoder`,
a transformer with sum pooling) is trained self-supervised by
``scripts/train_jetclr.py`` (NT-Xent on pairs of augmented views; labels are
never read).

* ``jetclr`` (kind ``representation``) writes ``FatJet.jetclr.embedding``, a
  vector of :data:`DIM` numbers per jet (not normalised; the linear probe of
  ``jetplug validate --section representation`` L2-normalises it);
* ``jetclr_qcd`` (kind ``anomaly``, normal class QCD) writes
  ``FatJet.jetclr_qcd.score``: the squared Mahalanobis distance of the
  normalised embedding to the QCD jets' mean (covariance of QCD jets of the
  training split), computed inside the served network.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from jetplug import (
    Artifact,
    ConstituentSpec,
    FieldSpec,
    InputSpec,
    JetModel,
    Kind,
    ModelInputs,
    ModelSpec,
    OutputSpec,
    TensorSpec,
    lazy_spec,
    shipped_spec,
)

from .augment import Cloud, Transform, cloud_of
from .augment import invariances as _invariances

__all__ = [
    "DIM",
    "MODELS",
    "N_CONSTITUENTS",
    "N_FEATURES",
    "JetCLR",
    "JetCLRAnomaly",
    "anomaly_spec",
    "build_encoder",
    "jetclr_spec",
    "particle_inputs",
]

MODELS = Path(__file__).parent / "models"
N_CONSTITUENTS = 32
N_FEATURES = 4
DIM = 64
"""Embedding dimension."""
ENCODER = {"dim": 64, "heads": 4, "layers": 2, "dim_out": DIM}
"""The encoder's architecture (recorded in the model metadata by the training)."""
_ANGLE = 0.4
"""Angles are given to the network in units of this [rad]."""


def particle_inputs(cloud: Cloud) -> tuple[np.ndarray, np.ndarray]:
    """``(n, P, 4)`` float32 features (Δη/0.4, Δφ/0.4, 10·z, log z) and the ``(n, P)`` mask."""
    mask = cloud.mask
    logz = np.log(np.where(mask, np.maximum(cloud.z, 1e-8), 1.0))
    x = np.stack([cloud.deta / _ANGLE, cloud.dphi / _ANGLE, 10.0 * cloud.z, logz], axis=-1)
    x[~mask] = 0.0
    return x.astype(np.float32), mask.astype(np.float32)


def build_encoder() -> Any:
    """The untrained encoder (architecture :data:`ENCODER`)."""
    from .nets import JetCLREncoder

    return JetCLREncoder(N_FEATURES, **ENCODER)


def _inputs() -> InputSpec:
    return InputSpec(
        collection="FatJet",
        fields=tuple(FieldSpec(n) for n in ("pt", "eta", "phi")),
        constituents=ConstituentSpec(fields=("pt", "eta", "phi"), max_constituents=N_CONSTITUENTS),
    )


_TENSORS_IN = (
    TensorSpec("particles", "float32", (N_CONSTITUENTS, N_FEATURES)),
    TensorSpec("mask", "float32", (N_CONSTITUENTS,)),
)


def jetclr_spec(artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """The spec of ``jetclr`` for ``artifact`` (an encoder state dict)."""
    return ModelSpec(
        name="jetclr",
        kind=Kind.REPRESENTATION,
        version=str(meta["version"]),
        description=f"JetCLR contrastive {DIM}-d embedding (transformer, sum pooling) "
        f"of the {N_CONSTITUENTS} hardest PF candidates",
        inputs=_inputs(),
        tensors_in=_TENSORS_IN,
        tensors_out=(TensorSpec("embedding", "float32", (DIM,)),),
        outputs=(OutputSpec("embedding", "float32", (DIM,), description="JetCLR embedding"),),
        artifact=artifact,
    )


def anomaly_spec(artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """The spec of ``jetclr_qcd`` for ``artifact`` (encoder and Mahalanobis buffers)."""
    return ModelSpec(
        name="jetclr_qcd",
        kind=Kind.ANOMALY,
        version=str(meta["version"]),
        description="Mahalanobis distance of the JetCLR embedding to QCD jets",
        inputs=_inputs(),
        tensors_in=_TENSORS_IN,
        tensors_out=(TensorSpec("score", "float32", ()),),
        outputs=(
            OutputSpec("score", "float32", description="anomaly score (higher = less QCD-like)"),
        ),
        artifact=artifact,
    )


class _OnConstituents(JetModel):
    padding_invariant: ClassVar[bool] = True  # masked attention and a masked sum

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """Particle features and mask of the hardest constituents."""
        x, mask = particle_inputs(cloud_of(inputs))
        return {"particles": x, "mask": mask}


class JetCLR(_OnConstituents):
    """``FatJet.jetclr.embedding``: the JetCLR representation."""

    invariances: ClassVar[dict[str, tuple[bool, Transform]]] = _invariances(N_CONSTITUENTS)
    """What ``jetplug validate --section representation`` checks the embedding against."""

    spec = lazy_spec(
        "jetclr", lambda: shipped_spec(MODELS / "jetclr.pt", "torch-state-dict", jetclr_spec)
    )

    def build_module(self) -> Any:
        """The encoder; weights come from the artifact."""
        return build_encoder()


class JetCLRAnomaly(_OnConstituents):
    """``FatJet.jetclr_qcd.score``: Mahalanobis distance to QCD in the JetCLR embedding."""

    normal_truth: ClassVar[int | None] = 0
    spec = lazy_spec(
        "jetclr_qcd",
        lambda: shipped_spec(MODELS / "jetclr_qcd.pt", "torch-state-dict", anomaly_spec),
    )

    def build_module(self) -> Any:
        """Encoder and Mahalanobis buffers; weights come from the artifact."""
        from .nets import MahalanobisScore

        return MahalanobisScore(build_encoder(), DIM)
