"""Distances between two samples of jets: 1-D Wasserstein, FPD, KPD, a classifier test.

FPD and KPD follow the JetNet definitions (Kansal et al., arXiv:2211.10295;
``jetnet.evaluation.fpd``/``kpd`` 0.2.5, reimplemented here because the
``jetnet`` package pins numpy < 2):

* features are normalised by the maximum absolute value of each feature in
  the *real* sample;
* **FPD**: the Fréchet distance between Gaussian fits of the two samples,
  measured for ``num_points`` batch sizes N evenly spaced in 1/N between
  ``min_samples`` and ``max_samples`` (``num_batches`` random batches each,
  with replacement), and extrapolated linearly to 1/N → 0 (the intercept,
  bounded below by 0, with its fit error);
* **KPD**: the unbiased quadratic MMD estimate with the polynomial kernel
  k(x, y) = (x·y / d + 1)^4, on ``num_batches`` batches of ``batch_size``
  jets; the median and half the 16.275–83.725 % range.

The classifier two-sample test trains a gradient-boosted classifier to tell
the samples apart on one half and reports its AUC on the other (0.5: the
samples cannot be told apart).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from scipy.optimize import curve_fit
from scipy.stats import wasserstein_distance

__all__ = ["classifier_auc", "fpd", "kpd", "w1"]


def w1(a: np.ndarray, b: np.ndarray) -> float:
    """1-D Wasserstein distance between two samples of one feature."""
    return float(wasserstein_distance(a, b))


def _normalise(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    maxes = np.max(np.abs(x), axis=0)
    maxes[maxes == 0] = 1.0
    return x / maxes, y / maxes


def _frechet(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    diff = mu1 - mu2
    covmean = linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    covmean = np.real(covmean)
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fpd(
    real: np.ndarray,
    gen: np.ndarray,
    *,
    min_samples: int = 20_000,
    max_samples: int = 50_000,
    num_batches: int = 20,
    num_points: int = 10,
    seed: int = 42,
) -> tuple[float, float]:
    """Fréchet physics distance and its error (JetNet's definition, see the module doc)."""
    x, y = _normalise(np.asarray(real, np.float64), np.asarray(gen, np.float64))
    sizes = (1 / np.linspace(1.0 / min_samples, 1.0 / max_samples, num_points)).astype(np.int64)
    rng = np.random.default_rng(seed)
    values = []
    for size in sizes:
        points = []
        for _ in range(num_batches):
            a = x[rng.choice(len(x), size=size)]
            b = y[rng.choice(len(y), size=size)]
            points.append(
                _frechet(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
            )
        values.append(np.mean(points))
    params, cov = curve_fit(
        lambda n, c, m: c + m * n, 1 / sizes, values, bounds=([0, 0], [np.inf, np.inf])
    )
    return float(params[0]), float(np.sqrt(np.diag(cov)[0]))


def _mmd_poly(x: np.ndarray, y: np.ndarray, degree: int = 4) -> float:
    gamma = 1.0 / x.shape[1]
    xx = (x @ x.T * gamma + 1.0) ** degree
    yy = (y @ y.T * gamma + 1.0) ** degree
    xy = (x @ y.T * gamma + 1.0) ** degree
    m, n = len(x), len(y)
    return float(
        (xx.sum() - np.trace(xx)) / (m * (m - 1))
        + (yy.sum() - np.trace(yy)) / (n * (n - 1))
        - 2 * xy.mean()
    )


def kpd(
    real: np.ndarray,
    gen: np.ndarray,
    *,
    num_batches: int = 10,
    batch_size: int = 5_000,
    seed: int = 42,
) -> tuple[float, float]:
    """Kernel physics distance: median and half the 16.275–83.725 % range over batches."""
    x, y = _normalise(np.asarray(real, np.float64), np.asarray(gen, np.float64))
    values = []
    for i in range(num_batches):
        rng = np.random.default_rng(seed + i * 1000)
        values.append(
            _mmd_poly(
                x[rng.choice(len(x), size=batch_size)], y[rng.choice(len(y), size=batch_size)]
            )
        )
    lo, hi = np.percentile(values, [16.275, 83.725])
    return float(np.median(values)), float((hi - lo) / 2)


def classifier_auc(a: np.ndarray, b: np.ndarray, *, seed: int = 1, threads: int = 2) -> float:
    """AUC of a BDT telling ``a`` from ``b``, trained on half of each, tested on the rest."""
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    x = np.concatenate([a, b]).astype(np.float32)
    y = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    train = rng.random(len(x)) < 0.5
    params = {
        "objective": "binary:logistic",
        "max_depth": 4,
        "eta": 0.1,
        "tree_method": "hist",
        "seed": seed,
        "nthread": threads,
    }
    booster = xgb.train(params, xgb.DMatrix(x[train], label=y[train]), num_boost_round=200)
    score = booster.predict(xgb.DMatrix(x[~train]))
    return float(roc_auc_score(y[~train], score))
