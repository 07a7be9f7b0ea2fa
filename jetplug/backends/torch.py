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
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import BackendError
from ..hookspecs import hookimpl
from ..model import JetModel
from ..options import Option
from ..registry import BackendRegistry
from ..spec import ModelSpec
from .base import Backend, assemble_outputs

__all__ = ["TorchBackend", "resolve_device"]

_CACHE: dict[tuple[str, str], Any] = {}
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
                    state = torch.load(path, map_location=device, weights_only=True)
                    module = model.build_module()
                    module.load_state_dict(state)
            except Exception as e:
                msg = f"plugin {spec.name!r}: cannot load torch weights {path}: {e}"
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
    )

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self._model: JetModel | None = None
        self._device: str | None = None

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
        """Forward passes of at most ``batch_size`` rows under ``torch.inference_mode``."""
        import torch

        if self._model is None or self._model.spec.name != spec.name:
            msg = f"plugin {spec.name!r}: torch backend used without bind(model)"
            raise BackendError(msg)
        self._set_threads()
        module = load_module(self._model, self.device)
        n = len(next(iter(tensors.values())))
        batch = int(self.options["batch_size"])
        parts: list[list[np.ndarray]] = [[] for _ in spec.tensors_out]
        with torch.inference_mode():
            for start in range(0, n, batch):
                args = [
                    torch.as_tensor(
                        np.ascontiguousarray(tensors[t.name][start : start + batch], dtype=t.dtype)
                    ).to(self.device)
                    for t in spec.tensors_in
                ]
                out = module(*args)
                outs = out if isinstance(out, tuple | list) else (out,)
                for i, value in enumerate(outs):
                    parts[i].append(value.detach().to("cpu").numpy())
        return assemble_outputs(spec, parts, n)

    def describe(self, spec: ModelSpec) -> dict[str, Any]:
        """Backend, torch version, device (with the CUDA device name) and threads."""
        import torch

        info: dict[str, Any] = {
            "backend": self.name,
            "torch": torch.__version__,
            "device": self.device,
            "threads": int(self.options["threads"]),
        }
        if self.device.startswith("cuda"):
            info["cuda_device"] = torch.cuda.get_device_name(torch.device(self.device))
        return info


@hookimpl
def jetplug_register_backends(registry: BackendRegistry) -> None:
    """Register the local torch backend."""
    registry.add(TorchBackend)
