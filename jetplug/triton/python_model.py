"""Triton python-backend model that runs a jetplug artifact (copied as ``model.py``).

It must not import jetplug: the server runs in its own environment
(``tritonserver`` 2.51's python backend needs numpy<2). It reads the
artifact name, format and sha256 from the standard ``parameters`` of
``config.pbtxt``, verifies the sha256, loads the model once per instance
and serves every request of an execute() call with one prediction on the
concatenated batch. Formats: xgboost JSON/UBJ (``xgboost``), TorchScript
(``torch``) and ONNX (``onnxruntime``, CPU execution provider); each is
imported only when a model of that format is loaded.
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
    """Serves one jetplug model (xgboost JSON/UBJ, TorchScript or ONNX)."""

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
        self.outputs = [o["name"] for o in config["output"]]
        self.out_dtypes = [
            pb_utils.triton_string_to_numpy(o["data_type"]) for o in config["output"]
        ]
        self.out_dims = [[int(d) for d in o["dims"]] for o in config["output"]]
        threads = int(params.get("jetplug_threads", "1"))
        self.booster: Any = None
        self.module: Any = None
        self.session: Any = None
        self.ranks: list[int] = []
        if self.format in ("xgboost-ubj", "xgboost-json"):
            import xgboost

            if len(self.inputs) != 1 or len(self.outputs) != 1:
                msg = f"an xgboost model has one input and one output, not {config['input']}"
                raise pb_utils.TritonModelException(msg)

            self.booster = xgboost.Booster(model_file=path)
            self.booster.set_param({"nthread": threads})
        elif self.format == "torchscript":
            import torch

            torch.set_num_threads(threads)
            self.module = torch.jit.load(path, map_location="cpu").eval()
        elif self.format == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            # a scalar per object is served as dims [1]: the ONNX model may want rank 1
            ranks = {i.name: len(i.shape) for i in self.session.get_inputs()}
            missing = [n for n in self.inputs if n not in ranks]
            if missing:
                msg = f"ONNX model {path} lacks input(s) {missing} (it has {sorted(ranks)})"
                raise pb_utils.TritonModelException(msg)
            self.ranks = [ranks[n] for n in self.inputs]
        else:
            msg = f"unsupported artifact format {self.format!r}"
            raise pb_utils.TritonModelException(msg)

    def _predict(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        n = len(xs[0])
        if self.session is not None:
            feed = {
                name: np.ascontiguousarray(x.reshape(n) if rank == 1 else x)
                for name, x, rank in zip(self.inputs, xs, self.ranks, strict=True)
            }
            ys = list(self.session.run(self.outputs, feed))
        elif self.module is not None:
            import torch

            with torch.inference_mode():
                args = [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]
                out = self.module(*args)
                ys = [o.numpy() for o in (out if isinstance(out, tuple | list) else (out,))]
        else:
            ys = [self.booster.inplace_predict(xs[0], validate_features=False)]
        return [
            np.asarray(y, dtype=dtype).reshape([n, *dims])
            for y, dtype, dims in zip(ys, self.out_dtypes, self.out_dims, strict=True)
        ]

    def execute(self, requests: list[Any]) -> list[Any]:
        per_input = [
            [pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests]
            for name in self.inputs
        ]
        sizes = [len(a) for a in per_input[0]]
        xs = [np.concatenate(arrays, axis=0) for arrays in per_input]
        ys = (
            self._predict(xs)
            if sum(sizes)
            else [np.zeros([0, *d], t) for d, t in zip(self.out_dims, self.out_dtypes, strict=True)]
        )
        responses, start = [], 0
        for n in sizes:
            tensors = [
                pb_utils.Tensor(name, y[start : start + n])
                for name, y in zip(self.outputs, ys, strict=True)
            ]
            start += n
            responses.append(pb_utils.InferenceResponse(tensors))
        return responses

    def finalize(self) -> None:
        self.booster = self.module = self.session = None
