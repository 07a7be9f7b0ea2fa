"""Validation plots: ROC curves, score distributions per class, QCD mass sculpting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")

import itertools

import matplotlib.pyplot as plt
import mplhep as hep
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from ..plotting import log_scale
from .collect import CLASS_NAMES, QCD, JetTable
from .report import cut_at

__all__ = ["plot_all"]

Scores = Mapping[tuple[str, int], np.ndarray]


def _save(fig: Figure, path: Path, title: str) -> Path:
    fig.axes[0].set_title(title, loc="right", fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _roc(
    table: JetTable,
    scores: Scores,
    signal: int,
    bins: Sequence[tuple[float, float]],
    out: Path,
    title: str,
) -> Path:
    truth, pt = table.columns["truthLabel"], table.columns["pt"]
    fig, axes = plt.subplots(1, len(bins), figsize=(6.5 * len(bins), 5.5), squeeze=False)
    for ax, (lo, hi) in zip(axes[0], bins, strict=True):
        sel = (pt > lo) & (pt < hi) & np.isin(truth, [signal, QCD])
        labels = truth[sel] == signal
        for (name, sig), score in scores.items():
            if sig != signal or labels.all() or not labels.any():
                continue
            fpr, tpr, _ = roc_curve(labels, score[sel])
            ok = (fpr > 0) & (tpr > 0.05)
            ax.plot(tpr[ok], 1.0 / fpr[ok], label=name)
        ax.set_yscale("log")
        ax.set_xlabel(r"signal efficiency $\varepsilon_S$")
        ax.set_ylabel(r"background rejection $1/\varepsilon_B$")
        ax.set_title(f"{CLASS_NAMES[signal]} vs QCD, {lo:g} < $p_T$ < {hi:g} GeV", loc="left")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=10)
    return _save(fig, out / f"roc_{CLASS_NAMES[signal]}.png", title)


def _distributions(
    table: JetTable, name: str, signal: int, score: np.ndarray, out: Path, title: str
) -> Path:
    truth = table.columns["truthLabel"]
    fig, ax = plt.subplots(figsize=(7, 5.5))
    lo, hi = float(np.min(score)), float(np.max(score))
    edges = np.linspace(lo, hi if hi > lo else lo + 1, 51)
    drawn = []
    for label in sorted(set(truth.tolist())):
        h, _ = np.histogram(score[truth == label], edges, density=True)
        hep.histplot(h, edges, ax=ax, label=f"{CLASS_NAMES[label]} ({(truth == label).sum()})")
        drawn.append(h)
    log_scale(ax, drawn)
    ax.set_xlabel(f"{name} ({CLASS_NAMES[signal]} vs QCD)")
    ax.set_ylabel("density")
    ax.legend(fontsize=10)
    safe = name.replace("[", "_").replace("]", "").replace("+", "_")
    return _save(fig, out / f"scores_{safe}.png", title)


def _sculpting(table: JetTable, scores: Scores, signal: int, out: Path, title: str) -> Path:
    truth, mass = table.columns["truthLabel"], table.columns["msoftdrop"]
    qcd = truth == QCD
    edges = np.arange(0.0, 305.0, 5.0)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    h, _ = np.histogram(mass[qcd], edges, density=True)
    hep.histplot(h, edges, ax=ax, label="QCD, all", color="black")
    for (name, sig), score in scores.items():
        if sig != signal:
            continue
        cut = cut_at(score[truth == signal], 0.5)
        passed = qcd & (score > cut)
        if passed.sum() == 0:
            continue
        h, _ = np.histogram(mass[passed], edges, density=True)
        hep.histplot(h, edges, ax=ax, label=f"{name} > cut ({passed.sum()})")
    ax.set_xlabel(r"$m_{SD}$ [GeV]")
    ax.set_ylabel("density (QCD)")
    ax.set_title(rf"QCD, {CLASS_NAMES[signal]} cut at $\varepsilon_S$ = 0.5", loc="left")
    ax.legend(fontsize=9)
    return _save(fig, out / f"sculpting_{CLASS_NAMES[signal]}.png", title)


def plot_all(
    table: JetTable,
    scores: Scores,
    pt_bins: Sequence[float],
    output: Path,
    *,
    energy: str | None = None,
) -> list[Path]:
    """Every plot for every signal; returns the files written.

    ``energy`` (e.g. ``"13.6 TeV"``, see :func:`jetplug.plotting.files_energy`)
    goes into the title; without it the title names no energy.
    """
    output.mkdir(parents=True, exist_ok=True)
    title = f"jetplug simulation ({energy})" if energy else "jetplug simulation"
    plt.style.use(hep.style.ROOT)
    plt.rcParams.update({"font.size": 13, "axes.titlesize": 12, "axes.labelsize": 14})
    edges = list(pt_bins)
    bins = list(itertools.pairwise(edges))
    written = []
    present = set(np.unique(table.columns["truthLabel"]).tolist())
    scores = {key: score for key, score in scores.items() if key[1] in present}
    for signal in sorted({s for _, s in scores}):
        written.append(_roc(table, scores, signal, bins, output, title))
        written.append(_sculpting(table, scores, signal, output, title))
    for (name, signal), score in scores.items():
        written.append(_distributions(table, name, signal, score, output, title))
    return written
