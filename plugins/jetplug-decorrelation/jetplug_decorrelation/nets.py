"""torch modules of the decorrelators (imported only when a torch model is built or trained)."""

from __future__ import annotations

import torch
from torch import nn

from jetplug_taggers.nets import StandardizedMLP, mlp

__all__ = ["MassAdversary", "QuantileMap", "SlopeDDT", "WorkingPoints", "distance_correlation"]


class SlopeDDT(nn.Module):
    """τ21-DDT: τ21 − M·ρ′ (buffer ``slope`` = M, the whole model)."""

    slope: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("slope", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (n, 2) = τ21, ρ′ -> (n,) τ21-DDT."""
        out: torch.Tensor = x[:, 0] - self.slope * x[:, 1]
        return out


class QuantileMap(nn.Module):
    """A DDT map: QCD quantiles of a score per (pT, ρ) bin, looked up for each jet.

    Buffers (the whole model): ``rho_edges`` and ``pt_edges`` (inner edges:
    jets outside the range take the first or last bin) and ``table``
    (n_pt, n_rho, n_quantiles).
    """

    rho_edges: torch.Tensor
    pt_edges: torch.Tensor
    table: torch.Tensor

    def __init__(self, n_pt: int, n_rho: int, n_quantiles: int) -> None:
        super().__init__()
        self.register_buffer("rho_edges", torch.zeros(n_rho - 1))
        self.register_buffer("pt_edges", torch.zeros(n_pt - 1))
        self.register_buffer("table", torch.zeros(n_pt, n_rho, n_quantiles))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (n, 2) = ρ, pT -> (n, n_quantiles) the QCD quantiles at the jet's bin."""
        i_rho = torch.bucketize(x[:, 0].contiguous(), self.rho_edges)
        i_pt = torch.bucketize(x[:, 1].contiguous(), self.pt_edges)
        out: torch.Tensor = self.table[i_pt, i_rho]
        return out


class WorkingPoints(nn.Module):
    """One standardised MLP per working point (λ), run side by side: (n, F) -> (n, K)."""

    def __init__(self, n_in: int, n_points: int, hidden: int = 64, layers: int = 3) -> None:
        super().__init__()
        self.nets = nn.ModuleList(StandardizedMLP(n_in, hidden, layers) for _ in range(n_points))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """P(signal) of every working point, shape (n, K)."""
        return torch.stack([net(x) for net in self.nets], dim=1)


class MassAdversary(nn.Module):
    """Predicts the QCD jet's soft-drop-mass bin from what it reads of the classifier."""

    def __init__(self, n_bins: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = mlp((1, hidden, hidden, n_bins))

    def forward(self, score: torch.Tensor) -> torch.Tensor:
        """(n,) the classifier's log-odds / 5 (or its score) -> (n, n_bins) logits."""
        out: torch.Tensor = self.net(score.unsqueeze(-1))
        return out


def distance_correlation(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted squared distance correlation dCor²(x, y) (Kasieczka & Shih, arXiv:2001.05310).

    ``weight`` is normalised to mean 1 here (the loss uses means). Builds two
    n×n matrices: keep batches to a few thousand rows.
    """
    w = weight / weight.mean()
    a = (x[:, None] - x[None, :]).abs()
    b = (y[:, None] - y[None, :]).abs()

    def centred(m: torch.Tensor) -> torch.Tensor:
        row = (m * w).mean(dim=1, keepdim=True)
        col = (m * w[:, None]).mean(dim=0, keepdim=True)
        return m - row - col + (row * w[:, None]).mean()

    ac, bc = centred(a), centred(b)
    ww = w[:, None] * w[None, :]
    ab = (ac * bc * ww).mean()
    aa = (ac * ac * ww).mean()
    bb = (bc * bc * ww).mean()
    return ab / torch.sqrt(aa * bb).clamp_min(1e-12)
