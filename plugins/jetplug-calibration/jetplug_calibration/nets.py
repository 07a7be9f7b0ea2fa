"""torch modules of the calibrators (imported only when a torch model is built)."""

from __future__ import annotations

import torch
from torch import nn

from jetplug_taggers.nets import mlp

__all__ = ["InversionTable", "ParticleRegressor"]


class InversionTable(nn.Module):
    """log(correction) interpolated in log pT within |η| bins (numerical inversion).

    Buffers (the whole model): ``eta_edges`` (inner |η| edges), ``log_pt``
    (per |η| bin, increasing reco log pT nodes) and ``log_corr`` (the
    correction's log at each node). Linear in log pT between nodes, constant
    beyond the first and last.
    """

    eta_edges: torch.Tensor
    log_pt: torch.Tensor
    log_corr: torch.Tensor

    def __init__(self, n_eta: int, n_pt: int) -> None:
        super().__init__()
        self.register_buffer("eta_edges", torch.zeros(n_eta - 1))
        self.register_buffer("log_pt", torch.arange(n_pt, dtype=torch.float32).repeat(n_eta, 1))
        self.register_buffer("log_corr", torch.zeros(n_eta, n_pt))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (n, 2) = log pT, |η| -> (n,) log correction."""
        log_pt, abs_eta = x[:, 0].contiguous(), x[:, 1].contiguous()
        row = torch.bucketize(abs_eta, self.eta_edges)
        nodes, values = self.log_pt[row], self.log_corr[row]
        n_pt = nodes.shape[1]
        hi = torch.searchsorted(nodes.contiguous(), log_pt.unsqueeze(1)).clamp(1, n_pt - 1)
        lo = hi - 1
        x0, x1 = nodes.gather(1, lo), nodes.gather(1, hi)
        y0, y1 = values.gather(1, lo), values.gather(1, hi)
        t = ((log_pt.unsqueeze(1) - x0) / (x1 - x0).clamp_min(1e-6)).clamp(0.0, 1.0)
        out: torch.Tensor = (y0 + t * (y1 - y0)).squeeze(1)
        return out


class ParticleRegressor(nn.Module):
    """Deep-Sets regression on PF candidates plus jet features -> log correction.

    A per-particle map Φ (on the taggers' 13 particle features), a masked sum
    and a masked energy-weighted sum (the jet's composition), concatenated
    with the standardised jet features (log pT, |η|), and a map F to one
    number. Standardisation buffers are part of the state dict.
    """

    mean: torch.Tensor
    std: torch.Tensor
    jet_mean: torch.Tensor
    jet_std: torch.Tensor

    def __init__(self, n_features: int, n_jet: int, phi: int = 64, f: int = 64) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.register_buffer("jet_mean", torch.zeros(n_jet))
        self.register_buffer("jet_std", torch.ones(n_jet))
        self.phi = mlp((n_features, phi, phi, phi))
        self.f = mlp((2 * phi + n_jet, f, f, 1))

    def standardize_from(self, x: torch.Tensor, mask: torch.Tensor, jet: torch.Tensor) -> None:
        """Set the buffers from training tensors (real particles only)."""
        real = x[mask > 0]
        self.mean.copy_(real.mean(dim=0))
        self.std.copy_(real.std(dim=0).clamp_min(1e-6))
        self.jet_mean.copy_(jet.mean(dim=0))
        self.jet_std.copy_(jet.std(dim=0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, jet: torch.Tensor) -> torch.Tensor:
        """(n, P, F) particles, (n, P) mask, (n, J) jet features -> (n,) log correction."""
        z = self.phi((x - self.mean) / self.std) * mask.unsqueeze(-1)
        # x[..., 5] is log(E / E_jet): energy fractions weight the second sum
        weight = torch.exp(x[..., 5]) * mask
        pooled = torch.cat([z.sum(dim=1) / 32.0, (z * weight.unsqueeze(-1)).sum(dim=1)], dim=1)
        jets = (jet - self.jet_mean) / self.jet_std
        out: torch.Tensor = self.f(torch.cat([pooled, jets], dim=1)).squeeze(-1)
        return out
