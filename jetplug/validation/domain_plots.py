"""Plots of ``jetplug validate --section domain``: the λ trade-off per target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import mplhep as hep
import numpy as np

from .plots import _save

__all__ = ["plot_domain"]


def _tradeoff(rows: Sequence[Mapping[str, Any]], target: str, out: Path, title: str) -> Path:
    """R50 target against R50 source, and W1 against R50 source: a line per λ scan."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6))
    mine = [r for r in rows if r["target"] == target]
    plugins = list(dict.fromkeys(r["plugin"] for r in mine))
    colours = dict(
        zip(plugins, plt.cm.tab10(np.linspace(0, 1, max(len(plugins), 2))), strict=False)
    )
    for plugin in plugins:
        pts = [r for r in mine if r["plugin"] == plugin]
        scan = pts[0]["kind"] == "scan"
        x = [r["r50_source"] for r in pts]
        style = {
            "color": colours[plugin],
            "label": plugin,
            "marker": "o" if scan else "D",
            "linestyle": "-" if scan else "none",
            "capsize": 2,
        }
        left.errorbar(
            x,
            [r["r50_target"] for r in pts],
            xerr=[r["r50_source_err"] for r in pts],
            yerr=[r["r50_target_err"] for r in pts],
            **style,
        )
        right.errorbar(
            x,
            [1e3 * r["w1"] for r in pts],
            xerr=[r["r50_source_err"] for r in pts],
            yerr=[0.5e3 * np.hypot(r["w1_top_err"], r["w1_qcd_err"]) for r in pts],
            **style,
        )
        for r in pts if scan else ():
            label = r["name"].split("[")[1].rstrip("]")
            for ax, y in ((left, r["r50_target"]), (right, 1e3 * r["w1"])):
                ax.annotate(
                    label,
                    (r["r50_source"], y),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
    lo = min(min(r["r50_source"], r["r50_target"]) for r in mine) * 0.8
    hi = max(max(r["r50_source"], r["r50_target"]) for r in mine) * 1.2
    left.plot([lo, hi], [lo, hi], color="grey", linestyle=":", label="no gap")
    left.set_ylabel(f"R$_{{50}}$ on the target ({target})")
    right.set_ylabel(r"W$_1$ source vs target, mean of top and QCD [10$^{-3}$]")
    for ax in (left, right):
        ax.set_xlabel(r"R$_{50}$ on the source")
        ax.legend(fontsize=8)
    left.set_title(f"source vs {target}", loc="left")
    return _save(fig, out / f"tradeoff_{target}.png", title)


def plot_domain(rows: Sequence[Mapping[str, Any]], output: Path) -> list[Path]:
    """One trade-off figure per target."""
    output.mkdir(parents=True, exist_ok=True)
    plt.style.use(hep.style.ROOT)
    plt.rcParams.update({"font.size": 12, "axes.titlesize": 12, "axes.labelsize": 14})
    targets = dict.fromkeys(r["target"] for r in rows)
    return [_tradeoff(rows, t, output, "jetplug simulation") for t in targets]
