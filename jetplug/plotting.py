"""mplhep plots of a run's histograms, as the run config's ``plots`` section asks.

The label's centre-of-mass energy comes from the run config (``energy``, in
TeV), else from the datasets' metadata (``energy``), else from what the input
files record (files made by ``jetplug generate`` store it in
``Runs/jetplugSqrtS``, in GeV); when none of these says, the label has no energy.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import hist
import matplotlib as mpl
import uproot

mpl.use("Agg")

import matplotlib.pyplot as plt
import mplhep as hep
import numpy as np
from matplotlib.axes import Axes

from .config import DatasetConfig, PlotConfig, RunConfig
from .metrics import roc_from_counts
from .outputs import Writer, atomic_path

__all__ = [
    "energy_label",
    "file_energy",
    "files_energy",
    "log_scale",
    "make_plots",
    "plot_writers",
]

_CATEGORY = (hist.axis.IntCategory, hist.axis.StrCategory)
Hist = hist.Hist[Any]
Hists = Mapping[str, Mapping[str, Hist]]


def _slice(h: Hist, axis: str, value: Any, project: str) -> Hist:
    """``h`` at category ``value`` of ``axis``, projected on ``project``."""
    return cast(Hist, h[{axis: hist.loc(value)}]).project(project)


def _summed(hists: Hists, name: str) -> Hist | None:
    total = None
    for hs in hists.values():
        h = hs.get(name)
        if h is not None:
            total = h.copy() if total is None else total + h
    return total


def _value_axis(h: Hist) -> str:
    for ax in h.axes:
        if not isinstance(ax, _CATEGORY):
            return str(ax.name)
    msg = f"histogram has no non-category axis to plot: {[a.name for a in h.axes]}"
    raise ValueError(msg)


def _hist1d(cfg: PlotConfig, hists: Hists, ax: Axes) -> None:
    if cfg.overlay in (None, "dataset"):
        entries = {d: hs[cfg.hist] for d, hs in hists.items() if cfg.hist in hs}
        lines = {d: h.project(_value_axis(h)) for d, h in entries.items()}
    else:
        h = _summed(hists, cfg.hist)
        assert h is not None
        value = _value_axis(h)
        names = {str(k): str(v) for k, v in (cfg.labels or {}).items()}
        lines = {
            names.get(str(cat), f"{cfg.overlay} = {cat}"): _slice(h, cfg.overlay, cat, value)
            for cat in h.axes[cfg.overlay]
        }
    filled = {k: v for k, v in lines.items() if np.sum(v.values()) > 0}
    lines = filled or lines
    drawn = []
    for label, h1 in lines.items():
        values = h1.values()
        if cfg.density and values.sum() > 0:
            h1 = h1 / np.sum(values * h1.axes[0].widths)
        hep.histplot(h1, ax=ax, label=label)
        drawn.append(h1)
    ax.set_ylabel("density" if cfg.density else "entries")
    if cfg.log:
        log_scale(ax, [h1.values() for h1 in drawn])
    ax.legend(fontsize="small")


def log_scale(ax: Axes, contents: Sequence[np.ndarray]) -> None:
    """Log y axis with its range from the positive ``contents`` (empty bins do not set it).

    The lower limit is half the smallest positive content; without any, the
    axis stays linear.
    """
    values = np.concatenate([np.ravel(c) for c in contents]) if contents else np.array([])
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return
    ax.set_yscale("log")
    low, high = float(positive.min()) / 2.0, float(positive.max())
    ax.set_ylim(low, high * (high / low) ** 0.25)  # headroom for the legend


def _roc(cfg: PlotConfig, hists: Hists, ax: Axes) -> None:
    h = _summed(hists, cfg.hist)
    assert h is not None
    assert cfg.axis is not None
    value = _value_axis(h)
    sig = _slice(h, cfg.axis, cfg.signal, value).values()
    bkg = _slice(h, cfg.axis, cfg.background, value).values()
    roles = (("signal", cfg.signal, sig), ("background", cfg.background, bkg))
    empty = [f"{role} {category!r}" for role, category, counts in roles if counts.sum() <= 0]
    if empty:  # said on the plot rather than drawn as a blank frame
        message = f"no entries in the {' and the '.join(empty)} category of {cfg.axis!r}"
        ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, wrap=True)
    else:
        eff_s, eff_b = roc_from_counts(sig, bkg)
        ok = eff_b > 0
        ax.plot(eff_s[ok], 1.0 / eff_b[ok], label=f"{value}")
        ax.set_yscale("log")
    ax.set_xlabel(r"signal efficiency $\varepsilon_S$")
    ax.set_ylabel(r"background rejection $1/\varepsilon_B$")
    ax.set_xlim(0, 1)
    names = {str(k): str(v) for k, v in (cfg.labels or {}).items()}
    sig_name = names.get(str(cfg.signal), str(cfg.signal))
    bkg_name = names.get(str(cfg.background), str(cfg.background))
    if not empty:
        ax.legend(fontsize="small", title=f"{sig_name} vs {bkg_name}")


def file_energy(path: str) -> float | None:
    """The centre-of-mass energy in TeV a (local) file records, or None."""
    if "://" in path:
        return None
    try:
        with uproot.open(path) as f:
            values = np.unique(f["Runs"]["jetplugSqrtS"].array(library="np"))
    except Exception:
        return None
    return float(values[0]) / 1000.0 if values.size == 1 else None


def _agreed(energies: set[float | None]) -> str | None:
    """``"13.6 TeV"`` when every source gives the same known energy, else None."""
    energy = energies.pop() if len(energies) == 1 else None
    return None if energy is None else f"{energy:g} TeV"


def files_energy(paths: Sequence[str | Path]) -> str | None:
    """``"13.6 TeV"`` when every file records the same energy, else None."""
    return _agreed({file_energy(str(p)) for p in paths})


def energy_label(config: RunConfig) -> str | None:
    """``"13.6 TeV"``: from the config, the datasets' metadata or the files; None if unknown.

    The metadata and the files count only when every dataset gives the same
    energy (one file per dataset is read).
    """
    if config.energy is not None:
        return _agreed({config.energy})
    return _agreed({_dataset_energy(d) for d in config.fileset})


def _dataset_energy(dataset: DatasetConfig) -> float | None:
    value = dataset.metadata.get("energy")
    if value is None:
        return file_energy(dataset.files[0]) if dataset.files else None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _draw(cfg: PlotConfig, hists: Hists, energy: str | None, path: Path) -> None:
    """Draw the plot ``cfg`` as a PNG into ``path``."""
    fig, ax = plt.subplots(figsize=(8, 6))
    try:
        if cfg.type == "roc":
            _roc(cfg, hists, ax)
        else:
            _hist1d(cfg, hists, ax)
        hep.label.exp_label(exp="jetplug", data=False, rlabel=energy or "", ax=ax)
        fig.savefig(path, dpi=100, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)


def plot_writers(config: RunConfig, hists: Hists, outdir: Path) -> list[Writer]:
    """Every configured plot as ``(outdir/<name>.png, write)``, for :func:`write_outputs`."""
    hep.style.use("CMS")
    energy = energy_label(config)
    return [
        (
            outdir / f"{cfg.name or f'{i:02d}_{cfg.type}_{cfg.hist}'}.png",
            functools.partial(_draw, cfg, hists, energy),
        )
        for i, cfg in enumerate(config.plots)
    ]


def make_plots(config: RunConfig, hists: Hists, outdir: Path) -> list[Path]:
    """Draw every configured plot into ``outdir`` as PNG; returns the paths written.

    Each file is written atomically; the first plot that fails raises.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for path, write in plot_writers(config, hists, outdir):
        with atomic_path(path) as tmp:
            write(tmp)
        written.append(path)
    return written
