"""Plots of ``jetplug validate --section anomaly``: scores per class, εS vs εB, NAE epochs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import mplhep as hep
import numpy as np
from sklearn.metrics import roc_curve

from ..plotting import log_scale
from .anomaly import EFF_B, EpochHistory
from .collect import CLASS_NAMES, JetTable
from .plots import _save

__all__ = ["plot_anomaly"]


def _distributions(table: JetTable, plugin: str, normal: int, out: Path) -> Path:
    truth = table.columns["truthLabel"]
    score = np.log10(np.maximum(table.outputs[f"{plugin}.score"], 1e-12))
    lo, hi = (float(v) for v in np.quantile(score, [0.001, 0.999]))
    edges = np.linspace(lo, hi if hi > lo else lo + 1, 51)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    drawn = []
    for label in sorted(set(truth.tolist())):
        h, _ = np.histogram(
            np.clip(score[truth == label], edges[0], edges[-1]), edges, density=True
        )
        style = {"color": "black", "linewidth": 2} if label == normal else {}
        name = CLASS_NAMES[label] + (" (normal)" if label == normal else "")
        hep.histplot(h, edges, ax=ax, label=f"{name} ({(truth == label).sum()})", **style)
        drawn.append(h)
    log_scale(ax, drawn)
    ax.set_xlabel(f"log10 {plugin}.score")
    ax.set_ylabel("density")
    ax.legend(fontsize=10)
    return _save(fig, out / f"scores_{plugin}.png", f"{plugin}: score per class")


def _efficiencies(table: JetTable, normal_of: Mapping[str, int], out: Path) -> list[Path]:
    """εS against εB (normal jets), one panel per normal class, all scores and classes."""
    truth = table.columns["truthLabel"]
    paths = []
    for normal in sorted(set(normal_of.values())):
        fig, ax = plt.subplots(figsize=(7, 5.5))
        for plugin, n in normal_of.items():
            if n != normal:
                continue
            score = table.outputs[f"{plugin}.score"]
            for other in sorted(set(truth.tolist()) - {normal}):
                use = np.isin(truth, [normal, other])
                if (truth[use] == other).sum() == 0:
                    continue
                fpr, tpr, _ = roc_curve(truth[use] == other, score[use])
                ok = fpr > 0
                ax.plot(fpr[ok], tpr[ok], label=f"{plugin}: {CLASS_NAMES[other]}")
        for e in EFF_B:
            ax.axvline(e, color="grey", linestyle=":")
        ax.plot([1e-4, 1], [1e-4, 1], color="grey", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlim(1e-4, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel(rf"{CLASS_NAMES[normal]} (normal) efficiency $\varepsilon_B$")
        ax.set_ylabel(r"flagged-class efficiency $\varepsilon_S$")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, ncol=2)
        paths.append(_save(fig, out / f"efficiency_{CLASS_NAMES[normal]}.png", "anomaly scores"))
    return paths


def _epochs(history: EpochHistory, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 5.5))
    epochs = np.arange(len(history.val_energy))
    for other, aucs in history.auc.items():
        ax.plot(epochs[: len(aucs)], aucs, marker="o", label=f"AUC vs {CLASS_NAMES[int(other)]}")
        ax.plot(history.chosen, aucs[history.chosen], marker="*", markersize=16, color="red")
    ax.axvline(history.chosen, color="red", linestyle="--", label=f"chosen: epoch {history.chosen}")
    ax.set_xlabel("NAE epoch (0: the autoencoder)")
    ax.set_ylabel("AUC (computed after training)")
    twin = ax.twinx()
    twin.plot(epochs, history.val_energy, color="black", linestyle=":", label="E(validation)")
    twin.plot(epochs, history.neg_energy, color="grey", linestyle="-.", label="E(negatives)")
    twin.set_yscale("log")
    twin.set_ylabel("mean energy / AE median")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=9, loc="lower left")
    return _save(fig, out / f"epochs_{history.plugin}.png", f"{history.plugin}: NAE training")


def plot_anomaly(
    table: JetTable,
    normal_of: Mapping[str, int],
    histories: Sequence[EpochHistory],
    out: Path,
) -> list[Path]:
    """Every plot of the anomaly section into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [_distributions(table, p, n, out) for p, n in normal_of.items()]
    paths += _efficiencies(table, normal_of, out)
    paths += [_epochs(h, out) for h in histories]
    return paths
