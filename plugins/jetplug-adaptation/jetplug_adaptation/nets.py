"""torch pieces of the adversarial trainings (imported only when training).

The served module is :class:`jetplug_decorrelation.nets.WorkingPoints` (one
``StandardizedMLP`` per λ); what only training needs lives here: the
gradient reversal layer and the heads that read through it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from jetplug_taggers.nets import StandardizedMLP, mlp

__all__ = ["DomainHead", "GradientReversal", "ScoreAdversary", "grad_reverse", "hidden"]


class _Reverse(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by −``coeff``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.coeff * grad, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """The gradient reversal layer of Ganin et al. (arXiv:1409.7495) as a function."""
    out: torch.Tensor = _Reverse.apply(x, coeff)
    return out


class GradientReversal(nn.Module):
    """:func:`grad_reverse` as a module; ``coeff`` (λ) may change during training."""

    def __init__(self, coeff: float = 1.0) -> None:
        super().__init__()
        self.coeff = coeff

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` unchanged; the gradient flowing back is −coeff times the incoming one."""
        return grad_reverse(x, self.coeff)


def hidden(net: StandardizedMLP, x: torch.Tensor) -> torch.Tensor:
    """The last hidden layer of ``net`` (its representation), before the output layer."""
    out: torch.Tensor = net.net[:-1]((x - net.mean) / net.std)
    return out


class DomainHead(nn.Module):
    """DANN's domain classifier: representation -> logit of "target domain"."""

    def __init__(self, width: int, hidden_units: int = 32) -> None:
        super().__init__()
        self.net = mlp((width, hidden_units, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(n, width) -> (n,) logits."""
        out: torch.Tensor = self.net(h).squeeze(-1)
        return out


class ScoreAdversary(nn.Module):
    """Predicts shifted vs nominal from the score and the jet's class: (n,), (n,) -> (n,) logits.

    The class enters so that the adversary asks for the score's distribution
    to be the same in both samples *within* each class (signal fractions may differ).
    """

    def __init__(self, hidden_units: int = 32) -> None:
        super().__init__()
        self.net = mlp((2, hidden_units, hidden_units, 1))

    def forward(self, score: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Logit of "shifted sample"."""
        out: torch.Tensor = self.net(torch.stack([score, label], dim=1)).squeeze(-1)
        return out
