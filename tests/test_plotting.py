"""Plots read well: log axes ignore empty bins and rounding remainders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hist
import matplotlib.pyplot as plt
import numpy as np
import pytest

from jetplug import plotting
from jetplug.config import PlotConfig, parse_config


def _score_hist() -> hist.Hist[Any]:
    """Weighted; QCD has a single-entry bin, top has empty bins.

    A single entry's error bar reaches down to value - sqrt(variance), which
    after the density division can be a rounding remainder (~1e-17) instead
    of 0: matplotlib's log autoscaling used to extend the axis down to it.
    """
    h: hist.Hist[Any] = hist.Hist(
        hist.axis.Regular(10, 0, 1, name="score"),
        hist.axis.IntCategory([0, 1], name="truth"),
        storage=hist.storage.Weight(),
    )
    qcd = np.array([0.05] * 6 + [0.15, 0.25, 0.35, 0.45, 0.65, 0.75, 0.85, 0.95] * 2 + [0.55])
    h.fill(score=qcd, truth=0, weight=np.ones(len(qcd)))
    top = np.array([0.85] * 50 + [0.95] * 400)
    h.fill(score=top, truth=1, weight=np.ones(len(top)))
    return h


@pytest.mark.parametrize("density", [False, True])
def test_log_axis_starts_near_the_smallest_content(density: bool) -> None:
    h = _score_hist()
    cfg = PlotConfig(type="hist1d", hist="score", overlay="truth", log=True, density=density)
    fig, ax = plt.subplots()
    try:
        plotting._hist1d(cfg, {"d": {"score": h}}, ax)
        low, high = ax.get_ylim()
    finally:
        plt.close(fig)
    lines = [h[{"truth": hist.loc(t)}].values() for t in (0, 1)]
    if density:
        lines = [v / np.sum(v * 0.1) for v in lines]
    positive = np.concatenate(lines)
    positive = positive[positive > 0]
    assert positive.min() / 10 < low < positive.min()  # not 1e-18 because a bin is empty
    assert high > positive.max()


def test_log_axis_of_an_empty_histogram_does_not_fail(tmp_path: Path) -> None:
    h = _score_hist()
    h.reset()
    cfg = parse_config(
        {
            "fileset": {"d": ["x.root"]},
            "histograms": {
                "score": {
                    "axes": [
                        {"field": "FatJet.s", "bins": 10, "start": 0, "stop": 1, "name": "score"},
                        {"field": "FatJet.t", "categories": [0, 1], "name": "truth"},
                    ]
                }
            },
            "plots": [{"type": "hist1d", "hist": "score", "overlay": "truth", "log": True}],
        },
        base=tmp_path,
    )
    (path,) = plotting.make_plots(cfg, {"d": {"score": h}}, tmp_path / "plots")
    assert path.stat().st_size > 0
