"""Local ONNX Runtime backend: runs ``onnx`` artifacts in-process, on CPU or CUDA.

Any ONNX file whose input and output names are the plugin's ``tensors_in`` /
``tensors_out`` runs here, whatever framework wrote it ("bring your own
model file"); :func:`jetplug.export_onnx.export_onnx` writes one from a
torch plugin.

* The artifact's sha256 is verified before loading; the
  ``onnxruntime.InferenceSession`` is built once per worker process (cache
  keyed by sha256, execution provider and thread count).
* The session's input and output names, element types and fixed dimensions
  are checked against the spec once per backend instance, with an error that
  names the plugin and the tensor.
* ``device``: ``auto`` (``CUDAExecutionProvider`` when onnxruntime offers it,
  else CPU), ``cpu`` or ``cuda[:N]``; ``cuda`` without the CUDA provider is a
  :class:`~jetplug.errors.BackendError`.
* ``threads``: intra-op threads of the session (default 1, so that
  futures/Dask workers do not oversubscribe the cores).
* ``batch_size``: rows per ``session.run`` (default 8192), bounding memory.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import BackendError, ConfigError
from ..hookspecs import hookimpl
from ..options import Option
from ..registry import BackendRegistry
from ..spec import ModelSpec, TensorSpec
from .base import Backend, assemble_outputs, merge_resolved, package_version

__all__ = ["ONNX_DTYPES", "OnnxBackend", "check_session", "load_session", "resolve_providers"]

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
ONNX_DTYPES = {
    "float16": "tensor(float16)",
    "float32": "tensor(float)",
    "float64": "tensor(double)",
    "int8": "tensor(int8)",
    "int16": "tensor(int16)",
    "int32": "tensor(int32)",
    "int64": "tensor(int64)",
    "uint8": "tensor(uint8)",
    "bool": "tensor(bool)",
}
"""jetplug tensor dtype -> the element type onnxruntime reports for it."""

_CACHE: dict[tuple[str, str, int], Any] = {}
_LOCK = threading.Lock()


def resolve_providers(requested: str) -> tuple[str, list[Any]]:
    """The device and onnxruntime provider list for ``auto``, ``cpu`` or ``cuda[:N]``.

    ``auto`` picks CUDA when onnxruntime offers ``CUDAExecutionProvider``; a
    CUDA session keeps the CPU provider after it for operators CUDA lacks.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    if requested == "auto":
        requested = "cuda" if CUDA in available else "cpu"
    if requested == "cpu":
        return "cpu", [CPU]
    head, _, index = requested.partition(":")
    if head != "cuda" or (index and not index.isdigit()):
        msg = f"device {requested!r} unknown; use auto, cpu or cuda[:N]"
        raise BackendError(msg)
    if CUDA not in available:
        msg = (
            f"device {requested!r} requested but onnxruntime {ort.__version__} offers no "
            f"{CUDA} (available: {', '.join(available)}); install onnxruntime-gpu"
        )
        raise BackendError(msg)
    return requested, [(CUDA, {"device_id": int(index or 0)}), CPU]


def load_session(spec: ModelSpec, device: str = "cpu", threads: int = 1) -> Any:
    """The ``onnxruntime.InferenceSession`` of ``spec``'s artifact, built once per process."""
    key = (spec.artifact.sha256, device, threads)
    with _LOCK:
        session = _CACHE.get(key)
        if session is None:
            import onnxruntime as ort

            _, providers = resolve_providers(device)
            path = spec.artifact.verify(spec.name)
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.log_severity_level = 3  # errors only; warnings go to stderr otherwise
            try:
                session = ort.InferenceSession(str(path), options, providers=providers)
            except Exception as e:
                msg = f"plugin {spec.name!r}: onnxruntime cannot load {path}: {e}"
                raise BackendError(msg) from e
            _CACHE[key] = session
    return session


def _shape_problem(tensor: TensorSpec, onnx_shape: list[Any]) -> str | None:
    """Why ``onnx_shape`` (batch first) cannot carry ``tensor``, or ``None``."""
    expected = [-1, *tensor.shape]
    if len(onnx_shape) != len(expected):
        return f"has rank {len(onnx_shape)} in the ONNX model, expected {len(expected)}"
    for i, (have, want) in enumerate(zip(onnx_shape, expected, strict=True)):
        fixed = isinstance(have, int) and have > 0
        if i == 0 and fixed and have != 1:
            return f"has a fixed batch dimension {have}; export it with a dynamic batch axis"
        if i > 0 and fixed and want not in (-1, have):
            return f"has shape {onnx_shape} in the ONNX model, expected [batch, *{tensor.shape}]"
    return None


