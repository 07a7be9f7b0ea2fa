"""The interface every inference backend implements."""

from __future__ import annotations

import importlib.metadata
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..model import JetModel
from ..options import Option, resolve_options
from ..spec import ModelSpec

__all__ = ["Backend", "assemble_outputs", "merge_resolved", "package_version"]


def assemble_outputs(
    spec: ModelSpec, parts: list[list[np.ndarray]], n: int
) -> dict[str, np.ndarray]:
    """Concatenate per-batch outputs (one list per ``spec.tensors_out``) into ``n`` rows each."""
    return {
        t.name: (
            np.concatenate(parts[i]).astype(t.dtype).reshape((n, *t.shape))
            if parts[i]
            else np.zeros((0, *t.shape), dtype=t.dtype)
        )
        for i, t in enumerate(spec.tensors_out)
    }


def package_version(module: str) -> str:
    """``module``'s version, without importing it when this process has not.

    The driver of a distributed run describes backends whose libraries only
    its workers loaded; importing torch there just to read its version cost
    more than a second of every run. The installed distribution's metadata
    gives the same string, whichever distribution provides the module
    (``onnxruntime-gpu``, ``xgboost-cpu``); ``"unknown"`` if none does.
    """
    loaded = sys.modules.get(module)
    if loaded is not None:
        return str(getattr(loaded, "__version__", "unknown"))
    for distribution in importlib.metadata.packages_distributions().get(module, [module]):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def merge_resolved(described: dict[str, Any], resolved: Mapping[str, Any]) -> dict[str, Any]:
    """``described`` updated with ``resolved`` (:meth:`Backend.resolved`), one level deep."""
    out = dict(described)
    for key, value in resolved.items():
        old = out.get(key)
        out[key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    return out


class Backend(ABC):
    """Runs a model's input tensors and returns its output tensors.

    One instance is created per worker process and per plugin using it, with
    the options given in the run config (``plugins[].backend_options``).
    Instances must be cheap to construct; expensive state (loaded models,
    clients) is created lazily on first use and cached per process.
    """

    name: ClassVar[str]
    """The name a run config uses to select this backend."""
    formats: ClassVar[tuple[str, ...]] = ()
    """Artifact formats this backend runs in-process (empty for remote backends)."""
    options_spec: ClassVar[tuple[Option, ...]] = ()
    """The options this backend reads (``backend_options`` in the run config).

    Unknown keys are refused with a "did you mean"; values are converted to
    the declared types and defaults filled in, so ``self.options[name]``
    always exists.
    """

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: dict[str, Any] = resolve_options(
            self.options_spec, options, owner=f"backend {self.name!r}"
        )

    def reads_artifact(self, spec: ModelSpec) -> bool:
        """Whether this backend loads ``spec``'s model file in this process.

        Such files are checked against their recorded sha256 once, when the
        plugins are built on the driver (:class:`jetplug.Plugins`), so that a
        changed file fails the run before it starts. Default: the backend runs
        the artifact's format in-process (:attr:`formats`); a remote backend
        returns ``False``.
        """
        return spec.artifact.format in self.formats

    def bind(self, model: JetModel) -> None:
        """Receive the plugin's model object (e.g. to build a torch module); default: ignore."""
        del model

    @abstractmethod
    def infer(self, spec: ModelSpec, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``spec``'s model on ``tensors`` (``spec.tensors_in``); return ``tensors_out``."""

    def preflight(self, spec: ModelSpec) -> None:
        """Check, before any chunk of a run, what this backend will run for ``spec``.

        ``jetplug run`` calls it once per plugin on the driver; a remote
        backend checks that its servers serve ``spec``'s model and raises a
        :class:`~jetplug.errors.BackendError` naming what differs. Default:
        nothing to check.
        """
        del spec

    def report(self) -> dict[str, int]:
        """Counters since the last call (e.g. rows served by a fallback), then reset.

        The processor stores them per chunk; the run sums them into provenance.
        """
        return {}

    def close(self) -> None:
        """Release clients and pools (a remote backend's connections); default: nothing."""
        return None

    def resolved(self) -> dict[str, Any]:
        """What this process resolved at run time that the options leave open (``device``).

        The processor stores it per chunk; the run records in provenance what
        the workers resolved, which the driver (that may never have run the
        model) cannot know. Default: nothing.
        """
        return {}

    def describe(self, spec: ModelSpec) -> dict[str, Any]:
        """Provenance for this backend running ``spec`` (name, device, server, ...).

        Called on the driver after the run, which on a distributed executor
        never ran the model: report what the options and this process know,
        without loading the backend's library for it (:func:`package_version`);
        :meth:`resolved` brings what the workers resolved.
        """
        del spec
        return {"backend": self.name}
