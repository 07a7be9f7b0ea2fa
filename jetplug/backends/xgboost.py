"""Local xgboost backend: runs ``xgboost-ubj`` / ``xgboost-json`` artifacts in-process.

Models are loaded once per worker process (cache keyed by the artifact's
sha256) from xgboost's own JSON/UBJ formats, never from pickles.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import BackendError
from ..hookspecs import hookimpl
from ..options import Option
from ..registry import BackendRegistry
from ..spec import ModelSpec
from .base import Backend, package_version

__all__ = ["XGBoostBackend"]

_CACHE: dict[tuple[str, int], Any] = {}
_LOCK = threading.Lock()
# free the boosters while xgboost's library is still loaded (at teardown Booster.__del__ fails)
atexit.register(_CACHE.clear)


def load_booster(spec: ModelSpec, threads: int = 1) -> Any:
    """The ``xgboost.Booster`` for ``spec``'s artifact, loaded once per process.

    The cache key is the artifact's sha256 and the thread count (``nthread``
    is a booster parameter, set once at load rather than on every call).
    """
    key = (spec.artifact.sha256, threads)
    with _LOCK:
        booster = _CACHE.get(key)
        if booster is None:
            import xgboost

            path = spec.artifact.verify(spec.name)
            try:
                booster = xgboost.Booster(model_file=str(path))
            except xgboost.core.XGBoostError as e:
                msg = f"plugin {spec.name!r}: xgboost cannot load {path}: {e}"
                raise BackendError(msg) from e
            booster.set_param({"nthread": threads})
            _CACHE[key] = booster
    return booster


class XGBoostBackend(Backend):
    """In-process xgboost inference (``inplace_predict``)."""

    name: ClassVar[str] = "xgboost"
    formats: ClassVar[tuple[str, ...]] = ("xgboost-ubj", "xgboost-json")
    options_spec: ClassVar[tuple[Option, ...]] = (
        Option("threads", "int", 1, "``nthread`` of the booster (1: workers do not oversubscribe)"),
        Option("batch_size", "int", 262_144, "rows per prediction call"),
    )

    def infer(self, spec: ModelSpec, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Predict with ``inplace_predict`` on the single 2-D input tensor."""
        if len(spec.tensors_in) != 1 or len(spec.tensors_out) != 1:
            msg = f"plugin {spec.name!r}: the xgboost backend needs one input and one output tensor"
            raise BackendError(msg)
        tin, tout = spec.tensors_in[0], spec.tensors_out[0]
        x = np.ascontiguousarray(tensors[tin.name], dtype=tin.dtype)
        if x.ndim != 2 or (tin.shape and x.shape[1] != tin.shape[0]):
            msg = (
                f"plugin {spec.name!r}: input tensor {tin.name!r} has shape {x.shape}, "
                f"expected (batch, {tin.shape[0] if tin.shape else 'n'})"
            )
            raise BackendError(msg)
        booster = load_booster(spec, int(self.options["threads"]))
        if len(x) == 0:
            return {tout.name: np.zeros((0, *tout.shape), dtype=tout.dtype)}
        batch = int(self.options["batch_size"])
        y = np.concatenate(
            [
                booster.inplace_predict(x[s : s + batch], validate_features=False)
                for s in range(0, len(x), batch)
            ]
        )
        return {tout.name: np.asarray(y, dtype=tout.dtype).reshape((len(x), *tout.shape))}

    def describe(self, spec: ModelSpec) -> dict[str, Any]:
        """Backend name, xgboost version and thread count."""
        return {
            "backend": self.name,
            "device": "cpu",
            "xgboost": package_version("xgboost"),
            "threads": int(self.options["threads"]),
        }


@hookimpl
def jetplug_register_backends(registry: BackendRegistry) -> None:
    """Register the local xgboost backend."""
    registry.add(XGBoostBackend)