def check_session(spec: ModelSpec, session: Any) -> None:
    """Raise :class:`BackendError` unless the session's tensors are the spec's.

    Every session input must be a ``tensors_in`` entry and vice versa; every
    ``tensors_out`` entry must be a session output (the session may have more).
    Element types and fixed dimensions must agree.
    """
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    owner = f"plugin {spec.name!r}: ONNX model {spec.artifact.path.name}"
    problems = []
    for kind, tensors, have in (
        ("input", spec.tensors_in, inputs),
        ("output", spec.tensors_out, outputs),
    ):
        for t in tensors:
            node = have.get(t.name)
            if node is None:
                problems.append(f"has no {kind} tensor {t.name!r} (its {kind}s: {sorted(have)})")
                continue
            if node.type != ONNX_DTYPES[t.dtype]:
                problems.append(
                    f"{kind} {t.name!r} has type {node.type}, expected {ONNX_DTYPES[t.dtype]}"
                )
            shape = _shape_problem(t, list(node.shape))
            if shape:
                problems.append(f"{kind} {t.name!r} {shape}")
    extra = sorted(set(inputs) - {t.name for t in spec.tensors_in})
    if extra:
        declared = [t.name for t in spec.tensors_in]
        problems.append(f"needs input(s) {extra} that the spec does not declare ({declared})")
    if problems:
        raise BackendError(f"{owner} " + "; ".join(problems))


class OnnxBackend(Backend):
    """In-process ONNX Runtime inference (see the module docstring for options)."""

    name: ClassVar[str] = "onnx"
    formats: ClassVar[tuple[str, ...]] = ("onnx",)
    options_spec: ClassVar[tuple[Option, ...]] = (
        Option(
            "device",
            "str",
            "auto",
            "``auto`` (CUDAExecutionProvider when onnxruntime offers it), ``cpu`` or ``cuda[:N]``",
        ),
        Option("threads", "int", 1, "intra-op threads of the ONNX Runtime session"),
        Option("batch_size", "int", 8192, "rows per ``session.run``"),
    )

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        if int(self.options["threads"]) < 1 or int(self.options["batch_size"]) < 1:
            msg = "backend 'onnx': options 'threads' and 'batch_size' must be >= 1"
            raise ConfigError(msg)
        self._device: str | None = None
        self._providers: list[str] = []
        self._checked: set[tuple[str, str]] = set()

    @property
    def device(self) -> str:
        """The resolved device (``cpu`` or ``cuda[:N]``)."""
        if self._device is None:
            self._device, _ = resolve_providers(str(self.options["device"]))
        return self._device

    def session(self, spec: ModelSpec) -> Any:
        """The cached session of ``spec``, checked against the spec once per instance."""
        if spec.artifact.format not in self.formats:
            msg = (
                f"plugin {spec.name!r}: the onnx backend runs 'onnx' artifacts, not "
                f"{spec.artifact.format!r} (jetplug.export_onnx.export_onnx converts torch plugins)"
            )
            raise BackendError(msg)
        session = load_session(spec, self.device, int(self.options["threads"]))
        key = (spec.name, spec.artifact.sha256)
        if key not in self._checked:
            check_session(spec, session)
            self._checked.add(key)
            self._providers = list(session.get_providers())
        return session

    def infer(self, spec: ModelSpec, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``session.run`` on slices of at most ``batch_size`` rows."""
        session = self.session(spec)
        n = len(next(iter(tensors.values())))
        batch = int(self.options["batch_size"])
        names = [t.name for t in spec.tensors_out]
        parts: list[list[np.ndarray]] = [[] for _ in spec.tensors_out]
        for start in range(0, n, batch):
            feed = {
                t.name: np.ascontiguousarray(tensors[t.name][start : start + batch], dtype=t.dtype)
                for t in spec.tensors_in
            }
            for i, value in enumerate(session.run(names, feed)):
                parts[i].append(np.asarray(value))
        return assemble_outputs(spec, parts, n)

    def resolved(self) -> dict[str, Any]:
        """The device this process resolved ``auto`` to and the sessions' providers."""
        if self._device is None:
            return {}
        out: dict[str, Any] = {"device": self._device}
        if self._providers:
            out["providers"] = self._providers
        return out

    def describe(self, spec: ModelSpec) -> dict[str, Any]:
        """Backend, onnxruntime version, device, providers of the session and threads.

        Device and providers are this process's when a session ran here, else
        the requested device (the run replaces it with the workers').
        """
        info: dict[str, Any] = {
            "backend": self.name,
            "onnxruntime": package_version("onnxruntime"),
            "device": str(self.options["device"]),
            "threads": int(self.options["threads"]),
        }
        return merge_resolved(info, self.resolved())


@hookimpl
def jetplug_register_backends(registry: BackendRegistry) -> None:
    """Register the local ONNX Runtime backend."""
    registry.add(OnnxBackend)
