"""Training of the adapted taggers: one λ at a time, both methods through one reversal layer.

The classifier (a ``StandardizedMLP``) minimises a class-balanced binary
cross-entropy on labelled **source** jets only (in both methods: the target
domain's truth never enters the classification loss). A second network
reads the classifier through a gradient reversal layer
(:func:`~.nets.grad_reverse`) and minimises its cross-entropy for telling
the domains apart; the reversal makes the classifier maximise it, weighted by
λ·(2/(1+e^(−10p)) − 1), p the training progress (Ganin et al.'s ramp):

* ``dann``: the :class:`~.nets.DomainHead` reads the classifier's last
  hidden layer, on source jets and **unlabelled** target jets (every jet of
  the selection, whatever its truth);
* ``sysadv``: the :class:`~.nets.ScoreAdversary` reads the score and the jet's
  class, on labelled jets of both simulated samples (nominal = source,
  shifted = target): the score should not tell which simulation a top (or a
  QCD) jet came from.

The λ = 0 point is the plain network; every other point starts from it (as
the adversarial decorrelation does, ``jetplug_decorrelation.train``): the
domain network is trained alone on it first, then takes extra steps before
each classifier step, so that it keeps up with the classifier it reads.

Fixed epochs (no early stopping: the objective mixes two terms); the record
holds the validation cross-entropy and the domain classifier's accuracy on
equal numbers of training jets of both domains (0.5: it cannot tell them apart)
per epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from jetplug_decorrelation.train import balanced_weights

__all__ = ["Domains", "FitSettings", "fit_adapted"]


@dataclass(frozen=True)
class FitSettings:
    """Hyper-parameters of one working point (recorded in the metadata)."""

    epochs: int = 20
    batch_size: int = 1024
    lr: float = 2e-3
    weight_decay: float = 1e-4
    adversary_lr: float = 5e-3
    finetune_epochs: int = 10
    """Epochs of an adversarial point started from the λ = 0 network (``start``)."""
    finetune_lr: float = 5e-4
    """The classifier's learning rate then (it starts trained)."""
    adversary_pretrain_epochs: int = 2
    """Epochs of the domain network alone on the starting classifier (adversarial phase after)."""
    adversary_steps: int = 2
    """Extra domain-network-only steps per classifier step (it must keep up with the classifier)."""
    hidden: int = 64
    layers: int = 3


@dataclass(frozen=True)
class Domains:
    """Jets of both domains (features ``x``, 1/0/−1 labels: top, QCD, other or unknown).

    ``*_train`` are boolean masks of the rows to train on; the source's
    ``src_val`` rows give the validation cross-entropy.
    """

    x_src: np.ndarray
    y_src: np.ndarray
    src_train: np.ndarray
    src_val: np.ndarray
    x_tgt: np.ndarray
    y_tgt: np.ndarray
    tgt_train: np.ndarray


