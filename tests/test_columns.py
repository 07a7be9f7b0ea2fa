"""Property tests of the columnar helpers (hypothesis)."""

from __future__ import annotations

import awkward as ak
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from jetplug.columns import (
    attach_outputs,
    flat_aligned,
    flat_values,
    object_counts,
    pad_constituents,
)
from jetplug.config import parse_config
from jetplug.histograms import book, fill
from jetplug.spec import ConstituentSpec
from jetplug_taggers import TopBDT


def _typed(rows: list[list[float]]) -> ak.Array:
    flat = np.asarray([v for r in rows for v in r], dtype=np.float32)
    return ak.unflatten(flat, np.asarray([len(r) for r in rows], dtype=np.int64))


jagged = st.lists(st.lists(st.floats(0.5, 1000.0, width=32), max_size=12), max_size=20)


@given(jagged, st.integers(1, 8))
@settings(max_examples=60, deadline=None)
def test_pad_constituents_shape_mask_order(pts: list[list[float]], max_n: int) -> None:
    pt = _typed(pts)
    cands = ak.zip({"pt": pt, "eta": pt * 0 + 1.0})
    spec = ConstituentSpec(fields=("pt", "eta"), max_constituents=max_n, pad_value=-9.0)
    dense, mask = pad_constituents(cands, spec)
    assert dense.shape == (len(pts), max_n, 2) and dense.dtype == np.float32
    assert mask.shape == (len(pts), max_n)
    np.testing.assert_array_equal(mask.sum(axis=1), [min(len(p), max_n) for p in pts])
    assert np.all(dense[~mask] == -9.0)
    for row, m, p in zip(dense, mask, pts, strict=True):
        np.testing.assert_allclose(row[m, 0], sorted(p, reverse=True)[:max_n], rtol=1e-6)


@given(st.lists(st.integers(0, 5), max_size=30))
@settings(max_examples=60, deadline=None)
def test_attached_outputs_keep_outer_structure(counts: list[int]) -> None:
    n = sum(counts)
    events = ak.zip(
        {
            "FatJet": ak.unflatten(
                ak.zip({"pt": np.arange(n, dtype=np.float32)}), np.asarray(counts, dtype=np.int64)
            )
        },
        depth_limit=1,
    )
    score = np.linspace(0, 1, n, dtype=np.float32)
    out = attach_outputs(events, TopBDT.spec, {"score": score}, np.asarray(counts, dtype=np.int64))
    assert len(out) == len(events)
    assert ak.to_list(ak.num(out.FatJet)) == counts
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(out.FatJet.top_bdt.score)), score)
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(out.FatJet.pt)), np.arange(n))


@given(
    st.lists(st.lists(st.floats(0, 1000, width=32), max_size=6), max_size=25),
    st.floats(0, 1000),
)
@settings(max_examples=60, deadline=None)
def test_histogram_total_equals_selected_count(pts: list[list[float]], cut: float) -> None:
    events = ak.zip(
        {"FatJet": ak.zip({"pt": _typed(pts)}), "genWeight": np.full(len(pts), 2.0)},
        depth_limit=1,
    )
    cfg = parse_config(
        {
            "fileset": {"d": ["x.root"]},
            "histograms": {
                "h": {
                    "axes": [{"field": "FatJet.pt", "bins": 7, "start": 0, "stop": 2000}],
                    "weight": "genWeight",
                    "cuts": [f"FatJet.pt > {cut!r}"],
                }
            },
        },
        base=__import__("pathlib").Path("."),
    ).histograms[0]
    h = book(cfg)
    n = fill(h, cfg, events)
    expected = sum(1 for row in pts for v in row if np.float32(v) > cut)
    assert n == expected
    assert h.sum(flow=True).value == 2.0 * expected


@given(jagged, st.integers(0, 3))
@settings(max_examples=60, deadline=None)
def test_fast_paths_match_awkward(pts: list[list[float]], start: int) -> None:
    """The buffer fast paths give what ak.num / ak.flatten / broadcast + ravel give."""
    pt = _typed(pts)[start:]  # a slice: offsets need not start at 0
    layouts = {
        "list-offset": pt,
        "list": ak.Array(
            ak.contents.ListArray(  # starts/stops: the awkward fallback
                ak.index.Index64(np.asarray(ak.to_layout(pt).starts)),
                ak.index.Index64(np.asarray(ak.to_layout(pt).stops)),
                ak.to_layout(pt).content,
            )
        ),
        "option": ak.mask(pt, ak.num(pt) > 1),
    }
    for name, arr in layouts.items():
        if name != "option":
            np.testing.assert_array_equal(object_counts(arr), ak.to_numpy(ak.num(arr, axis=1)))
            np.testing.assert_array_equal(flat_values(arr), ak.to_numpy(ak.flatten(arr)))
    both = flat_aligned([pt, pt * 2, pt > 10])
    assert both is not None
    expected = [ak.to_numpy(ak.ravel(a)) for a in ak.broadcast_arrays(pt, pt * 2, pt > 10)]
    for got, want in zip(both, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    per_event = ak.Array(np.ones(len(pt)))
    assert flat_aligned([pt, per_event]) is None  # event-level values: callers broadcast
    if len(pt) and ak.sum(ak.num(pt)) > 0:
        shorter = pt[:, :-1] if ak.all(ak.num(pt) > 0) else None
        if shorter is not None:
            assert flat_aligned([pt, shorter]) is None
