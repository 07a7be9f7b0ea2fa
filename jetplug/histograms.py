"""Build and fill ``hist.Hist`` objects from histogram configurations.

An entry whose axis value or weight is NaN (a plugin's output for an object
with NaN or infinite inputs, a 0/0 in an expression) is not filled: hist
would put it in the overflow bin, where it would pass for a large value.
:func:`fill_entries` counts these entries; ``jetplug run`` records them per
chunk and per histogram (``dropped_nan`` in provenance). Infinite values are
ordered and still go to the underflow/overflow bins.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import awkward as ak
import hist
import numpy as np

from .columns import flat_aligned, get_path, has_path
from .config import AxisConfig, Cut, HistogramConfig
from .errors import MissingInputError
from .expressions import parse_expression

__all__ = [
    "FillCount",
    "book",
    "check_memory",
    "cut_mask",
    "estimate_bytes",
    "fill",
    "fill_entries",
    "format_bytes",
    "resolve",
]

_OPS: Mapping[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def _axis(cfg: AxisConfig) -> Any:
    if cfg.bins is not None:
        assert cfg.start is not None
        assert cfg.stop is not None
        transform = hist.axis.transform.log if cfg.transform == "log" else None
        return hist.axis.Regular(
            cfg.bins, cfg.start, cfg.stop, name=cfg.name, label=cfg.label, transform=transform
        )
    if cfg.edges is not None:
        return hist.axis.Variable(cfg.edges, name=cfg.name, label=cfg.label)
    if cfg.integer is not None:
        return hist.axis.Integer(*cfg.integer, name=cfg.name, label=cfg.label)
    assert cfg.categories is not None
    if isinstance(cfg.categories[0], str):
        return hist.axis.StrCategory(list(cfg.categories), name=cfg.name, label=cfg.label)
    return hist.axis.IntCategory(list(cfg.categories), name=cfg.name, label=cfg.label)


def _extent(cfg: AxisConfig) -> int:
    """Bins of the axis :func:`_axis` books, flow bins included."""
    if cfg.bins is not None:
        return cfg.bins + 2  # underflow, overflow
    if cfg.edges is not None:
        return len(cfg.edges) + 1
    if cfg.integer is not None:
        return max(cfg.integer[1] - cfg.integer[0], 0) + 2
    assert cfg.categories is not None
    return len(cfg.categories) + 1  # the overflow category


def estimate_bytes(cfg: HistogramConfig) -> int:
    """Memory of the histogram :func:`book` makes for ``cfg``: bins (flow included) x storage."""
    n = 1
    for a in cfg.axes:
        n *= _extent(a)
    return n * (16 if cfg.weight else 8)  # Weight: sum of weights and of their squares


def format_bytes(n: float) -> str:
    """``80003200032`` -> ``74.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} TiB"


def check_memory(cfg: HistogramConfig, limit: int) -> str | None:
    """Why ``cfg`` is refused (its estimated memory is over ``limit`` bytes), or ``None``.

    A run holds several (one per dataset, more while chunks are merged), so
    one far larger than memory would fail late, with a ``MemoryError``.
    """
    size = estimate_bytes(cfg)
    if size <= limit:
        return None
    bins = " x ".join(str(_extent(a)) for a in cfg.axes)
    storage = "weighted" if cfg.weight else "double"
    return (
        f"{bins} bins ({storage} storage, flow bins included) need about "
        f"{format_bytes(size)} per dataset, over the limit of {format_bytes(limit)} per "
        "histogram; use fewer bins, or raise the top-level max_histogram_memory"
    )


def book(cfg: HistogramConfig, *, weighted: bool = False) -> hist.Hist[Any]:
    """An empty histogram for ``cfg`` (weighted storage when ``cfg.weight`` or ``weighted``)."""
    storage = hist.storage.Weight() if cfg.weight or weighted else hist.storage.Double()
    axes = [_axis(a) for a in cfg.axes]
    h: hist.Hist[Any] = hist.Hist(*axes, storage=storage)
    return h


