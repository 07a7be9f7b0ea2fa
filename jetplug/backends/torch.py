"""Local torch backend: runs ``torch-state-dict`` and ``torchscript`` artifacts, on CPU or CUDA.

* ``torch-state-dict``: the architecture comes from the plugin
  (:meth:`jetplug.JetModel.build_module`); the weights are loaded with
  ``torch.load(weights_only=True)`` (no pickle code execution).
* ``torchscript``: a file written by ``torch.jit.save`` (e.g. a model someone
  else trained), loaded with ``torch.jit.load``, which reads TorchScript code
  and tensors, not Python pickles.
* Either is loaded once per worker process and device (cache keyed by the
  artifact's sha256).
* ``device``: ``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda[:N]``.
* ``threads``: torch intra-op threads for this process (default 1, so that
  futures/Dask workers do not oversubscribe the cores), set once.
* ``batch_size``: rows per forward pass (default 8192), bounding memory.
* ``runtime``: ``torch`` (default) or ``onnxruntime``: a ``torch-state-dict``
  plugin's verified module is exported to ONNX once per process
  (:func:`jetplug.export_onnx.export_onnx`, which checks ONNX Runtime
  against torch on examples before it is used) and run by ONNX Runtime
  (:class:`~jetplug.backends.onnx.OnnxBackend`): 1.5–1.9× faster than torch
  eager for the Particle Transformer on this CPU (docs/benchmarks.md).
"""

from __future__ import annotations

import atexit
import dataclasses
import pickle
import shutil
import tempfile
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import BackendError
from ..hookspecs import hookimpl
from ..model import JetModel
from ..options import Option
from ..registry import BackendRegistry
from ..spec import Artifact, ModelSpec, sha256_file
from .base import Backend, assemble_outputs, merge_resolved, package_version

__all__ = ["TorchBackend", "resolve_device"]

_CACHE: dict[tuple[str, str], Any] = {}
_ONNX: dict[str, Artifact] = {}
"""ONNX exports of this process, by the torch artifact's sha256 (``runtime: onnxruntime``)."""
_ONNX_LOCK = threading.Lock()  # not _LOCK: exporting loads the module, which takes _LOCK
_LOCK = threading.Lock()
_THREADS: list[int] = []


def resolve_device(requested: str) -> str:
    """``auto`` -> ``cuda`` if available else ``cpu``; ``cuda`` without CUDA is an error."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        msg = f"device {requested!r} requested but torch sees no CUDA device"
        raise BackendError(msg)
    if requested != "cpu" and not requested.startswith("cuda"):
        msg = f"device {requested!r} unknown; use auto, cpu or cuda[:N]"
        raise BackendError(msg)
    return requested


def load_module(model: JetModel, device: str) -> Any:
    """The plugin's module with its verified weights, in eval mode on ``device`` (cached)."""
    import torch

    spec = model.spec
    key = (spec.artifact.sha256, device)
    with _LOCK:
        module = _CACHE.get(key)
        if module is None:
            path = spec.artifact.verify(spec.name)
            try:
                if spec.artifact.format == "torchscript":
                    module = torch.jit.load(str(path), map_location=device)
                else:
                    with warnings.catch_warnings():  # refused below if it matters
                        warnings.filterwarnings("ignore", message="Detected pickle protocol")
                        state = torch.load(path, map_location=device, weights_only=True)
                    module = model.build_module()
                    module.load_state_dict(state)
            except pickle.UnpicklingError as e:  # weights_only refused a pickled object
                msg = (
                    f"plugin {spec.name!r}: {path} holds pickled Python objects (a module "
                    "saved with torch.save(module)?), which jetplug never unpickles: save "
                    "the weights with torch.save(module.state_dict(), path)"
                )
                raise BackendError(msg) from e
            except Exception as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                msg = (
                    f"plugin {spec.name!r}: cannot load torch weights {path}: "
                    f"{type(e).__name__}: {first}"
                )
                raise BackendError(msg) from e
            module.to(device).eval()
            _CACHE[key] = module
    return module


