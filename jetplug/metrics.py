"""Tagging metrics: ROC, AUC, background rejection at fixed signal efficiency.

Definitions follow ``docs/metrics.md`` (and the top-tagging landscape paper):
R50 = 1/εB at the ROC point nearest εS = 0.5, with a bootstrap uncertainty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "EfficiencyResult",
    "RejectionResult",
    "efficiency_metrics",
    "rejection",
    "roc_from_counts",
    "signal_efficiency",
    "tagging_metrics",
]


@dataclass(frozen=True)
class RejectionResult:
    """AUC and rejection 1/εB at ``eff_s``, with bootstrap standard deviations."""

    auc: float
    auc_err: float
    eff_s: float
    rejection: float
    rejection_err: float
    n_signal: int
    n_background: int

    def as_dict(self) -> dict[str, float]:
        """Plain dict (for JSON)."""
        return asdict(self)


def rejection(labels: np.ndarray, scores: np.ndarray, eff_s: float = 0.5) -> float:
    """1/εB at the ROC point whose εS is nearest ``eff_s`` (``inf`` if εB = 0)."""
    from sklearn.metrics import roc_curve  # scikit-learn loads only where metrics are computed

    fpr, tpr, _ = roc_curve(labels, scores)
    i = int(np.argmin(np.abs(tpr - eff_s)))
    return float(1.0 / fpr[i]) if fpr[i] > 0 else float("inf")


def tagging_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    eff_s: float = 0.5,
    n_bootstrap: int = 100,
    seed: int = 0,
) -> RejectionResult:
    """AUC and rejection at ``eff_s`` with bootstrap (resampling jets) uncertainties."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    aucs, rejs = [], []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, len(labels), len(labels))
        if labels[idx].min() == labels[idx].max():
            continue
        aucs.append(roc_auc_score(labels[idx], scores[idx]))
        rejs.append(rejection(labels[idx], scores[idx], eff_s))
    finite = np.asarray([r for r in rejs if np.isfinite(r)])
    return RejectionResult(
        auc=float(roc_auc_score(labels, scores)),
        auc_err=float(np.std(aucs)) if aucs else float("nan"),
        eff_s=eff_s,
        rejection=rejection(labels, scores, eff_s),
        rejection_err=float(np.std(finite)) if len(finite) else float("nan"),
        n_signal=int((labels == 1).sum()),
        n_background=int((labels == 0).sum()),
    )


def signal_efficiency(labels: np.ndarray, scores: np.ndarray, eff_b: float) -> float:
    """εS of the cut at the (1 − ``eff_b``) quantile of the background scores (a trigger's view).

    The threshold is the score that a fraction ``eff_b`` of background jets
    exceeds; εS is the fraction of signal jets above it.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    cut = np.quantile(scores[~labels], 1.0 - eff_b)
    return float((scores[labels] > cut).mean())


@dataclass(frozen=True)
class EfficiencyResult:
    """AUC and εS at fixed background efficiencies, with bootstrap standard deviations."""

    auc: float
    auc_err: float
    eff_b: tuple[float, ...]
    eff_s: tuple[float, ...]
    eff_s_err: tuple[float, ...]
    n_signal: int
    n_background: int

    def as_dict(self) -> dict[str, object]:
        """Plain dict (for JSON)."""
        return asdict(self)


def efficiency_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    eff_b: tuple[float, ...] = (1e-2, 1e-3),
    n_bootstrap: int = 100,
    seed: int = 0,
) -> EfficiencyResult:
    """AUC and :func:`signal_efficiency` at each ``eff_b``, bootstrapping jets for the errors."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    aucs, effs = [], []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, len(labels), len(labels))
        if labels[idx].min() == labels[idx].max():
            continue
        aucs.append(roc_auc_score(labels[idx], scores[idx]))
        effs.append([signal_efficiency(labels[idx], scores[idx], e) for e in eff_b])
    spread = np.std(np.asarray(effs), axis=0) if effs else np.full(len(eff_b), np.nan)
    return EfficiencyResult(
        auc=float(roc_auc_score(labels, scores)),
        auc_err=float(np.std(aucs)) if aucs else float("nan"),
        eff_b=tuple(eff_b),
        eff_s=tuple(signal_efficiency(labels, scores, e) for e in eff_b),
        eff_s_err=tuple(float(v) for v in spread),
        n_signal=int((labels == 1).sum()),
        n_background=int((labels == 0).sum()),
    )


def roc_from_counts(signal: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(εS, εB) of cuts ``score > edge`` scanning histogram bins from the top down."""
    s = np.cumsum(np.asarray(signal, dtype=np.float64)[::-1])
    b = np.cumsum(np.asarray(background, dtype=np.float64)[::-1])
    s_tot, b_tot = max(s[-1], 1e-300), max(b[-1], 1e-300)
    return s / s_tot, b / b_tot
