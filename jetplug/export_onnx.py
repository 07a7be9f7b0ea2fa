"""Export a torch plugin (``torch-state-dict`` artifact) to an ONNX file.

The plugin's module is built with :meth:`~jetplug.JetModel.build_module` and
its verified weights are loaded as the torch backend loads them
(``weights_only=True``); the module is then exported with torch's
TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``): the
``torch.export``-based one needs the extra ``onnxscript`` package and, with
torch 2.13, fails to decompose ``part``'s attention. Inputs and outputs get
the names of the spec's ``tensors_in`` / ``tensors_out`` and a dynamic batch
dimension ``batch``, so the file runs on the ``onnx`` backend and on Triton
with the plugin's own spec.

Element-wise operators that ONNX has but the TorchScript exporter does not
map (``sinh``, ``cosh`` and the inverse hyperbolic functions, used by
``part``'s pairwise features) are registered as one-to-one symbolics.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OnnxExportError
from .model import JetModel
from .spec import Artifact, sha256_file

__all__ = ["DEFAULT_OPSET", "OnnxExportError", "export_onnx"]

DEFAULT_OPSET = 17
"""ONNX opset written by default (``LayerNormalization`` is a single node from 17 on)."""
_UNARY = {"sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh", "acosh": "Acosh", "atanh": "Atanh"}
_registered: list[bool] = []


def _register_symbolics() -> None:
    """Map the element-wise aten operators the legacy exporter lacks to their ONNX nodes."""
    import torch.onnx

    if _registered:
        return
    register = getattr(torch.onnx, "register_custom_op_symbolic")  # noqa: B009 (not in __all__)
    for aten, node in _UNARY.items():

        def symbolic(g: Any, x: Any, node: str = node) -> Any:
            return g.op(node, x)

        register(f"aten::{aten}", symbolic, 9)
    _registered.append(True)


def _examples(model: JetModel, n: int, seed: int) -> list[np.ndarray]:
    """Random input tensors of ``n`` rows with the spec's shapes and dtypes."""
    rng = np.random.default_rng(seed)
    out = []
    for t in model.spec.tensors_in:
        shape = (n, *(d if d > 0 else 1 for d in t.shape))
        if t.dtype == "bool":
            out.append(rng.random(shape) < 0.5)
        elif t.dtype.startswith(("int", "uint")):
            out.append(rng.integers(0, 3, shape).astype(t.dtype))
        else:
            out.append(rng.standard_normal(shape).astype(t.dtype))
    return out


def _self_check(model: JetModel, module: Any, path: Path, rtol: float, atol: float) -> None:
    """Compare ONNX Runtime with torch on 3 random rows (the export traced 2)."""
    import onnxruntime as ort
    import torch

    spec = model.spec
    xs = _examples(model, 3, seed=1)
    with torch.inference_mode():
        out = module(*(torch.from_numpy(x) for x in xs))
    expected = [o.numpy() for o in (out if isinstance(out, tuple | list) else (out,))]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(
        [t.name for t in spec.tensors_out],
        {t.name: x for t, x in zip(spec.tensors_in, xs, strict=True)},
    )
    for t, e, g in zip(spec.tensors_out, expected, got, strict=True):
        if e.shape != g.shape or not np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True):
            diff = np.nanmax(np.abs(g - e)) if e.shape == g.shape else "shape"
            msg = (
                f"plugin {spec.name!r}: ONNX output {t.name!r} differs from torch on 3 rows "
                f"(shapes {g.shape} vs {e.shape}, max |diff| {diff})"
            )
            raise OnnxExportError(msg)


def export_onnx(
    model: JetModel,
    path: Path,
    opset: int = DEFAULT_OPSET,
    *,
    check: bool = True,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> Artifact:
    """Write ``model``'s torch module with its weights as ONNX at ``path``.

    Parameters
    ----------
    model
        A plugin instance with a ``torch-state-dict`` artifact.
    path
        The ``.onnx`` file to write (its directory is created).
    opset
        ONNX opset version.
    check
        Run ``onnx.checker`` and compare ONNX Runtime with torch on three
        random rows (a different batch size than the traced one), raising
        :class:`OnnxExportError` beyond ``rtol``/``atol``.

    Returns the :class:`~jetplug.spec.Artifact` of the file (format ``onnx``):
    ``dataclasses.replace(model.spec, artifact=...)`` is a spec the ``onnx``
    backend runs.
    """
    import torch

    from .backends.torch import load_module

    spec = model.spec
    if spec.artifact.format != "torch-state-dict":
        msg = f"plugin {spec.name!r}: only torch-state-dict artifacts export to ONNX, "
        msg += f"not {spec.artifact.format!r}"
        raise OnnxExportError(msg)
    module = load_module(model, "cpu")
    examples = tuple(torch.from_numpy(x) for x in _examples(model, 2, seed=0))
    names_in = [t.name for t in spec.tensors_in]
    names_out = [t.name for t in spec.tensors_out]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _register_symbolics()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
            warnings.filterwarnings("ignore", message=".*feature will be removed")
            torch.onnx.export(
                module,
                examples,
                str(path),
                dynamo=False,
                input_names=names_in,
                output_names=names_out,
                dynamic_axes={name: {0: "batch"} for name in (*names_in, *names_out)},
                opset_version=opset,
                do_constant_folding=True,
            )
    except Exception as e:
        msg = f"plugin {spec.name!r}: torch.onnx.export failed: {type(e).__name__}: {e}"
        raise OnnxExportError(msg[:2000]) from e
    if check:
        import onnx

        try:
            onnx.checker.check_model(str(path))
        except onnx.checker.ValidationError as e:
            msg = f"plugin {spec.name!r}: exported ONNX model is invalid: {e}"
            raise OnnxExportError(msg) from e
        _self_check(model, module, path, rtol, atol)
    return Artifact(path, sha256_file(path), "onnx")
