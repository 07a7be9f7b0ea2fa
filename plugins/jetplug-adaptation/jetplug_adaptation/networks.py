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

from jetplug import Artifact, Kind, ModelSpec, lazy_spec, shipped_spec
from jetplug_decorrelation.networks import WorkingPointScan, scan_spec

from .common import METHODS, model_path

__all__ = ["AdaptedNetwork", "adapted_plugin", "adapted_spec"]


def adapted_spec(name: str, artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """The spec of ``name`` (``<method>_top``); working points from the metadata."""
    method = name.split("_", maxsplit=1)[0]
    return scan_spec(
        name,
        artifact,
        meta,
        kind=Kind.TAGGER,
        description=f"top vs QCD, domain-adapted: {METHODS[method]}",
        signal="top",
        default_index=0,
    )


class AdaptedNetwork(WorkingPointScan):
    """Base of the adapted taggers; subclasses set ``spec``."""

    signal_truth: ClassVar[int | None] = 1


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
