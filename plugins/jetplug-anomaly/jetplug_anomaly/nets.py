"""The autoencoder of the anomaly scores (imported only when a torch model is built).

One network serves the plain autoencoder and the normalized autoencoder: the
NAE is the same module, retrained. Its ``forward`` returns the **energy** of
each input, the squared reconstruction error summed over the input's entries,
so the served model's only output is the anomaly score itself.
"""

from __future__ import annotations

import torch
from torch import nn

from jetplug_taggers.nets import mlp

__all__ = ["Autoencoder"]


class Autoencoder(nn.Module):
    """Dense autoencoder on flat inputs of fractions summing to ~1, spherical latent space.

    The encoder sees the input times the buffer ``scale`` (set from training
    data so that the network works on order-one numbers); its output is
    normalised to unit length (a point on the sphere S^(latent-1), as in the
    NAE paper: a bounded latent space the Langevin chains can explore). The
    decoder ends in a softmax: a reconstruction is a distribution over the
    input's entries, as a jet image of pT fractions is.
    """

    scale: torch.Tensor

    def __init__(self, n_in: int, hidden: tuple[int, ...] = (128, 64), latent: int = 8) -> None:
        super().__init__()
        self.latent = latent
        self.register_buffer("scale", torch.ones(()))
        self.encoder = mlp((n_in, *hidden, latent))
        self.decoder = mlp((latent, *reversed(hidden), n_in))

    def scale_from(self, x: torch.Tensor) -> None:
        """Set ``scale`` to 1 / the standard deviation of the training inputs' entries."""
        self.scale.copy_(1.0 / x.std().clamp_min(1e-12))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, n_in)`` -> ``(n, latent)`` unit vectors."""
        z = self.encoder(x * self.scale)
        out: torch.Tensor = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return out

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(n, latent)`` -> ``(n, n_in)`` reconstruction: non-negative, summing to 1."""
        return torch.softmax(self.decoder(z), dim=1)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Squared reconstruction error summed over entries, ``(n,)``."""
        out: torch.Tensor = ((x - self.decode(self.encode(x))) ** 2).sum(dim=1)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The energy (the anomaly score), ``(n,)``."""
        return self.energy(x)
