"""Meta-learning of an initialisation for few-shot taggers: MAML, first-order MAML, Reptile.

A *task* is a binary classification (one signal process against QCD, one pT
bin, ...) given as a :class:`Task` of features and 0/1 labels. Meta-training
looks for parameters θ from which a few steps of gradient descent on a small
labelled *support* set give a good classifier of that task's *query* jets
(Finn, Abbeel & Levine, arXiv:1703.03400):

* ``maml``: the meta-gradient ∇_θ L_query(φ(θ)) differentiates through the
  inner steps φ(θ) (second order: the inner gradients are themselves
  differentiated), written with :func:`torch.func.grad` and
  :func:`torch.func.functional_call`;
* ``fomaml``: first-order MAML, the meta-gradient ∇_φ L_query(φ) taken at the
  adapted parameters, the inner steps treated as constants;
* ``reptile`` (Nichol, Achiam & Schulman, arXiv:1803.02999): the direction
  θ − φ towards the adapted parameters (adapted on support and query jets).

The outer step is Adam on the mean of the meta-batch's meta-gradients.
:func:`fine_tune` is the adaptation used at test time and by every baseline
(plain full-batch gradient descent from any starting point), so a meta-learned
start, a pre-trained one and a random one get exactly the same adaptation.

The module to meta-train returns **logits** from ``forward(x)``
(:class:`Logits` wraps a module with a ``logits`` method, as the taggers'
:class:`~jetplug_taggers.nets.StandardizedMLP`); buffers (input
standardisation) are held fixed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, grad_and_value

__all__ = [
    "ALGORITHMS",
    "Logits",
    "MetaSettings",
    "Params",
    "Task",
    "adapt",
    "fine_tune",
    "meta_gradient",
    "meta_train",
    "support_sets",
    "task_loss",
]

Params = dict[str, torch.Tensor]
Algorithm = Literal["maml", "fomaml", "reptile"]
ALGORITHMS: tuple[Algorithm, ...] = ("maml", "fomaml", "reptile")


class Logits(nn.Module):
    """``forward(x)`` = ``module.logits(x)``: a sigmoid classifier seen through its logits."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid output of the wrapped module."""
        out: torch.Tensor = self.module.logits(x)  # type: ignore[operator]
        return out