class TorchBackend(Backend):
    """In-process torch inference (see the module docstring for options)."""

    name: ClassVar[str] = "torch"
    formats: ClassVar[tuple[str, ...]] = ("torch-state-dict", "torchscript")
    options_spec: ClassVar[tuple[Option, ...]] = (
        Option("device", "str", "auto", "``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``"),
        Option("threads", "int", 1, "torch intra-op threads of this process"),
        Option("batch_size", "int", 8192, "rows per forward pass"),
        Option(
            "runtime",
            "str",
            "torch",
            "``torch``, or ``onnxruntime``: the module exported to ONNX once per process "
            "(checked against torch) and run by ONNX Runtime",
            choices=("torch", "onnxruntime"),
        ),
    )

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self._model: JetModel | None = None
        self._device: str | None = None
        self._onnx: Backend | None = None

    def bind(self, model: JetModel) -> None:
        """Keep the plugin object: it builds the module."""
        self._model = model

    @property
    def device(self) -> str:
        """The resolved device."""
        if self._device is None:
            self._device = resolve_device(str(self.options["device"]))
        return self._device

    def _set_threads(self) -> None:
        import torch

        threads = int(self.options["threads"])
        with _LOCK:
            if not _THREADS or _THREADS[-1] != threads:
                torch.set_num_threads(threads)
                _THREADS.append(threads)

    def infer(self, spec: ModelSpec, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Forward passes of at most ``batch_size`` rows under ``torch.inference_mode``.

        For a ``padding_invariant`` plugin with a prefix-shaped ``mask``
        tensor, rows run sorted by their number of real constituents and each
        batch keeps only the constituent slots its longest jet uses
        (:func:`_trimmed_batches`); outputs return in the input order.
        """
        import torch

        if self._model is None or self._model.spec.name != spec.name:
            msg = f"plugin {spec.name!r}: torch backend used without bind(model)"
            raise BackendError(msg)
        if self.options["runtime"] == "onnxruntime":
            return self._onnx_runtime().infer(_onnx_spec(self._model), tensors)
        self._set_threads()
        module = load_module(self._model, self.device)
        n = len(next(iter(tensors.values())))
        batch = int(self.options["batch_size"])
        arrays = {
            t.name: np.ascontiguousarray(tensors[t.name], dtype=t.dtype) for t in spec.tensors_in
        }
        trimmed = _trimmed_batches(arrays, batch) if self._model.padding_invariant else None
        batches: list[tuple[np.ndarray | slice, int | None]] = (
            list(trimmed)
            if trimmed
            else [(slice(start, start + batch), None) for start in range(0, n, batch)]
        )
        parts: list[list[np.ndarray]] = [[] for _ in spec.tensors_out]
        with torch.inference_mode():
            for rows, width in batches:
                args = []
                for t in spec.tensors_in:
                    x = arrays[t.name][rows]
                    if width is not None and x.ndim > 1 and x.shape[1] == arrays["mask"].shape[1]:
                        x = np.ascontiguousarray(x[:, :width])
                    args.append(torch.as_tensor(x).to(self.device))
                out = module(*args)
                outs = out if isinstance(out, tuple | list) else (out,)
                for i, value in enumerate(outs):
                    parts[i].append(value.detach().to("cpu").numpy())
        result = assemble_outputs(spec, parts, n)
        if trimmed is not None:  # back to the input order
            order = np.concatenate([rows for rows, _ in trimmed])
            inverse = np.empty_like(order)
            inverse[order] = np.arange(n)
            result = {k: v[inverse] for k, v in result.items()}
        return result

    def _onnx_runtime(self) -> Backend:
        """The ONNX Runtime backend that runs this plugin's export (same device and threads)."""
        if self._onnx is None:
            from .onnx import OnnxBackend

            keys = ("device", "threads", "batch_size")
            self._onnx = OnnxBackend({k: self.options[k] for k in keys})
        return self._onnx

    def resolved(self) -> dict[str, Any]:
        """What this process ran on: the device ``auto`` became (with the CUDA device's
        name), or the ONNX Runtime export's device and providers."""
        if self._onnx is not None:
            onnx = self._onnx.resolved()
            return {"device": onnx["device"], "onnx": onnx} if onnx else {}
        if self._device is None:
            return {}
        out: dict[str, Any] = {"device": self._device}
        if self._device.startswith("cuda"):
            import torch

            out["cuda_device"] = torch.cuda.get_device_name(torch.device(self._device))
        return out

    def describe(self, spec: ModelSpec) -> dict[str, Any]:
        """Backend, torch version, device (with the CUDA device name), threads, batch size,
        runtime.

        ``device`` is the one resolved here when the model ran in this
        process, else the requested one (the run replaces it with what the
        workers resolved, :meth:`resolved`).
        """
        info: dict[str, Any] = {
            "backend": self.name,
            "torch": package_version("torch"),
            "device": str(self.options["device"]),
            "threads": int(self.options["threads"]),
            "batch_size": int(self.options["batch_size"]),
            "runtime": self.options["runtime"],
        }
        if self.options["runtime"] == "onnxruntime":
            info["onnx"] = {"onnxruntime": package_version("onnxruntime")}
        return merge_resolved(info, self.resolved())


@hookimpl
def jetplug_register_backends(registry: BackendRegistry) -> None:
    """Register the local torch backend."""
    registry.add(TorchBackend)


def _onnx_spec(model: JetModel) -> ModelSpec:
    """``model``'s spec with its artifact exported to ONNX (once per process, checked)."""
    spec = model.spec
    if spec.artifact.format != "torch-state-dict":
        msg = (
            f"plugin {spec.name!r}: runtime 'onnxruntime' exports torch-state-dict models, "
            f"not {spec.artifact.format!r}"
        )
        raise BackendError(msg)
    with _ONNX_LOCK:
        artifact = _ONNX.get(spec.artifact.sha256)
        if artifact is None:
            from ..export_onnx import export_onnx

            folder = tempfile.mkdtemp(prefix="jetplug-onnx-")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            path = Path(folder) / f"{spec.name}.onnx"
            export_onnx(model, path)  # checks ONNX Runtime against torch on examples
            artifact = Artifact(path, sha256_file(path), "onnx")
            _ONNX[spec.artifact.sha256] = artifact
    return dataclasses.replace(spec, artifact=artifact)


def _trimmed_batches(
    arrays: Mapping[str, np.ndarray], batch: int
) -> list[tuple[np.ndarray, int]] | None:
    """Batches of row indices sorted by constituent count, with each batch's width.

    ``None`` (no trimming) unless ``arrays`` holds a 2-D ``mask`` whose real
    slots come first in every row (a prefix, as jetplug pads constituents).
    """
    mask = arrays.get("mask")
    if mask is None or mask.ndim != 2 or len(mask) == 0:
        return None
    real = mask > 0
    if np.any(real[:, 1:] & ~real[:, :-1]):  # a real slot after a padded one
        return None
    counts = real.sum(axis=1)
    order = np.argsort(counts, kind="stable")
    return [
        (rows, max(int(counts[rows[-1]]), 1))
        for rows in (order[start : start + batch] for start in range(0, len(order), batch))
    ]
