"""Checks of what a plugin hands over against what its spec declares.

``prepare()`` must return ``spec.tensors_in``, a backend ``spec.tensors_out``
and ``finalize()`` ``spec.outputs``: the names, the dtypes (anything that
converts without loss of kind, e.g. float64 for float32) and the shapes, with
one row per object. A mismatch is a :class:`~jetplug.errors.TensorSpecError`
naming the plugin, the step and the tensor, raised before anything is sent
to a backend, instead of a bare ``KeyError`` or a shape error deep in torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from .errors import TensorSpecError

__all__ = ["check_tensors"]


class _Declared(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def shape(self) -> tuple[int, ...]: ...


def _kind_ok(got: np.dtype[np.generic], want: np.dtype[np.generic]) -> bool:
    if got == want:
        return True
    if want.kind == "b":
        return got.kind == "b"
    if want.kind == "f":
        return got.kind in "fiub"
    if want.kind in "iu":
        return got.kind in "iub"
    return False


def check_tensors(
    plugin: str,
    what: str,
    tensors: Mapping[str, Any],
    declared: Sequence[_Declared],
    n_rows: int,
) -> None:
    """Raise :class:`TensorSpecError` unless ``tensors`` match ``declared`` with ``n_rows`` rows.

    ``what`` names the step in the message, e.g. ``"prepare() returned"``.
    """
    names = [d.name for d in declared]
    missing = [n for n in names if n not in tensors]
    extra = sorted(set(tensors) - set(names))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"undeclared {extra}")
        msg = f"{what} tensors {sorted(tensors)}, declared {names}: {'; '.join(parts)}"
        raise TensorSpecError(plugin, msg)
    for d in declared:
        value = tensors[d.name]
        if not isinstance(value, np.ndarray):
            msg = f"{what} {d.name!r} as {type(value).__name__}, expected a numpy array"
            raise TensorSpecError(plugin, msg)
        want = np.dtype(d.dtype)
        if not _kind_ok(value.dtype, want):
            msg = f"{what} {d.name!r} with dtype {value.dtype}, declared {d.dtype}"
            raise TensorSpecError(plugin, msg)
        expected = (n_rows, *d.shape)
        shape_ok = value.ndim == len(expected) and all(
            e in (-1, g) for e, g in zip(expected, value.shape, strict=True)
        )
        if not shape_ok:
            shown = "(" + ", ".join("n" if i == 0 else str(e) for i, e in enumerate(expected))
            msg = (
                f"{what} {d.name!r} with shape {value.shape}, declared {shown}) "
                f"with n = {n_rows} objects (-1: any size)"
            )
            raise TensorSpecError(plugin, msg)