def resolve(events: ak.Array, path: str, consumer: str, source: str | None) -> ak.Array:
    """``events`` at the dotted ``path``; :class:`MissingInputError` names ``consumer``.

    ``n<Collection>`` (NanoAOD's counter branches, which NanoEvents does not
    expose as fields; also for collections plugins create) is the number of
    objects of the collection in each event.
    """
    if has_path(events, path):
        return get_path(events, path)
    if path.startswith("n") and path[1:] in ak.fields(events):
        return ak.num(events[path[1:]], axis=1)
    head, _, rest = path.partition(".")
    available = ak.fields(events[head]) if rest and head in ak.fields(events) else ak.fields(events)
    raise MissingInputError(consumer=consumer, field=path, path=source, available=available)


def _axis_values(events: ak.Array, cfg: AxisConfig, consumer: str, source: str | None) -> Any:
    if cfg.expr is None:
        return resolve(events, cfg.field, consumer, source)
    return parse_expression(cfg.expr).evaluate(lambda p: resolve(events, p, consumer, source))


def cut_mask(
    events: ak.Array, cuts: Sequence[Cut], consumer: str, source: str | None = None
) -> ak.Array | None:
    """The AND of ``cuts`` over ``events`` (None without cuts).

    Cut fields are broadcast together: event-level cuts select whole events,
    object-level cuts single objects of their collection.
    """
    if not cuts:
        return None
    columns = [c.values(lambda p: resolve(events, p, consumer, source)) for c in cuts]
    if len(columns) > 1:
        columns = list(ak.broadcast_arrays(*columns))
    mask = None
    for cut, column in zip(cuts, columns, strict=True):
        passed = _OPS[cut.op](column, cut.value)
        mask = passed if mask is None else mask & passed
    return mask


class FillCount(NamedTuple):
    """Entries of one fill: ``filled``, and ``nan`` selected but left out for a NaN value."""

    filled: int
    nan: int


def _nan_rows(values: Sequence[np.ndarray]) -> np.ndarray:
    """Bool per entry: a NaN in any of the float arrays."""
    n = len(values[0]) if values else 0
    bad = np.zeros(n, dtype=bool)
    for v in values:
        if v.dtype.kind in "fc":
            bad |= np.isnan(v)
    return bad


def fill_entries(
    h: hist.Hist[Any],
    cfg: HistogramConfig,
    events: ak.Array,
    *,
    source: str | None = None,
    event_weight: ak.Array | None = None,
) -> FillCount:
    """Fill ``h`` from ``events``; count the entries filled and those dropped for a NaN.

    Event-level fields are broadcast to the objects of the (single) collection
    the other fields come from; cuts select entries, ``weight`` weighs them,
    times ``event_weight`` (one value per event, e.g. the normalisation of
    simulation to a luminosity) when given. A selected entry with a NaN axis
    value or weight is not filled (see the module docstring).
    """
    consumer = f"histogram {cfg.name!r}"
    arrays = [_axis_values(events, a, consumer, source) for a in cfg.axes]
    cut = cut_mask(events, cfg.cuts, consumer, source)
    cuts = [] if cut is None else [cut]
    weight = resolve(events, cfg.weight, consumer, source) if cfg.weight else None
    if event_weight is not None:
        weight = event_weight if weight is None else weight * event_weight
    weights = [] if weight is None else [weight]
    everything = arrays + cuts + weights
    flat = flat_aligned(everything)  # fields of one collection: nothing to broadcast
    if flat is None:
        if len(everything) > 1:
            everything = list(ak.broadcast_arrays(*everything))
        flat = [ak.to_numpy(ak.ravel(a)) for a in everything]
    values = flat[: len(arrays)]
    mask = np.asarray(flat[len(arrays)], dtype=bool) if cuts else np.ones(len(values[0]), bool)
    nan = _nan_rows(values + ([flat[-1]] if weights else [])) & mask
    mask = mask & ~nan
    selected = [v[mask] for v in values]
    if weights:
        h.fill(*selected, weight=flat[-1][mask])
    else:
        h.fill(*selected)
    return FillCount(int(mask.sum()), int(nan.sum()))


def fill(
    h: hist.Hist[Any], cfg: HistogramConfig, events: ak.Array, *, source: str | None = None
) -> int:
    """Fill ``h`` from ``events`` (:func:`fill_entries`); returns the number of entries filled."""
    return fill_entries(h, cfg, events, source=source).filled
