"""An example third-party inference backend, added through ``jetplug_register_backends``.

``xgboost-dmatrix`` runs xgboost artifacts through ``DMatrix`` + ``predict``
(the classic API) instead of jetplug's ``inplace_predict``. It declares no
artifact formats, so ``backend: local`` never picks it; a run config selects
it by name (``backend: xgboost-dmatrix``). An ONNX Runtime or TensorRT
backend would be written the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from jetplug import Backend, BackendError, ModelSpec, Option


class DMatrixBackend(Backend):
    """xgboost via DMatrix."""

    name: ClassVar[str] = "xgboost-dmatrix"
    options_spec: ClassVar[tuple[Option, ...]] = (Option("threads", "int", 1, "xgboost nthread"),)

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self._boosters: dict[str, Any] = {}

    def infer(self, spec: ModelSpec, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Predict with a ``DMatrix`` built from the single input tensor."""
        import xgboost

        if not spec.artifact.format.startswith("xgboost"):
            msg = (
                f"plugin {spec.name!r}: {self.name} runs xgboost models, not {spec.artifact.format}"
            )
            raise BackendError(msg)
        booster = self._boosters.get(spec.artifact.sha256)
        if booster is None:
            booster = xgboost.Booster(model_file=str(spec.artifact.verify()))
            booster.set_param({"nthread": int(self.options["threads"])})
            self._boosters[spec.artifact.sha256] = booster
        (tin,), (tout,) = spec.tensors_in, spec.tensors_out
        x = np.asarray(tensors[tin.name], dtype=np.float32)
        y = booster.predict(xgboost.DMatrix(x)) if len(x) else np.zeros(0)
        return {tout.name: np.asarray(y, dtype=tout.dtype).reshape((len(x), *tout.shape))}
