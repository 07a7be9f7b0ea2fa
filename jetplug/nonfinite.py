"""NaN and infinite inputs: found once per chunk, counted, and never turned into plausible outputs.

Every plugin's inputs are checked in the shared execution path
(:meth:`jetplug.chain.Step.run`), once per chunk:

* the gathered float fields (:attr:`ModelInputs.fields`), per field;
* the real constituents (``mask`` true; padding is not checked), per
  constituent field, named ``<candidates>.<field>`` (``PFCands.pt``);
* the float tensors ``prepare`` returned, per tensor, named ``tensor <name>``
  (a ratio of finite fields can still be infinite);
* objects whose constituents the file does not store (official NanoAOD v15
  stores no PF candidates for some FatJets: :attr:`ModelInputs.incomplete`),
  named ``constituents not stored``: a network would score them as empty jets.

An object with a non-finite value in any of them is handled by the plugin's
policy (:class:`~jetplug.spec.NonFinite`, declared in ``InputSpec.nonfinite``,
overridden by the run config's per-plugin key ``nonfinite``): ``propagate``
runs it and sets its float outputs to NaN, ``mask`` does not send it to the
model, ``refuse`` fails the chunk with a :class:`NonFiniteInputError`. The
counts (:class:`NonFiniteCounts`) go into each chunk's record and, summed per
plugin, into provenance and the run summary.

Outputs are stored in their declared dtypes: a float output computed wider
(``finalize`` returning float64 for a float32 output) is cast here
(:func:`cast_outputs`), and an object whose finite value does not fit the
declared type (beyond float32's 3.4e38) gets +-inf, counted per plugin and
output (:class:`OverflowCounts`) like the non-finite inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import NonFiniteInputError
from .model import ModelInputs
from .options import Option
from .spec import InputSpec, NonFinite, OutputSpec

__all__ = [
    "NONFINITE_OPTION",
    "NonFiniteCounts",
    "OverflowCounts",
    "bad_constituents",
    "bad_fields",
    "bad_tensors",
    "cast_outputs",
    "nan_outputs",
    "refuse",
    "scatter_rows",
]

NONFINITE_OPTION = Option(
    "nonfinite",
    "str",
    None,
    "what happens to objects with NaN or infinite inputs; default: the plugin's declaration",
    choices=tuple(p.value for p in NonFinite),
)
"""The per-plugin run-config key that overrides ``InputSpec.nonfinite``."""

Masks = dict[str, np.ndarray]
"""Input name -> ``(n_objects,)`` bool, true where the object has a non-finite value."""

NOT_STORED = "constituents not stored"
"""The :data:`Masks` entry of objects whose file lacks (some of) their constituents."""


def _rows(values: np.ndarray, n: int) -> np.ndarray | None:
    """``(n,)`` bool of rows with a non-finite value; ``None`` for non-float arrays or none bad."""
    values = np.asarray(values)
    if values.dtype.kind not in "fc" or values.size == 0:
        return None
    bad = ~np.isfinite(values.reshape(n, -1)).all(axis=1)
    return bad if bad.any() else None


def bad_fields(inputs: ModelInputs) -> Masks:
    """The gathered fields with a non-finite value, each with its per-object mask."""
    n = len(inputs)
    out: Masks = {}
    for name, values in inputs.fields.items():
        bad = _rows(values, n)
        if bad is not None:
            out[name] = bad
    return out


def bad_constituents(inputs: ModelInputs, spec: InputSpec) -> Masks:
    """The constituent fields with a non-finite value in a real (unpadded) constituent,
    and ``constituents not stored``: the objects whose file lacks some of them."""
    c, mask, declared = inputs.constituents, inputs.mask, spec.constituents
    if c is None or declared is None or c.size == 0:
        return {}
    out: Masks = {}
    if inputs.incomplete is not None and inputs.incomplete.any():
        out[NOT_STORED] = np.asarray(inputs.incomplete, bool)
    real = np.ones(c.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    for i, name in enumerate(declared.fields):
        bad = (~np.isfinite(c[..., i]) & real).any(axis=1)
        if bad.any():
            out[f"{declared.candidates}.{name}"] = bad
    return out


def bad_tensors(tensors: Mapping[str, np.ndarray], n: int) -> Masks:
    """The float tensors (one row per object) with a non-finite value, as ``tensor <name>``."""
    out: Masks = {}
    for name, values in tensors.items():
        bad = _rows(values, n)
        if bad is not None:
            out[f"tensor {name}"] = bad
    return out


@dataclass
class NonFiniteCounts:
    """Objects with non-finite inputs: in all, per input field and per prepared tensor.

    ``fields`` holds gathered fields and constituent fields
    (``PFCands.pt``), ``tensors`` the tensors ``prepare`` returned; an object
    may count under several inputs but once in ``objects``.
    """

    objects: int = 0
    fields: dict[str, int] = field(default_factory=dict)
    tensors: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.objects > 0

    def add(self, masks: Masks, bad: np.ndarray) -> None:
        """Count the inputs in ``masks`` and the objects ``bad`` marks (their union)."""
        self.objects += int(bad.sum())
        for name, mask in masks.items():
            plain = name.removeprefix("tensor ")
            into = self.tensors if plain != name else self.fields
            into[plain] = into.get(plain, 0) + int(mask.sum())

    def merge(self, other: Mapping[str, Any]) -> None:
        """Add counts in the :meth:`as_dict` form (e.g. from a chunk record)."""
        self.objects += int(other.get("objects", 0))
        for key in ("fields", "tensors"):
            into: dict[str, int] = getattr(self, key)
            for name, n in dict(other.get(key, {})).items():
                into[name] = into.get(name, 0) + int(n)

    def as_dict(self) -> dict[str, Any]:
        """``{"objects": n, "fields": {name: n}, "tensors": {name: n}}`` (names sorted)."""
        return {
            "objects": self.objects,
            "fields": dict(sorted(self.fields.items())),
            "tensors": dict(sorted(self.tensors.items())),
        }


def refuse(plugin: str, spec: InputSpec, masks: Masks, total: int, source: str | None) -> None:
    """Raise :class:`NonFiniteInputError` if the policy is ``refuse`` and ``masks`` has any."""
    if spec.nonfinite is not NonFinite.REFUSE or not masks:
        return
    bad = np.logical_or.reduce(list(masks.values()))
    raise NonFiniteInputError(
        plugin,
        collection=spec.collection,
        objects=int(bad.sum()),
        total=total,
        inputs={name: int(m.sum()) for name, m in masks.items()},
        source=source,
    )


def scatter_rows(
    tensors: Mapping[str, np.ndarray], keep: np.ndarray, n: int
) -> dict[str, np.ndarray]:
    """Tensors of the ``keep`` rows back into ``n`` rows: NaN (float), 0 or ``False`` elsewhere."""
    out: dict[str, np.ndarray] = {}
    for name, values in tensors.items():
        values = np.asarray(values)
        fill: Any = np.nan if values.dtype.kind in "fc" else 0
        full = np.full((n, *values.shape[1:]), fill, dtype=values.dtype)
        full[keep] = values
        out[name] = full
    return out


def nan_outputs(
    columns: Mapping[str, np.ndarray], outputs: Sequence[OutputSpec], bad: np.ndarray
) -> dict[str, np.ndarray]:
    """``columns`` with the float outputs of the ``bad`` objects set to NaN (copies, not views)."""
    out = dict(columns)
    for spec in outputs:
        values = columns.get(spec.name)
        if not isinstance(values, np.ndarray) or np.dtype(spec.dtype).kind != "f":
            continue  # a missing or mistyped column is check_tensors' to report
        if values.ndim == 0 or len(values) != len(bad):
            continue
        values = values.astype(np.result_type(values.dtype, np.float32), copy=True)
        values[bad] = np.nan
        out[spec.name] = values
    return out


def cast_outputs(
    columns: Mapping[str, np.ndarray], outputs: Sequence[OutputSpec], n: int
) -> tuple[dict[str, np.ndarray], Masks]:
    """``columns`` with each float output in its declared dtype, and, per output, the
    objects whose finite value did not fit that dtype (now +-inf).

    Precision lost within the declared type's range (float64 -> float32
    rounding) is the declared type's and is not counted.
    """
    out = dict(columns)
    beyond: Masks = {}
    for spec in outputs:
        values = columns.get(spec.name)
        want = np.dtype(spec.dtype)
        if not isinstance(values, np.ndarray) or want.kind != "f" or values.dtype == want:
            continue
        if values.dtype.kind not in "fiu" or values.ndim == 0 or len(values) != n or n == 0:
            continue  # a mistyped or misshapen column is check_tensors' to report
        with np.errstate(over="ignore"):
            cast = values.astype(want)
        out[spec.name] = cast
        rows = (np.isfinite(values) & ~np.isfinite(cast)).reshape(n, -1).any(axis=1)
        if rows.any():
            beyond[spec.name] = rows
    return out, beyond


@dataclass
class OverflowCounts:
    """Objects whose finite float output did not fit its declared dtype: in all, per output."""

    objects: int = 0
    outputs: dict[str, int] = field(default_factory=dict)

    def add(self, beyond: Masks) -> None:
        """Count the outputs in ``beyond`` (:func:`cast_outputs`) and their objects (union)."""
        self.objects += int(np.logical_or.reduce(list(beyond.values())).sum())
        for name, rows in beyond.items():
            self.outputs[name] = self.outputs.get(name, 0) + int(rows.sum())

    def merge(self, other: Mapping[str, Any]) -> None:
        """Add counts in the :meth:`as_dict` form (e.g. from a chunk record)."""
        self.objects += int(other.get("objects", 0))
        for name, n in dict(other.get("outputs", {})).items():
            self.outputs[name] = self.outputs.get(name, 0) + int(n)

    def as_dict(self) -> dict[str, Any]:
        """``{"objects": n, "outputs": {name: n}}`` (names sorted)."""
        return {"objects": self.objects, "outputs": dict(sorted(self.outputs.items()))}
