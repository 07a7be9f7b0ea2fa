"""torch modules of the built-in taggers (imported only when a torch model is built)."""

from __future__ import annotations

import itertools

import torch
from torch import nn

__all__ = ["JetImageCNN", "ParticleFlowNetwork", "StandardizedMLP"]


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


def _mlp(sizes: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes[:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class ParticleFlowNetwork(nn.Module):
    """Deep Sets / Particle Flow Network (Komiske, Metodiev, Thaler, arXiv:1810.05165).

    Per-particle map Φ, masked sum over particles (permutation invariant),
    event map F, softmax over classes. Inputs are standardised with buffers
    ``mean``/``std`` (part of the state dict) computed on real particles only.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        phi: tuple[int, ...] = (128, 128, 128),
        f: tuple[int, ...] = (128, 128),
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.phi = _mlp((n_features, *phi))
        self.f = _mlp((phi[-1], *f, n_classes))

    def standardize_from(self, x: torch.Tensor, mask: torch.Tensor) -> None:
        """Set ``mean``/``std`` from the real particles of training jets."""
        real = x[mask > 0]
        self.mean.copy_(real.mean(dim=0))
        self.std.copy_(real.std(dim=0).clamp_min(1e-6))

    def logits(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Class logits, shape ``(n, n_classes)``."""
        z = self.phi((x - self.mean) / self.std) * mask.unsqueeze(-1)
        out: torch.Tensor = self.f(z.sum(dim=1))
        return out

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Class probabilities, shape ``(n, n_classes)``."""
        return torch.softmax(self.logits(x, mask), dim=-1)


class JetImageCNN(nn.Module):
    """A small convolutional network on one-channel jet images, sigmoid output.

    Three conv blocks (3×3 convolutions, ReLU, 2×2 max pooling) with 8, 16 and
    16 channels, then a dense layer of 64 units. Pixel intensities (pT
    fractions) are scaled by a buffer ``scale`` (part of the state dict) set
    from the training images.
    """

    scale: torch.Tensor

    def __init__(self, n_pixels: int, channels: tuple[int, ...] = (8, 16, 16)) -> None:
        super().__init__()
        self.register_buffer("scale", torch.ones(()))
        blocks: list[nn.Module] = []
        width, size = 1, n_pixels
        for i, c in enumerate(channels):
            blocks += [nn.Conv2d(width, c, 3, padding=1), nn.ReLU()]
            if i < 2:
                blocks += [nn.Conv2d(c, c, 3, padding=1), nn.ReLU()]
            blocks.append(nn.MaxPool2d(2))
            width, size = c, size // 2
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(width * size * size, 64), nn.ReLU(), nn.Linear(64, 1)
        )

    def standardize_from(self, images: torch.Tensor) -> None:
        """Scale intensities so that the mean non-empty pixel is of order one."""
        self.scale.copy_(1.0 / images[images > 0].mean().clamp_min(1e-6))

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid output, shape ``(n,)``."""
        out: torch.Tensor = self.head(self.features(images.unsqueeze(1) * self.scale))
        return out.squeeze(-1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """P(top), shape ``(n,)``."""
        return torch.sigmoid(self.logits(images))
