"""Decorrelated networks: adversarial (``adv_*``) and DisCo (``disco_*``) taggers.

Each plugin is one method for one signal (W or top against QCD) and holds a
λ scan: one small MLP per working point (λ = 0 is the plain network, the
"raw" reference), all in one state dict and run side by side
(:class:`~.nets.WorkingPoints`). Outputs: ``scores`` (every working point,
fields ``scores_<point>``) and ``score``, the working point the option
``working_point`` picks.

Inputs: the taggers' six substructure features
(:data:`jetplug_taggers.features.FEATURES`: m_SD, τ21, τ32, τ43, N2, N3,
NanoAOD FatJet branches, so they run on CMS files too). The mass **enters**:
the plain network uses it as much as it helps, and λ sets how much of that
the training gives up, which is what the R50-vs-1/JSD50 trade-off shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from jetplug import (
    Artifact,
    InputSpec,
    JetModel,
    Kind,
    ModelInputs,
    ModelSpec,
    Option,
    OutputSpec,
    TensorSpec,
    lazy_spec,
    shipped_spec,
)
from jetplug_taggers.features import FEATURES, FIELDS, substructure_features

from .common import MODELS

__all__ = [
    "METHODS",
    "NETWORKS",
    "DecorrelatedNetwork",
    "WorkingPointScan",
    "network_spec",
    "point_name",
    "scan_spec",
]

METHODS = {
    "adv": "adversarial (classifier against a mass-predicting adversary, arXiv:1611.01046)",
    "disco": "DisCo (distance-correlation penalty on QCD, arXiv:2001.05310)",
}
SIGNALS = {"w": 2, "top": 1}
"""Signal truth label of each target (background: QCD, 0)."""
NETWORKS = tuple(f"{m}_{s}" for m in METHODS for s in SIGNALS)
"""Plugin names: ``adv_w``, ``adv_top``, ``disco_w``, ``disco_top``."""
DEFAULT_POINTS = ("raw",)


def point_name(lam: float) -> str:
    """Working-point label of λ in a scan: ``raw`` for 0, else ``l0p3`` for 0.3."""
    return "raw" if lam == 0 else "l" + f"{lam:g}".replace(".", "p")


def scan_spec(
    name: str,
    artifact: Artifact,
    meta: Mapping[str, Any],
    *,
    kind: Kind,
    description: str,
    signal: str,
    default_index: int,
) -> ModelSpec:
    """The spec of a λ-scan network ``name``: the six substructure features in,
    ``scores`` (every working point of the metadata) and ``score`` (the one the
    option ``working_point`` picks, by default ``points[default_index]``) out."""
    points = tuple(p["name"] for p in meta.get("working_points", [])) or DEFAULT_POINTS
    default = str(meta.get("default_working_point", points[default_index]))
    return ModelSpec(
        name=name,
        kind=kind,
        version=str(meta.get("version", "0")),
        description=description,
        inputs=InputSpec("FatJet", FIELDS),
        tensors_in=(TensorSpec("features", "float32", (len(FEATURES),)),),
        tensors_out=(TensorSpec("scores", "float32", (len(points),)),),
        outputs=(
            OutputSpec("score", "float32", description=f"P({signal}) at the chosen working point"),
            OutputSpec(
                "scores",
                "float32",
                (len(points),),
                labels=points,
                description=f"P({signal}) at every working point (lambda scan)",
            ),
        ),
        artifact=artifact,
        options=(
            Option(
                "working_point",
                "str",
                default,
                "which lambda of the scan gives `score` (metadata: each point's lambda)",
                choices=points,
            ),
        ),
    )


def network_spec(name: str, artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """The spec of network plugin ``name``; working points from the metadata."""
    method, signal = name.split("_")
    return scan_spec(
        name,
        artifact,
        meta,
        kind=Kind.DECORRELATOR,
        description=f"{signal} vs QCD, mass-decorrelated: {METHODS[method]}",
        signal="signal",
        default_index=-1,
    )


class WorkingPointScan(JetModel):
    """A λ scan served as one module: the six substructure features in, one MLP
    per working point (:class:`~.nets.WorkingPoints`), every point's score out
    and the chosen one's; subclasses set ``spec`` (:func:`scan_spec`)."""

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """The six substructure features (standardised inside the module)."""
        return {"features": substructure_features(inputs)}

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """Every working point's score, and the chosen one's."""
        del inputs, prepared
        scores = np.asarray(outputs["scores"], np.float32)
        labels = self.spec.outputs[1].labels or DEFAULT_POINTS
        chosen = scores[:, list(labels).index(self.options["working_point"])]
        return {"score": chosen, "scores": scores}

    def build_module(self) -> Any:
        """One MLP per working point; weights come from the artifact."""
        from .nets import WorkingPoints

        labels = self.spec.outputs[1].labels or DEFAULT_POINTS
        return WorkingPoints(len(FEATURES), len(labels))


class DecorrelatedNetwork(WorkingPointScan):
    """Base of the decorrelated networks; subclasses set ``spec`` and ``signal_truth``."""

    higher_is_signal: ClassVar[bool] = True


def model_path(name: str) -> Path:
    """The state dict of network ``name``."""
    return MODELS / f"{name}.pt"


def network_plugin(name: str) -> type[DecorrelatedNetwork]:
    """The plugin class of network ``name`` (one of :data:`NETWORKS`)."""
    path = model_path(name)
    attrs = {
        "__doc__": f"``FatJet.{name}.score``: {METHODS[name.split('_', maxsplit=1)[0]]}.",
        "spec": lazy_spec(
            name,
            lambda: shipped_spec(path, "torch-state-dict", lambda a, m: network_spec(name, a, m)),
        ),
        "signal_truth": SIGNALS[name.split("_")[1]],
    }
    return type(f"Network_{name}", (DecorrelatedNetwork,), attrs)
