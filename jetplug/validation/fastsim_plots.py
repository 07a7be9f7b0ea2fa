"""Plots of the fast-simulation section: features, correlations, the tagger's scores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import mplhep as hep
import numpy as np

from .collect import CLASS_NAMES
from .fastsim import FastSimSample

__all__ = ["plot_fastsim"]


def plot_fastsim(
    full: FastSimSample,
    fast: FastSimSample,
    names: Sequence[str],
    report: dict[str, Any],
    out: Path,
) -> list[Path]:
    """``features.png`` (one panel per feature), ``correlations.png``, ``scores.png``."""
    out.mkdir(parents=True, exist_ok=True)
    plt.style.use(hep.style.CMS)
    written = []
    cols = 4
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows))
    for ax, name in zip(np.ravel(axes), names, strict=False):
        lo, hi = np.percentile(
            np.concatenate([full.features[name], fast.features[name]]), [0.5, 99.5]
        )
        edges: list[float] | int = list(np.linspace(lo, hi, 41)) if hi > lo else 40
        ax.hist(
            full.features[name], bins=edges, density=True, histtype="step", lw=2, label="full sim"
        )
        ax.hist(
            fast.features[name], bins=edges, density=True, histtype="step", lw=2, label="fast sim"
        )
        ax.set_xlabel(name, fontsize=14)
        ax.tick_params(labelsize=10)
    for ax in np.ravel(axes)[len(names) :]:
        ax.set_visible(False)
    np.ravel(axes)[0].legend(fontsize=12)
    path = out / "features.png"
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    written.append(path)

    fig, axes = plt.subplots(1, 2, figsize=(16, 7))
    for ax, key in zip(axes, ("full", "fast"), strict=True):
        image = ax.imshow(np.asarray(report["correlation"][key]), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=10)
        ax.set_yticks(range(len(names)), names, fontsize=10)
        ax.set_title(f"{key} simulation", fontsize=14)
    fig.colorbar(image, ax=axes, shrink=0.7)
    path = out / "correlations.png"
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    written.append(path)

    fig, ax = plt.subplots(figsize=(8, 6))
    score_bins = list(np.linspace(0, 1, 41))
    for i, truth in enumerate(t for t in np.unique(full.truth) if t >= 0):
        color = f"C{i}"
        label = CLASS_NAMES.get(int(truth), str(truth))
        ax.hist(
            full.score[full.truth == truth],
            bins=score_bins,
            density=True,
            histtype="step",
            color=color,
            lw=2,
            label=f"{label} full",
        )
        ax.hist(
            fast.score[fast.truth == truth],
            bins=score_bins,
            density=True,
            histtype="step",
            color=color,
            lw=2,
            ls="--",
            label=f"{label} fast",
        )
    ax.set_yscale("log")
    ax.set_xlabel("tagger score")
    ax.legend(fontsize=11, ncol=2)
    path = out / "scores.png"
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    written.append(path)
    return written
