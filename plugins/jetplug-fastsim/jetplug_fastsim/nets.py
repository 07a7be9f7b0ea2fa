"""torch modules of the GAN fast simulation (imported only when a torch model is built)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .refine import QuantileRefinement

__all__ = ["Critic", "FastSimGAN", "mlp"]


def mlp(sizes: tuple[int, ...], slope: float = 0.2) -> nn.Sequential:
    """Linear layers with leaky ReLUs between them (none after the last)."""
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes[:-1]):
        layers += [nn.Linear(a, b), nn.LeakyReLU(slope)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class FastSimGAN(nn.Module):
    """Generator and efficiency of the fast simulation, with their standardisation.

    ``forward(cond, noise)``: ``cond`` (n, C) raw conditions, ``noise`` (n, Z)
    standard normal -> ``features`` (n, F) in the encoded space of
    :func:`jetplug_fastsim.gan.encode` and ``p_reco`` (n,), the probability
    that the gen jet is reconstructed as a FatJet. Buffers (part of the state
    dict): the conditions' and features' training mean and std. With
    ``refinement`` (the metadata's record of a fitted
    :class:`~jetplug_fastsim.refine.QuantileRefinement`), the features pass
    through it (``names``: the features' names, which it maps by); ``refine``
    may be set to ``None`` to see the raw generator.
    """

    cond_mean: torch.Tensor
    cond_std: torch.Tensor
    feat_mean: torch.Tensor
    feat_std: torch.Tensor

    def __init__(
        self,
        n_cond: int,
        n_noise: int,
        n_features: int,
        hidden: int = 128,
        refinement: Mapping[str, Any] | None = None,
        names: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.register_buffer("cond_mean", torch.zeros(n_cond))
        self.register_buffer("cond_std", torch.ones(n_cond))
        self.register_buffer("feat_mean", torch.zeros(n_features))
        self.register_buffer("feat_std", torch.ones(n_features))
        self.generator = mlp((n_cond + n_noise, hidden, hidden, hidden, n_features))
        self.efficiency = mlp((n_cond, 64, 64, 1))
        if refinement is not None and len(names) != n_features:
            msg = f"a refinement needs the {n_features} feature names, got {len(names)}"
            raise ValueError(msg)
        self.refine: QuantileRefinement | None = (
            QuantileRefinement(refinement, names) if refinement is not None else None
        )

    def standardized_cond(self, cond: torch.Tensor) -> torch.Tensor:
        """Conditions with the training mean subtracted, divided by the std."""
        return (cond - self.cond_mean) / self.cond_std

    def generate(self, cond_std: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Standardised features from standardised conditions and noise."""
        out: torch.Tensor = self.generator(torch.cat([cond_std, noise], dim=1))
        return out

    def forward(self, cond: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded features and reconstruction probability."""
        c = self.standardized_cond(cond)
        features = self.generate(c, noise) * self.feat_std + self.feat_mean
        if self.refine is not None:
            features = self.refine(cond, features)
        p_reco = torch.sigmoid(self.efficiency(c).squeeze(-1))
        return features, p_reco


class Critic(nn.Module):
    """The Wasserstein critic (training only): score of (conditions, features)."""

    def __init__(self, n_cond: int, n_features: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = mlp((n_cond + n_features, hidden, hidden, hidden, 1))

    def forward(self, cond: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """One score per row."""
        out: torch.Tensor = self.net(torch.cat([cond, features], dim=1)).squeeze(-1)
        return out
