"""Columnar helpers: field paths, input gathering, constituent padding, attaching outputs.

All of it is vectorised over events and objects (awkward/numpy kernels only).
"""

from __future__ import annotations

from collections.abc import Mapping

import awkward as ak
import numpy as np

from .derivations import count_constituents
from .errors import MissingInputError
from .model import ModelInputs
from .registry import DerivationRegistry
from .spec import ConstituentSpec, ModelSpec, OutputSpec, TargetMode

__all__ = [
    "attach_outputs",
    "constituents_of",
    "gather_inputs",
    "get_path",
    "has_path",
    "pad_constituents",
]


def has_path(array: ak.Array, path: str) -> bool:
    """Whether the dotted ``path`` exists in ``array`` (records only)."""
    node = array
    for part in path.split("."):
        if part not in ak.fields(node):
            return False
        node = node[part]
    return True


def get_path(array: ak.Array, path: str) -> ak.Array:
    """``array[a][b][c]`` for ``path="a.b.c"``."""
    node = array
    for part in path.split("."):
        node = node[part]
    return node


def constituents_of(events: ak.Array, collection: str, candidates: str = "PFCands") -> ak.Array:
    """PF candidates of each object, ``(events, objects, candidates)``, from the PFNano tables.

    Built from ``<collection>PFCands`` (event-local ``jetIdx``, ``pFCandsIdx``)
    and ``PFCands`` directly, so it works whether or not the file stores
    ``<collection>_nConstituents`` (coffea's ``FatJet.constituents`` needs it,
    CMS PFNano files do not always have it). Rows are grouped by object with a
    stable sort, so the tables need not be ordered jet by jet.
    """
    table = events[f"{collection}PFCands"]
    table = table[ak.argsort(table["jetIdx"], axis=1, stable=True)]
    cands = ak.flatten(events[candidates][table["pFCandsIdx"]], axis=1)
    per_object = count_constituents(events, collection)
    return ak.unflatten(ak.unflatten(cands, ak.flatten(per_object)), ak.num(per_object, axis=1))


def pad_constituents(
    constituents: ak.Array, spec: ConstituentSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Dense ``(n, max, n_fields)`` float32 array and ``(n, max)`` mask from jagged constituents.

    ``constituents`` has one list per object. They are sorted by
    ``spec.sort_by`` (descending), clipped to ``spec.max_constituents`` and
    padded with ``spec.pad_value``.
    """
    if spec.sort_by is not None:
        order = ak.argsort(constituents[spec.sort_by], axis=1, ascending=False)
        constituents = constituents[order]
    padded = ak.pad_none(constituents, spec.max_constituents, axis=1, clip=True)
    mask = ak.to_numpy(~ak.is_none(padded, axis=1)).astype(bool)
    n = len(padded)
    out = np.full((n, spec.max_constituents, len(spec.fields)), spec.pad_value, dtype=np.float32)
    for i, name in enumerate(spec.fields):
        values = ak.to_numpy(ak.fill_none(padded[name], spec.pad_value)).astype(np.float32)
        out[:, :, i] = values.reshape(n, spec.max_constituents)
    return out, mask


def gather_inputs(
    events: ak.Array,
    spec: ModelSpec,
    derivations: DerivationRegistry,
    *,
    source: str | None = None,
) -> tuple[ModelInputs, np.ndarray]:
    """Flatten what ``spec.inputs`` declares into :class:`ModelInputs`.

    Returns the inputs and the per-event object counts (to unflatten outputs).
    Fields the collection lacks are derived when the spec names a derivation;
    otherwise :class:`MissingInputError` names the plugin, the field and ``source``.
    """
    consumer = f"plugin {spec.name!r}"
    collection = spec.inputs.collection
    if collection not in ak.fields(events):
        raise MissingInputError(
            consumer=consumer, field=collection, path=source, available=ak.fields(events)
        )
    objects = events[collection]
    counts = ak.to_numpy(ak.num(objects, axis=1))
    fields: dict[str, np.ndarray] = {}
    for fs in spec.inputs.fields:
        if has_path(objects, fs.name):
            values = get_path(objects, fs.name)
        elif fs.derive is not None:
            derivation = derivations.get(fs.derive)
            try:
                values = derivation.func(events, collection)
            except (AttributeError, KeyError, ValueError) as e:
                raise MissingInputError(
                    consumer=consumer,
                    field=f"{collection}.{fs.name}",
                    path=source,
                    hint=f"(derivation {fs.derive!r} failed: {e})",
                ) from e
        else:
            raise MissingInputError(
                consumer=consumer,
                field=f"{collection}.{fs.name}",
                path=source,
                available=ak.fields(objects),
            )
        fields[fs.name] = ak.to_numpy(ak.flatten(values, axis=1))
    constituents = mask = None
    if spec.inputs.constituents is not None:
        cspec = spec.inputs.constituents
        needed = (f"{collection}PFCands", cspec.candidates)
        if not all(name in ak.fields(events) for name in needed):
            raise MissingInputError(
                consumer=consumer,
                field=f"{collection}PFCands / {cspec.candidates}",
                path=source,
                hint=f"(constituents need the PFNano tables {list(needed)})",
            )
        flat = ak.flatten(constituents_of(events, collection, cspec.candidates), axis=1)
        constituents, mask = pad_constituents(flat, cspec)
    return ModelInputs(fields, constituents, mask), counts


def _unflatten(values: np.ndarray, counts: np.ndarray) -> ak.Array:
    return ak.unflatten(values, counts, axis=0)


def _columns_record(
    columns: Mapping[str, np.ndarray], outputs: tuple[OutputSpec, ...]
) -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for out in outputs:
        values = np.asarray(columns[out.name])
        flat[out.name] = values
        for i, label in enumerate(out.labels):
            flat[f"{out.name}_{label}"] = values[:, i]
    return flat


def attach_outputs(
    events: ak.Array,
    spec: ModelSpec,
    columns: Mapping[str, np.ndarray],
    counts: np.ndarray,
) -> ak.Array:
    """Return ``events`` with the plugin's output columns attached per ``spec.target``."""
    flat = _columns_record(columns, spec.outputs)
    n_obj = int(counts.sum())
    for name, values in flat.items():
        if len(values) != n_obj:
            msg = (
                f"plugin {spec.name!r} returned {len(values)} values for output {name!r}, "
                f"expected one per object ({n_obj})"
            )
            raise ValueError(msg)
    jagged = {name: _unflatten(values, counts) for name, values in flat.items()}
    mode = spec.target.mode
    if mode is TargetMode.CREATE:
        new = ak.zip(jagged, depth_limit=2) if jagged else ak.Array([])
        return ak.with_field(events, new, spec.target_collection)
    collection = spec.target_collection
    objects = events[collection]
    if mode is TargetMode.ADD:
        objects = ak.with_field(objects, ak.zip(jagged, depth_limit=2), spec.name)
    else:  # REPLACE
        for name, values in jagged.items():
            if name in ak.fields(objects):
                objects = ak.with_field(objects, objects[name], f"{name}_raw")
            objects = ak.with_field(objects, values, name)
    return ak.with_field(events, objects, collection)
