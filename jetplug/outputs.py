"""Write a run's results: histograms (coffea pickle + ROOT), provenance, plots."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import hist
import uproot

__all__ = ["package_versions", "save_histograms", "write_provenance"]

PACKAGES = (
    "jetplug",
    "jetplug-taggers",
    "coffea",
    "awkward",
    "uproot",
    "numpy",
    "hist",
    "boost-histogram",
    "pluggy",
    "xgboost",
    "torch",
    "dask",
    "distributed",
    "tritonclient",
)


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine a run's results (installed ones only)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _root_name(*parts: object) -> str:
    return "_".join(str(p) for p in parts).replace("/", "_").replace("-", "m")


def _to_root(out: Any, key: str, h: hist.Hist[Any]) -> int:
    """Write ``h`` under ``key``; category axes are split into one object per category."""
    cat_axes = [
        i
        for i, ax in enumerate(h.axes)
        if isinstance(ax, hist.axis.IntCategory | hist.axis.StrCategory)
    ]
    if not cat_axes:
        if h.ndim > 3:
            return 0
        out[key] = h
        return 1
    i = cat_axes[0]
    axis = h.axes[i]
    written = 0
    for value in axis:
        part = cast("hist.Hist[Any]", h[{axis.name: hist.loc(value)}])
        written += _to_root(out, f"{key}__{_root_name(axis.name, value)}", part)
    return written


def save_histograms(hists: Mapping[str, Mapping[str, hist.Hist[Any]]], outdir: Path) -> list[Path]:
    """Save ``{dataset: {name: Hist}}`` as ``histograms.coffea`` and ``histograms.root``.

    ``histograms.coffea`` is coffea's lz4-compressed pickle (``coffea.util.load``)
    holding ``hist.Hist`` objects. ``histograms.root`` holds ``<dataset>/<name>``
    TH1/TH2/TH3 objects; category axes are split into ``<name>__<axis>_<value>``.
    """
    from coffea.util import save

    coffea_path = outdir / "histograms.coffea"
    save({d: dict(hs) for d, hs in hists.items()}, str(coffea_path))
    root_path = outdir / "histograms.root"
    with uproot.recreate(root_path) as f:
        for dataset, hs in hists.items():
            for name, h in hs.items():
                _to_root(f, f"{dataset}/{name}", h)
    return [coffea_path, root_path]


def write_provenance(path: Path, record: Mapping[str, Any]) -> Path:
    """Write ``provenance.json`` (with package versions and the command line added)."""
    full = {
        **record,
        "packages": package_versions(),
        "command": sys.argv,
        "platform": platform.platform(),
    }
    path.write_text(json.dumps(full, indent=2, sort_keys=True, default=str) + "\n")
    return path
