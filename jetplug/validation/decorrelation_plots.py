"""Plots of ``jetplug validate --section decorrelation``: the R50-vs-1/JSD50 plane, QCD masses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import mplhep as hep
import numpy as np

from .collect import CLASS_NAMES, QCD, JetTable
from .decorrelation import Variant
from .plots import _save

__all__ = ["plot_decorrelation"]

_MARKERS = {"baseline": "s", "tagger": "D", "decorrelator": "o"}
_EDGES = np.arange(50.0, 305.0, 5.0)


def _family(name: str) -> str:
    return name.split("[", maxsplit=1)[0]


def _plane(rows: Sequence[Mapping[str, Any]], signal: str, out: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(8, 6.5))
    mine = [r for r in rows if r["signal"] == signal]
    families = list(dict.fromkeys(_family(r["name"]) for r in mine))
    colours = dict(
        zip(families, plt.cm.tab10(np.linspace(0, 1, max(len(families), 2))), strict=False)
    )
    for fam in families:
        pts = sorted((r for r in mine if _family(r["name"]) == fam), key=lambda r: r["inv_jsd50"])
        x = [r["inv_jsd50"] for r in pts]
        y = [r["r50"] for r in pts]
        ax.errorbar(
            x,
            y,
            xerr=[r["inv_jsd50_err"] for r in pts],
            yerr=[r["r50_err"] for r in pts],
            marker=_MARKERS.get(pts[0]["kind"], "o"),
            color=colours[fam],
            label=fam,
            linestyle="-" if len(pts) > 1 else "none",
            markersize=6,
            capsize=2,
        )
        for r in pts:
            if "[" in r["name"]:
                ax.annotate(
                    r["name"].split("[")[1].rstrip("]"),
                    (r["inv_jsd50"], r["r50"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
    front = sorted((r for r in mine if r.get("pareto")), key=lambda r: r["inv_jsd50"])
    ax.plot(
        [r["inv_jsd50"] for r in front],
        [r["r50"] for r in front],
        color="grey",
        linestyle=":",
        linewidth=2,
        label="Pareto front",
        zorder=0,
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"1/JSD$_{50}$ (QCD $m_{SD}$, pass vs fail)")
    ax.set_ylabel(r"R$_{50}$ = 1/$\varepsilon_B$ at $\varepsilon_S$ = 0.5")
    ax.set_title(f"{signal} vs QCD", loc="left")
    ax.legend(fontsize=8, ncol=2)
    return _save(fig, out / f"pareto_{signal}.png", title)


def _masses(
    table: JetTable,
    points: Sequence[Variant],
    cuts: Mapping[str, float],
    signal: int,
    out: Path,
    title: str,
) -> Path:
    truth, mass = table.columns["truthLabel"], table.columns["msoftdrop"]
    qcd = truth == QCD
    fig, ax = plt.subplots(figsize=(8, 6))
    h, _ = np.histogram(mass[qcd], _EDGES, density=True)
    hep.histplot(h, _EDGES, ax=ax, label="QCD, all", color="black", linewidth=2)
    for v in points:
        if v.signal != signal or v.name not in cuts:
            continue
        passed = qcd & (v.score(table) > cuts[v.name])
        if passed.sum() == 0:
            continue
        h, _ = np.histogram(mass[passed], _EDGES, density=True)
        hep.histplot(h, _EDGES, ax=ax, label=f"{v.name} ({passed.sum()})")
    ax.set_xlabel(r"$m_{SD}$ [GeV]")
    ax.set_ylabel("density (QCD passing the cut)")
    ax.set_title(rf"QCD after the {CLASS_NAMES[signal]} cut at $\varepsilon_S$ = 0.5", loc="left")
    ax.legend(fontsize=8)
    return _save(fig, out / f"mass_{CLASS_NAMES[signal]}.png", title)


def plot_decorrelation(
    table: JetTable,
    points: Sequence[Variant],
    rows: Sequence[Mapping[str, Any]],
    output: Path,
    *,
    shown: Sequence[str] = (),
) -> list[Path]:
    """Per signal: the R50-vs-1/JSD50 plane and the QCD mass after the cut of the ``shown``
    variants (default: the front's and the baselines')."""
    output.mkdir(parents=True, exist_ok=True)
    plt.style.use(hep.style.ROOT)
    plt.rcParams.update({"font.size": 12, "axes.titlesize": 12, "axes.labelsize": 14})
    title = "jetplug simulation"
    cuts = {r["name"]: r["cut"] for r in rows}
    written = []
    for signal in sorted({v.signal for v in points}):
        name = CLASS_NAMES[signal]
        if not any(r["signal"] == name for r in rows):
            continue
        written.append(_plane(rows, name, output, title))
        pick = set(shown) or {
            r["name"]
            for r in rows
            if r["signal"] == name and (r.get("pareto") or r["kind"] == "baseline")
        }
        written.append(
            _masses(table, [v for v in points if v.name in pick], cuts, signal, output, title)
        )
    return written
