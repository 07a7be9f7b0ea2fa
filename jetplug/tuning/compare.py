"""The tuned model beside the shipped one, through the processor's plugin chain.

:func:`tuned_plugin` registers a model file trained for plugin ``P`` as a new
plugin (``P_tuned`` by default): the same class, inputs and outputs, the
tuned artifact. :func:`compare` runs both on (independent) files with the
validation machinery of ``jetplug validate`` (AUC, R50 with bootstrap errors
per pT bin) and adds a paired bootstrap of R50(tuned) / R50(shipped): both
scores are resampled on the same jets, so the ratio's error is not inflated
by the jets they share.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import load_model_metadata
from ..hookspecs import hookimpl
from ..host import PluginHost
from ..metrics import rejection
from ..model import JetModel
from ..registry import ModelRegistry
from ..spec import Artifact
from ..validation.collect import collect, discriminants
from ..validation.report import Row, evaluate, r50_ratios, scores_of

__all__ = ["Comparison", "compare", "tuned_plugin"]


class _Registration:
    """A pluggy plugin registering one model class."""

    def __init__(self, model: type[JetModel]) -> None:
        self.model = model

    @hookimpl
    def jetplug_register_models(self, registry: ModelRegistry) -> None:
        """Register the tuned model."""
        registry.add(self.model)


def tuned_plugin(host: PluginHost, plugin: str, artifact: Path, name: str | None = None) -> object:
    """A host plugin registering ``artifact`` (trained for ``plugin``) as plugin ``name``.

    Pass it to ``PluginHost(plugins=[...])``; the model reads the same inputs,
    writes the same outputs (under its own name) and verifies the artifact's
    sha256 from its metadata.
    """
    base = host.model_class(plugin)
    meta = load_model_metadata(artifact)
    spec = dataclasses.replace(
        base.spec,
        name=name or f"{plugin}_tuned",
        version=str(meta["version"]),
        artifact=Artifact(artifact, str(meta["sha256"]), base.spec.artifact.format),
    )
    model = type(f"Tuned{base.__name__}", (base,), {"spec": spec, "__doc__": base.__doc__})
    return _Registration(model)


@dataclass(frozen=True)
class Comparison:
    """Rows of both models per pT bin, and the paired R50 ratio over all bins."""

    rows: list[Row]
    ratio: float
    ratio_err: float
    jets: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"ratio": self.ratio, "ratio_err": self.ratio_err, "jets": self.jets}


def _paired_ratio(
    labels: np.ndarray, tuned: np.ndarray, shipped: np.ndarray, n_bootstrap: int, seed: int
) -> tuple[float, float]:
    ratio = rejection(labels, tuned) / rejection(labels, shipped)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, len(labels), len(labels))
        r = rejection(labels[idx], tuned[idx]) / rejection(labels[idx], shipped[idx])
        if np.isfinite(r):
            draws.append(r)
    return float(ratio), float(np.std(draws)) if draws else float("nan")


def compare(
    plugin: str,
    artifact: Path,
    files: Sequence[Path],
    *,
    pt_bins: Sequence[float] = (500.0, 550.0, 650.0, 700.0),
    eta_max: float = 2.0,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> Comparison:
    """``plugin`` (shipped) and its tuned ``artifact`` on every event of ``files``."""
    base = PluginHost()
    name = f"{plugin}_tuned"
    host = PluginHost(plugins=[tuned_plugin(base, plugin, artifact, name)])
    discs = discriminants(host, [plugin, name])
    table = collect(
        files,
        [plugin, name],
        split=None,
        pt_range=(pt_bins[0], pt_bins[-1]),
        eta_max=eta_max,
        host=host,
    )
    rows = r50_ratios(evaluate(table, discs, pt_bins, n_bootstrap=n_bootstrap, seed=seed), plugin)
    rows = [r for r in rows if r.tagger in (plugin, name)]
    scores = scores_of(table, discs)
    signal = discs[0].signal
    truth = table.columns["truthLabel"]
    keep = np.isin(truth, [signal, 0])
    labels = (truth[keep] == signal).astype(int)
    ratio, err = _paired_ratio(
        labels, scores[(name, signal)][keep], scores[(plugin, signal)][keep], n_bootstrap, seed
    )
    return Comparison(rows=rows, ratio=ratio, ratio_err=err, jets=int(keep.sum()))
