"""Triton python-backend model that runs a jetplug artifact (copied as ``model.py``).

It must not import jetplug: the server runs in its own environment
(``tritonserver`` 2.51's python backend needs numpy<2). It reads the
artifact name, format and sha256 from the standard ``parameters`` of
``config.pbtxt``, verifies the sha256, loads the model once per instance
and serves every request of an execute() call with one prediction on the
concatenated batch.
"""

import hashlib
import json
import os
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by the python backend


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class TritonPythonModel:
    """Serves one jetplug model (xgboost JSON/UBJ, or TorchScript exported from torch weights)."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        directory = os.path.join(args["model_repository"], args["model_version"])
        path = os.path.join(directory, params["jetplug_artifact"])
        digest = _sha256(path)
        if digest != params["jetplug_sha256"]:
            msg = f"{path}: sha256 {digest} does not match config {params['jetplug_sha256']}"
            raise pb_utils.TritonModelException(msg)
        self.format = params["jetplug_format"]
        self.inputs = [i["name"] for i in config["input"]]
        self.output = config["output"][0]
        self.out_dtype = pb_utils.triton_string_to_numpy(self.output["data_type"])
        self.out_dims = [int(d) for d in self.output["dims"]]
        threads = int(params.get("jetplug_threads", "1"))
        self.booster: Any = None
        self.module: Any = None
        if self.format in ("xgboost-ubj", "xgboost-json"):
            import xgboost

            if len(self.inputs) != 1:
                msg = f"an xgboost model takes one input, the config declares {self.inputs}"
                raise pb_utils.TritonModelException(msg)

            self.booster = xgboost.Booster(model_file=path)
            self.booster.set_param({"nthread": threads})
        elif self.format == "torchscript":
            import torch

            torch.set_num_threads(threads)
            self.module = torch.jit.load(path, map_location="cpu").eval()
        else:
            msg = f"unsupported artifact format {self.format!r}"
            raise pb_utils.TritonModelException(msg)

    def _predict(self, xs: list[np.ndarray]) -> np.ndarray:
        n = len(xs[0])
        if self.module is not None:
            import torch

            with torch.inference_mode():
                args = [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]
                y = self.module(*args).numpy()
        else:
            y = self.booster.inplace_predict(xs[0], validate_features=False)
        return np.asarray(y, dtype=self.out_dtype).reshape([n, *self.out_dims])

    def execute(self, requests: list[Any]) -> list[Any]:
        per_input = [
            [pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests]
            for name in self.inputs
        ]
        sizes = [len(a) for a in per_input[0]]
        xs = [np.concatenate(arrays, axis=0) for arrays in per_input]
        y = self._predict(xs) if sum(sizes) else None
        responses, start = [], 0
        for n in sizes:
            part = (
                y[start : start + n]
                if y is not None
                else np.zeros([0, *self.out_dims], self.out_dtype)
            )
            start += n
            responses.append(
                pb_utils.InferenceResponse([pb_utils.Tensor(self.output["name"], part)])
            )
        return responses

    def finalize(self) -> None:
        self.booster = self.module = None
