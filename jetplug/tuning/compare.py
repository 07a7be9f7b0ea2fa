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
from collections.abc import Mapping, Sequence
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
    """Rows of every model per pT bin; each candidate's paired R50 ratio over all bins."""

    rows: list[Row]
    ratios: dict[str, tuple[float, float]]
    """``candidate -> (R50(candidate) / R50(shipped), paired bootstrap error)``."""
    jets: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "jets": self.jets,
            "r50_ratio_to_shipped": {
                k: {"ratio": r, "err": e} for k, (r, e) in self.ratios.items()
            },
        }


def _ratio(labels: np.ndarray, tuned: np.ndarray, shipped: np.ndarray) -> float:
    """R50(tuned) / R50(shipped); NaN where either is infinite (no background passes)."""
    a, b = rejection(labels, tuned), rejection(labels, shipped)
    return float(a / b) if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def _paired_ratio(
    labels: np.ndarray, tuned: np.ndarray, shipped: np.ndarray, n_bootstrap: int, seed: int
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, len(labels), len(labels))
        draws.append(_ratio(labels[idx], tuned[idx], shipped[idx]))
    finite = [d for d in draws if np.isfinite(d)]
    return _ratio(labels, tuned, shipped), float(np.std(finite)) if finite else float("nan")


def compare(
    plugin: str,
    candidates: Mapping[str, Path],
    files: Sequence[Path],
    *,
    pt_bins: Sequence[float] = (500.0, 550.0, 650.0, 700.0),
    eta_max: float = 2.0,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> Comparison:
    """The shipped ``plugin`` and each ``name -> model file`` candidate on every event of ``files``.

    The candidates are models trained for ``plugin`` (e.g. ``{"top_bdt_tuned":
    path}``); all run through one plugin chain on the same jets.
    """
    base = PluginHost()
    host = PluginHost(
        plugins=[tuned_plugin(base, plugin, path, name) for name, path in candidates.items()]
    )
    names = [plugin, *candidates]
    discs = discriminants(host, names)
    table = collect(
        files,
        names,
        split=None,
        pt_range=(pt_bins[0], pt_bins[-1]),
        eta_max=eta_max,
        host=host,
    )
    rows = r50_ratios(evaluate(table, discs, pt_bins, n_bootstrap=n_bootstrap, seed=seed), plugin)
    rows = [r for r in rows if r.tagger in names]
    scores = scores_of(table, discs)
    signal = discs[0].signal
    truth = table.columns["truthLabel"]
    keep = np.isin(truth, [signal, 0])
    labels = (truth[keep] == signal).astype(int)
    shipped = scores[(plugin, signal)][keep]
    ratios = {
        name: _paired_ratio(labels, scores[(name, signal)][keep], shipped, n_bootstrap, seed)
        for name in candidates
    }
    return Comparison(rows=rows, ratios=ratios, jets=int(keep.sum()))
