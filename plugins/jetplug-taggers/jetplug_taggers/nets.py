"""torch modules of the built-in taggers (imported only when a torch model is built)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["StandardizedMLP"]


class StandardizedMLP(nn.Module):
    """Standardise (buffers ``mean``/``std``, part of the state dict), MLP, sigmoid."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, n_in: int, hidden: int = 64, layers: int = 3) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("std", torch.ones(n_in))
        blocks: list[nn.Module] = []
        width = n_in
        for _ in range(layers - 1):
            blocks += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        blocks.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*blocks)

    def standardize_from(self, x: torch.Tensor) -> None:
        """Set ``mean``/``std`` from training features."""
        self.mean.copy_(x.mean(dim=0))
        self.std.copy_(x.std(dim=0).clamp_min(1e-6))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid output, shape ``(n,)``."""
        out: torch.Tensor = self.net((x - self.mean) / self.std).squeeze(-1)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """P(signal), shape ``(n,)``."""
        return torch.sigmoid(self.logits(x))
