"""Plots of the calibration section: response and resolution against gen pT, flavour dependence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import mplhep as hep
import numpy as np

from .calibration import FLAVOUR_PT, FLAVOURS, MIN_JETS

__all__ = ["plot_calibration"]


def _by_pt(report: dict[str, Any], name: str, eta: float) -> dict[str, np.ndarray]:
    bins = [
        b for b in report["calibrators"][name]["bins"] if b["eta"][0] == eta and b["n"] >= MIN_JETS
    ]
    return {
        "lo": np.array([b["gen_pt"][0] for b in bins]),
        "hi": np.array([b["gen_pt"][1] for b in bins]),
        **{
            key: np.array([b.get(key, np.nan) for b in bins])
            for key in ("median", "median_err", "resolution", "resolution_err")
        },
    }


def plot_calibration(report: dict[str, Any], out: Path) -> list[Path]:
    """``response_vs_pt_eta*.png``, ``resolution_vs_pt_eta*.png``, ``flavour_response.png``."""
    out.mkdir(parents=True, exist_ok=True)
    plt.style.use(hep.style.CMS)
    names = list(report["calibrators"])
    written = []
    etas = sorted({b["eta"][0] for b in report["calibrators"][names[0]]["bins"]})
    for eta in etas:
        eta_hi = next(
            b["eta"][1] for b in report["calibrators"][names[0]]["bins"] if b["eta"][0] == eta
        )
        for key, label in (("median", "median response"), ("resolution", "resolution")):
            fig, ax = plt.subplots(figsize=(8, 6))
            for name in names:
                d = _by_pt(report, name, eta)
                if not len(d["lo"]):
                    continue
                centre = np.sqrt(d["lo"] * d["hi"])
                value = d[key] * (100 if key == "resolution" else 1)
                err = d[f"{key}_err"] * (100 if key == "resolution" else 1)
                ax.errorbar(
                    centre,
                    value,
                    yerr=err,
                    xerr=[centre - d["lo"], d["hi"] - centre],
                    fmt="o",
                    label=name,
                    capsize=2,
                )
            if key == "median":
                ax.axhline(1.0, color="grey", lw=1)
                ax.axhspan(0.99, 1.01, color="grey", alpha=0.15, label="±1 %")
            ax.set_xscale("log")
            ax.set_xlabel(r"gen jet $p_T$ [GeV]")
            ax.set_ylabel(label + (" [%]" if key == "resolution" else ""))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=12)
            ax.set_title(rf"${eta:g} \leq |\eta_{{gen}}| < {eta_hi:g}$", loc="right", fontsize=12)
            path = out / f"{'response' if key == 'median' else 'resolution'}_vs_pt_eta{eta:g}.png"
            fig.savefig(path, dpi=100, bbox_inches="tight")
            plt.close(fig)
            written.append(path)
    fig, ax = plt.subplots(figsize=(9, 6))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        stats = report["calibrators"][name]["flavours"]
        xs = [j for j, f in enumerate(FLAVOURS) if stats[f]["n"] >= MIN_JETS]
        ax.errorbar(
            np.array(xs) + (i - (len(names) - 1) / 2) * width,
            [stats[FLAVOURS[j]]["median"] for j in xs],
            yerr=[stats[FLAVOURS[j]].get("median_err", 0.0) for j in xs],
            fmt="o",
            label=name,
            capsize=2,
        )
    ax.axhline(1.0, color="grey", lw=1)
    ax.set_xticks(range(len(FLAVOURS)), FLAVOURS, rotation=30)
    ax.set_ylabel("median response")
    ax.set_title(
        rf"gen $p_T$ {FLAVOUR_PT[0]:.0f}–{FLAVOUR_PT[1]:.0f} GeV", loc="right", fontsize=12
    )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=12)
    path = out / "flavour_response.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    written.append(path)
    return written