def ramp(progress: float) -> float:
    """Ganin et al.'s schedule of the reversal coefficient: 0 at the start, → 1."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


def fit_adapted(
    data: Domains,
    *,
    method: str,
    lam: float,
    seed: int,
    settings: FitSettings,
    start: Any = None,
    log: Callable[[str], None] = print,
) -> tuple[Any, dict[str, Any]]:
    """Train one working point; returns the ``StandardizedMLP`` and its training record.

    ``start`` (a ``StandardizedMLP``, the λ = 0 network) makes the point a fine-tuning
    of it: the domain network is first trained alone on it, then takes
    ``adversary_steps`` extra steps per classifier step, the classifier at ``finetune_lr``
    for ``finetune_epochs``.
    """
    import copy

    import torch

    from jetplug_taggers.nets import StandardizedMLP

    from .nets import DomainHead, ScoreAdversary, grad_reverse, hidden

    if method not in ("dann", "sysadv"):
        msg = f"method {method!r}: use 'dann' or 'sysadv'"
        raise ValueError(msg)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    labelled = data.y_src >= 0
    xs = torch.as_tensor(data.x_src, dtype=torch.float32)
    ys = torch.as_tensor(np.clip(data.y_src, 0, 1), dtype=torch.float32)
    ws = torch.as_tensor(balanced_weights(np.where(labelled, data.y_src, -1)) * labelled)
    xt = torch.as_tensor(data.x_tgt, dtype=torch.float32)
    yt = torch.as_tensor(np.clip(data.y_tgt, 0, 1), dtype=torch.float32)
    # dann: every jet of both domains; sysadv: labelled jets of both samples
    pick = (lambda m, y: m) if method == "dann" else (lambda m, y: m & (y >= 0))
    src_idx = torch.as_tensor(np.flatnonzero(data.src_train & labelled))
    src_dom = torch.as_tensor(np.flatnonzero(pick(data.src_train, data.y_src)))
    tgt_dom = torch.as_tensor(np.flatnonzero(pick(data.tgt_train, data.y_tgt)))
    val_idx = torch.as_tensor(np.flatnonzero(data.src_val & labelled))

    if start is not None:
        net = copy.deepcopy(start)
    else:
        net = StandardizedMLP(xs.shape[1], settings.hidden, settings.layers)
        net.standardize_from(xs[src_idx])
    head: torch.nn.Module = (
        DomainHead(settings.hidden) if method == "dann" else ScoreAdversary(settings.hidden // 2)
    )
    lr = settings.lr if start is None else settings.finetune_lr
    epochs = settings.epochs if start is None else settings.finetune_epochs
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=settings.weight_decay)
    opt_head = torch.optim.Adam(head.parameters(), lr=settings.adversary_lr)
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")

    def domain_logits(i_s: torch.Tensor, i_t: torch.Tensor, coeff: float) -> torch.Tensor:
        if method == "dann":
            h = torch.cat([hidden(net, xs[i_s]), hidden(net, xt[i_t])])
            out: torch.Tensor = head(grad_reverse(h, coeff))
        else:
            score = torch.cat([net(xs[i_s]), net(xt[i_t])])
            out = head(grad_reverse(score, coeff), torch.cat([ys[i_s], yt[i_t]]))
        return out

    def draw(pool: torch.Tensor, n: int) -> torch.Tensor:
        return pool[torch.randint(len(pool), (n,), generator=generator)]

    def domain_loss(n: int, coeff: float) -> torch.Tensor:
        i_s, i_t = draw(src_dom, n), draw(tgt_dom, n)
        target = torch.cat([torch.zeros(n), torch.ones(n)])
        out: torch.Tensor = bce(domain_logits(i_s, i_t, coeff), target).mean()
        return out

    def head_step() -> None:
        opt_head.zero_grad()
        domain_loss(settings.batch_size, 0.0).backward()
        opt_head.step()

    n_batches = max(1, math.ceil(len(src_idx) / settings.batch_size))
    if start is not None:
        for _ in range(settings.adversary_pretrain_epochs * n_batches):
            head_step()
    # the jets on which the domain accuracy is measured: random (files come ordered by process)
    fixed = torch.Generator().manual_seed(seed + 1)
    probe = (
        torch.randperm(len(src_dom), generator=fixed),
        torch.randperm(len(tgt_dom), generator=fixed),
    )
    history: list[dict[str, float]] = []
    for epoch in range(epochs):
        net.train()
        order = src_idx[torch.randperm(len(src_idx), generator=generator)]
        for b in range(n_batches):
            for _ in range(settings.adversary_steps if start is not None else 0):
                head_step()
            idx = order[b * settings.batch_size : (b + 1) * settings.batch_size]
            loss = (bce(net.logits(xs[idx]), ys[idx]) * ws[idx]).mean()
            # the domain network trains at λ = 0 too (coefficient 0: no gradient reaches the
            # classifier), so that its accuracy there is the reference
            coeff = lam * ramp((epoch * n_batches + b) / (epochs * n_batches))
            loss = loss + domain_loss(len(idx), coeff)
            opt.zero_grad()
            opt_head.zero_grad()
            loss.backward()
            opt.step()
            opt_head.step()
        net.eval()
        with torch.no_grad():
            v_bce = float((bce(net.logits(xs[val_idx]), ys[val_idx]) * ws[val_idx]).mean())
            n = min(len(src_dom), len(tgt_dom), 20000)  # balanced: chance is 0.5
            i_s, i_t = src_dom[probe[0][:n]], tgt_dom[probe[1][:n]]
            guess = domain_logits(i_s, i_t, 0.0) > 0
            truth = torch.cat([torch.zeros(len(i_s)), torch.ones(len(i_t))]).bool()
            accuracy = float((guess == truth).float().mean())
            entry = {"bce": round(v_bce, 5), "domain_accuracy": round(accuracy, 4)}
        history.append(entry)
        log(f"  {method} lambda={lam:g} epoch {epoch + 1}: {entry}")
    net.eval()
    return net, {"method": method, "lambda": lam, "seed": seed, "history": history}
