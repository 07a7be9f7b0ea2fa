"""Plots of the trigger section: efficiency against QCD rate, equal-rate lines, rate by slice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import mplhep as hep
import numpy as np

__all__ = ["plot_trigger"]


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _shown(label: str, signal: str) -> bool:
    """Whether a selection is drawn for ``signal``: a multi-class tagger's other classes are not."""
    if not label.endswith("]"):
        return True
    return label.rsplit("[", 1)[1][:-1] in {signal, "anti-QCD"}


def _efficiency_vs_rate(report: dict[str, Any], signal: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 7))
    for label, points in report["curves"].items():
        if not _shown(label, signal):
            continue
        rates = np.array([p["rate"] for p in points])
        eff = np.array([p["eff"][signal][0] for p in points])
        keep = rates > 0
        style = {"ls": "--", "lw": 2.5, "color": "black" if "pT" in label else "grey"}
        ax.plot(
            rates[keep],
            eff[keep],
            label=f"{label} (no ML)" if label in report["nonml"] else label,
            **(style if label in report["nonml"] else {"lw": 1.5}),
        )
    for i, point in enumerate(report["points"]):
        best = point["best_on_line"][signal]
        ax.plot(
            [best["rate"]],
            [best["eff"][signal][0]],
            "k*",
            ms=12,
            label="best (M, P) of equal rate (no ML)" if i == 0 else None,
        )
        ax.axvline(point["target"], color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel(f"QCD trigger rate [Hz] at L = {report['luminosity']:.2g} cm$^{{-2}}$ s$^{{-1}}$")
    ax.set_ylabel(f"{signal} event efficiency")
    ax.set_ylim(0, None)
    ax.legend(fontsize=10, ncol=2, loc="upper left")
    ax.set_title(rf"FatJet $p_T$ > {report['pt_min']:g} GeV", loc="right", fontsize=12)
    return _save(fig, path)


def _equal_rate_lines(report: dict[str, Any], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 6))
    targets = {p["target"] for p in report["points"]}
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(report["lines"])))
    for colour, entry in zip(colours, report["lines"], strict=True):
        line = np.array(entry["line"]).reshape(-1, 3)
        target = entry["rate"] in targets
        ax.plot(
            line[:, 0],
            line[:, 1],
            "o-" if target else "-",
            color=colour,
            lw=2.5 if target else 1.2,
            ms=4,
            label=f"{entry['rate']:.3g} Hz" + (" (table)" if target else ""),
        )
    ax.set_xlabel(r"leading-jet $m_{SD}$ cut M [GeV]")
    ax.set_ylabel(r"leading-jet $p_T$ cut P [GeV]")
    ax.legend(title="QCD rate", fontsize=11, title_fontsize=12)
    return _save(fig, path)


def _efficiency_on_lines(report: dict[str, Any], path: Path) -> Path:
    signals = list(report["preselection"]["eff"])
    points = report["points"]
    fig, axes = plt.subplots(1, len(points), figsize=(8 * len(points), 6), squeeze=False)
    for ax, point in zip(axes[0], points, strict=True):
        mass = [p["mass_cut"] for p in point["line"]]
        for signal in signals:
            eff = [p["eff"][signal][0] for p in point["line"]]
            ax.plot(mass, eff, "o-", ms=3, label=signal)
        ax.set_xlabel(r"leading-jet $m_{SD}$ cut M [GeV]")
        ax.set_ylabel("event efficiency")
        ax.set_title(f"{point['target']:g} Hz of QCD, P of equal rate", loc="right", fontsize=12)
        ax.legend(fontsize=11)
    return _save(fig, path)


def _rate_by_slice(report: dict[str, Any], path: Path) -> Path:
    ps = report["phase_space"]
    x = np.array(ps["thresholds"])
    fig, ax = plt.subplots(figsize=(8, 6))
    for name, values in ps["by_slice"].items():
        r = np.array([v[0] for v in values])
        err = np.array([v[1] for v in values])
        bar = ax.errorbar(x, np.where(r > 0, r, np.nan), yerr=err, fmt="o-", ms=3, label=name)
        none = np.flatnonzero(r == 0)
        if len(none):  # the first threshold with no event: its 95 % upper limit
            limit = ps["limit_if_none"][name]
            ax.plot(x[none[0]], limit, "v", color=bar[0].get_color(), ms=9)
    ax.plot(x, np.where(np.array(ps["total"]) > 0, ps["total"], np.nan), "k-", label="all slices")
    ax.axvline(report["pt_min"], color="grey", ls=":", label="trigger pT threshold")
    ax.plot([], [], "kv", label="95 % upper limit (no event)")
    ax.set_yscale("log")
    ax.set_xlabel(r"leading-jet $p_T$ threshold [GeV]")
    ax.set_ylabel("QCD rate above it [Hz]")
    ax.legend(fontsize=11)
    return _save(fig, path)


def plot_trigger(report: dict[str, Any], out: Path) -> list[Path]:
    """``trigger_eff_vs_rate_<signal>.png``, ``trigger_equal_rate[_efficiency].png``,
    ``trigger_qcd_slices.png``.

    ``report`` is :func:`jetplug.validation.trigger_report.trigger_report`'s.
    """
    out.mkdir(parents=True, exist_ok=True)
    plt.style.use(hep.style.CMS)
    written = [
        _efficiency_vs_rate(report, signal, out / f"trigger_eff_vs_rate_{signal}.png")
        for signal in report["preselection"]["eff"]
    ]
    written.append(_equal_rate_lines(report, out / "trigger_equal_rate.png"))
    written.append(_efficiency_on_lines(report, out / "trigger_equal_rate_efficiency.png"))
    written.append(_rate_by_slice(report, out / "trigger_qcd_slices.png"))
    return written