@dataclass(frozen=True)
class Task:
    """One binary task: features ``x`` (n, F) float32 and labels ``y`` (n,) in {0, 1}."""

    name: str
    x: np.ndarray
    y: np.ndarray

    def sample(self, rng: np.random.Generator, per_class: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices of ``per_class`` signal and ``per_class`` background rows, disjoint halves.

        Returns two index arrays (support, query), each balanced and each with
        ``per_class`` rows per class when the task has 2·``per_class`` of each.
        """
        halves: list[list[np.ndarray]] = [[], []]
        for label in (0, 1):
            rows = rng.permutation(np.flatnonzero(self.y == label))[: 2 * per_class]
            half = len(rows) // 2
            halves[0].append(rows[:half])
            halves[1].append(rows[half:])
        return np.concatenate(halves[0]), np.concatenate(halves[1])


@dataclass(frozen=True)
class MetaSettings:
    """Hyper-parameters of meta-training (all recorded in the model metadata)."""

    algorithm: Algorithm = "maml"
    inner_steps: int = 5
    """Gradient-descent steps of the inner loop (and of the adaptation it learns for)."""
    inner_lr: float = 0.1
    meta_lr: float = 1e-3
    meta_batch: int = 4
    """Tasks per outer step (drawn with replacement from the meta-training tasks)."""
    shots: int = 25
    """Support jets per class in meta-training (the query set has as many)."""
    meta_steps: int = 2000
    seed: int = 0


def task_loss(
    model: nn.Module,
    params: Mapping[str, torch.Tensor],
    buffers: Params,
    x: torch.Tensor,
    y: torch.Tensor,
) -> torch.Tensor:
    """Class-balanced binary cross-entropy of ``model`` run with ``params`` (functional call)."""
    logits = functional_call(model, ({**params, **buffers},), (x,))
    n_sig = y.sum().clamp_min(1.0)
    n_bkg = (1.0 - y).sum().clamp_min(1.0)
    weight = y / n_sig + (1.0 - y) / n_bkg
    return (F.binary_cross_entropy_with_logits(logits, y, reduction="none") * weight).sum() / 2.0


def adapt(
    model: nn.Module,
    params: Params,
    buffers: Params,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    lr: float,
) -> Params:
    """``steps`` steps of full-batch gradient descent on (x, y), functionally.

    Under :func:`torch.func.grad` of an outer function this is differentiable
    in ``params`` to second order (the inner gradients are differentiated):
    that is MAML's inner loop.
    """
    step_grad = grad(lambda p: task_loss(model, p, buffers, x, y))
    for _ in range(steps):
        g = step_grad(params)
        params = {k: params[k] - lr * g[k] for k in params}
    return params


def _tensors(task: Task, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.as_tensor(task.x[rows], dtype=torch.float32),
        torch.as_tensor(task.y[rows], dtype=torch.float32),
    )


def meta_gradient(
    model: nn.Module,
    params: Params,
    buffers: Params,
    support: tuple[torch.Tensor, torch.Tensor],
    query: tuple[torch.Tensor, torch.Tensor],
    settings: MetaSettings,
) -> tuple[Params, float]:
    """One task's meta-gradient (a descent direction for θ) and its adapted query loss."""
    steps, lr = settings.inner_steps, settings.inner_lr

    def outer(p: Params) -> torch.Tensor:
        adapted = adapt(model, p, buffers, *support, steps=steps, lr=lr)
        return task_loss(model, adapted, buffers, *query)

    if settings.algorithm == "maml":
        g, loss = grad_and_value(outer)(params)
        return g, float(loss)
    if settings.algorithm == "fomaml":
        adapted = adapt(model, params, buffers, *support, steps=steps, lr=lr)
        g = grad(lambda p: task_loss(model, p, buffers, *query))(adapted)
        return g, float(task_loss(model, adapted, buffers, *query))
    x = torch.cat([support[0], query[0]])
    y = torch.cat([support[1], query[1]])
    adapted = adapt(model, params, buffers, x, y, steps=steps, lr=lr)
    loss = float(task_loss(model, adapted, buffers, *query))
    return {k: params[k] - adapted[k] for k in params}, loss


def _split(module: nn.Module) -> tuple[Params, Params]:
    params = {k: v.detach().clone() for k, v in module.named_parameters()}
    buffers = {k: v.detach() for k, v in module.named_buffers()}
    return params, buffers


def meta_train(
    model: nn.Module,
    tasks: Sequence[Task],
    settings: MetaSettings,
    *,
    log: Callable[[str], None] = print,
    every: int = 200,
) -> list[dict[str, Any]]:
    """Meta-train ``model``'s parameters in place on ``tasks``; returns the loss history.

    Each outer step draws ``meta_batch`` tasks, for each a balanced support
    and a disjoint balanced query set of ``shots`` jets per class, and moves
    θ by Adam along the mean meta-gradient. The history holds, every
    ``every`` steps, the mean adapted query loss of the last ``every`` steps.
    """
    if settings.algorithm not in ALGORITHMS:
        msg = (
            f"unknown meta-learning algorithm {settings.algorithm!r}; expected one of {ALGORITHMS}"
        )
        raise ValueError(msg)
    rng = np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)
    params, buffers = _split(model)
    leaves = [p.requires_grad_(True) for p in params.values()]
    optimiser = torch.optim.Adam(leaves, lr=settings.meta_lr)
    history: list[dict[str, Any]] = []
    losses: list[float] = []
    for step in range(1, settings.meta_steps + 1):
        total = {k: torch.zeros_like(v) for k, v in params.items()}
        for i in rng.integers(0, len(tasks), settings.meta_batch):
            support, query = tasks[i].sample(rng, settings.shots)
            detached = {k: v.detach() for k, v in params.items()}
            g, loss = meta_gradient(
                model,
                detached,
                buffers,
                _tensors(tasks[i], support),
                _tensors(tasks[i], query),
                settings,
            )
            for k in total:
                total[k] += g[k] / settings.meta_batch
            losses.append(loss)
        optimiser.zero_grad()
        for k, p in params.items():
            p.grad = total[k]
        optimiser.step()
        if step % every == 0 or step == settings.meta_steps:
            history.append({"step": step, "query_loss": float(np.mean(losses))})
            log(f"meta step {step}: adapted query loss {history[-1]['query_loss']:.4f}")
            losses = []
    with torch.no_grad():
        for k, p in model.named_parameters():
            p.copy_(params[k])
    return history


def support_sets(y: np.ndarray, k: int, repeats: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``repeats`` disjoint balanced support sets of ``k`` rows of ``y`` (k/2 per class).

    Rows are drawn without replacement across all sets, so no jet is in two
    of them. Raises ``ValueError`` when a class has fewer than
    ``repeats``·k/2 rows or ``k`` is odd.
    """
    if k % 2:
        msg = f"K = {k} must be even: the support sets hold K/2 jets of each class"
        raise ValueError(msg)
    half = k // 2
    per_class = []
    for label in (1, 0):
        rows = np.flatnonzero(np.asarray(y) == label)
        if len(rows) < repeats * half:
            msg = (
                f"{repeats} disjoint support sets of K = {k} need {repeats * half} jets "
                f"of class {label}, found {len(rows)}"
            )
            raise ValueError(msg)
        per_class.append(rng.permutation(rows)[: repeats * half].reshape(repeats, half))
    return [np.concatenate([per_class[0][r], per_class[1][r]]) for r in range(repeats)]


def fine_tune(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    steps: int,
    lr: float,
) -> nn.Module:
    """A copy of ``model`` after ``steps`` steps of full-batch gradient descent on (x, y).

    The same class-balanced loss and plain gradient descent as MAML's inner
    loop (:func:`adapt`), for any starting point: the meta-learned one, a
    pre-trained one or a random one.
    """
    tuned = copy.deepcopy(model)
    params, buffers = _split(tuned)
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    params = adapt(tuned, params, buffers, xt, yt, steps=steps, lr=lr)
    with torch.no_grad():
        for k, p in tuned.named_parameters():
            p.copy_(params[k])
    return tuned
