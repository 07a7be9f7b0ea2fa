"""Training of the decorrelated networks: DisCo and adversarial, one λ at a time.

Both minimise a class-balanced binary cross-entropy (signal against QCD)
plus a penalty on the dependence of the score on the QCD jets' soft-drop
mass:

* ``disco``: + λ·dCor²(score, m_SD) over the QCD jets of each batch
  (Kasieczka & Shih, arXiv:2001.05310; unit weights within QCD);
* ``adv``: − λ·CE of an adversary that predicts the QCD jet's m_SD bin
  (10 QCD quantile bins) from the score or its log-odds (Louppe, Kagan & Cranmer,
  arXiv:1611.01046, with the adversary of Shimmin et al. arXiv:1703.03507):
  the classifier starts from the plain network (λ = 0), the adversary is
  pre-trained on it, then five adversary steps precede each classifier step
  (with one, the adversary lags and the pair oscillates), the classifier at
  a lower learning rate; the classifier's reward is capped at a guess's
  cross-entropy, log(bins) (``adversary_cap``: beyond it, fooling a lagging
  adversary by reshuffling the score pays without decorrelating).

Fixed epochs (no early stopping: the objective mixes two terms); the
record holds the validation cross-entropy and dCor² per epoch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FitSettings", "balanced_weights", "fit_network"]


@dataclass(frozen=True)
class FitSettings:
    """Hyper-parameters of one working point (recorded in the metadata)."""

    epochs: int = 20
    batch_size: int = 2048
    lr: float = 2e-3
    weight_decay: float = 1e-4
    adversary_lr: float = 5e-3
    adversary_steps: int = 5
    """Adversary steps before each classifier step (it must keep up with the classifier)."""
    adversarial_lr: float = 5e-4
    """The classifier's learning rate in the adversarial phase (it starts trained)."""
    adversary_pretrain_epochs: int = 3
    adversary_cap: bool = True
    """Reward the classifier for the adversary's cross-entropy only up to log(mass_bins),
    a guess's: beyond it, a monotone reshuffle of the score (which keeps R50) fools a
    lagging adversary without decorrelating anything, and large λ oscillate."""
    adversary_reads: str = "score"
    """What the adversary sees of the classifier: ``score`` (P(signal), the pivot
    paper's) or ``logit`` (its log-odds / 5). A very confident classifier (top: R50
    ~300) puts nearly all QCD jets at a score of ~0, where the adversary sees no
    mass and sits at a guess's cross-entropy, so the capped reward gives the
    classifier nothing to act on; the log-odds keep that tail resolved."""
    mass_bins: int = 10
    hidden: int = 64
    layers: int = 3


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Per-jet weights: each class sums to half the jets (mean weight 1)."""
    w = np.ones(len(y), np.float32)
    for label in (0, 1):
        n = (y == label).sum()
        if n:
            w[y == label] = len(y) / (2.0 * n)
    return w


def fit_network(
    x: np.ndarray,
    y: np.ndarray,
    mass: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    *,
    method: str,
    lam: float,
    seed: int,
    settings: FitSettings,
    start: Any = None,
    log: Callable[[str], None] = print,
) -> tuple[Any, dict[str, Any]]:
    """Train one working point; returns the ``StandardizedMLP`` and its training record.

    ``x`` features, ``y`` 1 (signal) / 0 (QCD), ``mass`` m_SD, ``train``/``val``
    boolean row masks. ``start`` (a module) is the adversarial method's
    starting point (the plain network).
    """
    import torch

    from jetplug_taggers.nets import StandardizedMLP

    from .nets import MassAdversary, distance_correlation

    if settings.adversary_reads not in ("score", "logit"):
        msg = f"adversary_reads={settings.adversary_reads!r}: use 'score' or 'logit'"
        raise ValueError(msg)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    wt = torch.as_tensor(balanced_weights(y))
    qcd_mass = mass[train & (y == 0)]
    edges = np.quantile(qcd_mass, np.linspace(0, 1, settings.mass_bins + 1)[1:-1])
    mbin = torch.as_tensor(np.searchsorted(edges, mass), dtype=torch.long)
    mt = torch.as_tensor((mass - qcd_mass.mean()) / qcd_mass.std(), dtype=torch.float32)
    train_idx = torch.as_tensor(np.flatnonzero(train))
    val_idx = torch.as_tensor(np.flatnonzero(val))

    if start is not None:
        net = copy.deepcopy(start)
    else:
        net = StandardizedMLP(x.shape[1], settings.hidden, settings.layers)
        net.standardize_from(xt[train_idx])
    lr = settings.adversarial_lr if method == "adv" and start is not None else settings.lr
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=settings.weight_decay)
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")
    ce = torch.nn.CrossEntropyLoss()
    adversary = MassAdversary(settings.mass_bins) if method == "adv" and lam > 0 else None
    adv_opt = (
        torch.optim.Adam(adversary.parameters(), lr=settings.adversary_lr) if adversary else None
    )

    def seen(logits: torch.Tensor) -> torch.Tensor:
        return logits / 5.0 if settings.adversary_reads == "logit" else torch.sigmoid(logits)

    def batches() -> list[torch.Tensor]:
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        return [
            order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)
        ]

    def adversary_step(idx: torch.Tensor) -> None:
        assert adversary is not None
        assert adv_opt is not None
        q = idx[yt[idx] == 0]
        with torch.no_grad():
            s = seen(net.logits(xt[q]))
        adv_opt.zero_grad()
        ce(adversary(s), mbin[q]).backward()
        adv_opt.step()

    if adversary is not None:
        for _ in range(settings.adversary_pretrain_epochs):
            for idx in batches():
                adversary_step(idx)

    history: list[dict[str, float]] = []
    for epoch in range(settings.epochs):
        net.train()
        for idx in batches():
            for _ in range(settings.adversary_steps if adversary is not None else 0):
                adversary_step(idx)
            logits = net.logits(xt[idx])
            loss = (bce(logits, yt[idx]) * wt[idx]).mean()
            q = yt[idx] == 0
            if lam > 0 and method == "disco":
                score = torch.sigmoid(logits[q])
                loss = loss + lam * distance_correlation(score, mt[idx][q], torch.ones_like(score))
            elif adversary is not None:
                fooled = ce(adversary(seen(logits[q])), mbin[idx][q])
                if settings.adversary_cap:
                    fooled = fooled.clamp(max=float(np.log(settings.mass_bins)))
                loss = loss - lam * fooled
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            logits = net.logits(xt[val_idx])
            v_bce = float((bce(logits, yt[val_idx]) * wt[val_idx]).mean())
            q = val_idx[yt[val_idx] == 0][:4000]
            v_dcor = float(distance_correlation(net(xt[q]), mt[q], torch.ones(len(q))))
        history.append({"bce": round(v_bce, 5), "dcor2": round(v_dcor, 5)})
        log(f"  {method} lambda={lam:g} epoch {epoch + 1}: val BCE {v_bce:.4f}, dCor2 {v_dcor:.4f}")
    net.eval()
    return net, {"method": method, "lambda": lam, "seed": seed, "history": history}
