"""The adapted top taggers ``dann_top`` and ``sysadv_top`` (kind ``tagger``).

Each plugin is one method holding a λ scan: one ``StandardizedMLP`` per
working point (λ = 0 is the network trained on the source alone, the "raw"
reference), all in one state dict and run side by side
(:class:`jetplug_decorrelation.nets.WorkingPoints`, the served module).
Inputs: ``top_mlp``'s six substructure features
(:data:`jetplug_taggers.features.FEATURES`). Outputs: ``scores`` (every
working point, fields ``scores_<point>``) and ``score``, the working point
the option ``working_point`` picks (the tagger's score for validation and
training tools: its first scalar output).
"""

from __future__ import annotations

from collections.abc import Mapping
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

from .common import METHODS, model_path

__all__ = ["AdaptedNetwork", "adapted_plugin", "adapted_spec"]

DEFAULT_POINTS = ("raw",)


def adapted_spec(name: str, artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """The spec of ``name`` (``<method>_top``); working points from the metadata."""
    method = name.split("_", maxsplit=1)[0]
    points = tuple(p["name"] for p in meta.get("working_points", [])) or DEFAULT_POINTS
    default = str(meta.get("default_working_point", points[0]))
    return ModelSpec(
        name=name,
        kind=Kind.TAGGER,
        version=str(meta.get("version", "0")),
        description=f"top vs QCD, domain-adapted: {METHODS[method]}",
        inputs=InputSpec("FatJet", FIELDS),
        tensors_in=(TensorSpec("features", "float32", (len(FEATURES),)),),
        tensors_out=(TensorSpec("scores", "float32", (len(points),)),),
        outputs=(
            OutputSpec("score", "float32", description="P(top) at the chosen working point"),
            OutputSpec(
                "scores",
                "float32",
                (len(points),),
                labels=points,
                description="P(top) at every working point (lambda scan)",
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


class AdaptedNetwork(JetModel):
    """Base of the adapted taggers; subclasses set ``spec``."""

    signal_truth: ClassVar[int | None] = 1

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
        from jetplug_decorrelation.nets import WorkingPoints

        labels = self.spec.outputs[1].labels or DEFAULT_POINTS
        return WorkingPoints(len(FEATURES), len(labels))


def adapted_plugin(name: str) -> type[AdaptedNetwork]:
    """The plugin class of network ``name`` (one of :data:`~.common.NETWORKS`)."""
    path = model_path(name)
    attrs = {
        "__doc__": f"``FatJet.{name}.score``: {METHODS[name.split('_', maxsplit=1)[0]]}.",
        "spec": lazy_spec(
            name,
            lambda: shipped_spec(path, "torch-state-dict", lambda a, m: adapted_spec(name, a, m)),
        ),
    }
    return type(f"Adapted_{name}", (AdaptedNetwork,), attrs)
