"""torch modules of the JetCLR plugins (imported only when a torch model is built).

:class:`JetCLREncoder`: a particle embedding, ``layers`` self-attention
blocks (``jetplug_taggers.nets.AttentionBlock``, the ParT tagger's block,
here without pairwise features: attention masked to the real constituents
only) and a **sum over the constituents** (permutation invariant, padding
invariant), then a linear map to the embedding. No positional information
enters, so the embedding does not depend on the constituents' order.

:class:`MahalanobisScore`: the encoder, the embedding L2-normalised, then the
squared Mahalanobis distance to the mean of the normal (QCD) jets; the
mean and the whitening matrix are buffers of the state dict.
"""

from __future__ import annotations

import torch
from torch import nn

from jetplug_taggers.nets import AttentionBlock, mlp

__all__ = ["JetCLREncoder", "MahalanobisScore", "nt_xent"]


class JetCLREncoder(nn.Module):
    """``forward(particles (n, P, F), mask (n, P))`` -> embedding ``(n, dim_out)``."""

    def __init__(
        self, n_features: int, dim: int = 64, heads: int = 4, layers: int = 2, dim_out: int = 64
    ) -> None:
        super().__init__()
        self.embed = mlp((n_features, dim, dim))
        self.blocks = nn.ModuleList(AttentionBlock(dim, heads, 2 * dim) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, dim_out)

    def forward(self, particles: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The embedding of each jet (not normalised)."""
        # -inf would give NaN for a jet without constituents: a large negative instead
        pad = ((1.0 - mask) * -1e9)[:, None, None, :]
        z = self.embed(particles) * mask.unsqueeze(-1)
        for block in self.blocks:
            z = block(z, z, pad)
        pooled = (self.norm(z) * mask.unsqueeze(-1)).sum(dim=1)
        out: torch.Tensor = self.out(pooled)
        return out


class MahalanobisScore(nn.Module):
    """Squared Mahalanobis distance of the normalised embedding to the normal jets' mean."""

    mean: torch.Tensor
    whitening: torch.Tensor

    def __init__(self, encoder: JetCLREncoder, dim_out: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("mean", torch.zeros(dim_out))
        self.register_buffer("whitening", torch.eye(dim_out))

    def fit(self, embeddings: torch.Tensor, ridge: float = 1e-4) -> None:
        """Mean and whitening (inverse Cholesky factor of the covariance) of normal jets."""
        e = nn.functional.normalize(embeddings, dim=1).double()
        mean = e.mean(dim=0)
        cov = torch.cov(e.T) + ridge * torch.eye(e.shape[1], dtype=e.dtype)
        chol = torch.linalg.cholesky(cov)
        eye = torch.eye(e.shape[1], dtype=e.dtype)
        self.mean.copy_(mean.float())
        self.whitening.copy_(torch.linalg.solve_triangular(chol, eye, upper=False).T.float())

    def forward(self, particles: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The anomaly score of each jet, shape ``(n,)``."""
        e = nn.functional.normalize(self.encoder(particles, mask), dim=1)
        w = (e - self.mean) @ self.whitening
        score: torch.Tensor = (w * w).sum(dim=1)
        return score


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """The NT-Xent loss (SimCLR, arXiv:2002.05709) of two views ``a``, ``b`` (rows paired).

    Each of the 2n normalised embeddings must pick its partner among the
    2n − 1 others by cosine similarity / ``temperature`` (cross-entropy).
    """
    z = nn.functional.normalize(torch.cat([a, b]), dim=1)
    n = len(a)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return nn.functional.cross_entropy(sim, target)
