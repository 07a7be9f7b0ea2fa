"""torch modules of the built-in taggers (imported only when a torch model is built)."""

from __future__ import annotations

import itertools

import torch
from torch import nn

__all__ = [
    "AttentionBlock",
    "JetImageCNN",
    "ParticleFlowNetwork",
    "ParticleTransformer",
    "StandardizedMLP",
    "mlp",
    "pair_features",
]


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


def mlp(sizes: tuple[int, ...]) -> nn.Sequential:
    """Linear layers of ``sizes`` with ReLUs between them (none after the last)."""
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes[:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class _ParticleClassifier(nn.Module):
    """Base of the multi-class networks on masked particles.

    Holds the input standardisation (buffers ``mean``/``std``, part of the
    state dict, computed on real particles only) and turns the subclass's
    ``logits(x, mask)`` into class probabilities.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    def standardize_from(self, x: torch.Tensor, mask: torch.Tensor) -> None:
        """Set ``mean``/``std`` from the real particles of training jets."""
        real = x[mask > 0]
        self.mean.copy_(real.mean(dim=0))
        self.std.copy_(real.std(dim=0).clamp_min(1e-6))

    def standardized(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with the training mean subtracted and divided by the training std."""
        return (x - self.mean) / self.std

    def logits(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Class logits, shape ``(n, n_classes)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Class probabilities, shape ``(n, n_classes)``."""
        return torch.softmax(self.logits(x, mask), dim=-1)


class ParticleFlowNetwork(_ParticleClassifier):
    """Deep Sets / Particle Flow Network (Komiske, Metodiev, Thaler, arXiv:1810.05165).

    Per-particle map Φ, masked sum over particles (permutation invariant),
    event map F, softmax over classes.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        phi: tuple[int, ...] = (128, 128, 128),
        f: tuple[int, ...] = (128, 128),
    ) -> None:
        super().__init__(n_features)
        self.phi = mlp((n_features, *phi))
        self.f = mlp((phi[-1], *f, n_classes))

    def logits(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Class logits, shape ``(n, n_classes)``."""
        z = self.phi(self.standardized(x)) * mask.unsqueeze(-1)
        out: torch.Tensor = self.f(z.sum(dim=1))
        return out


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


def pair_features(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(n, P, P, 4)`` pairwise features of Particle Transformer (arXiv:2202.03772).

    ln ΔR, ln kT, ln z and ln m² of every particle pair, from the unstandardised
    per-particle columns Δη (0), Δφ (1), ln pT (2) and ln E (3); pairs with a
    padded particle are zero.
    """
    deta, dphi = x[..., 0], x[..., 1]
    pt, e = x[..., 2].exp(), x[..., 3].exp()
    px, py = pt * dphi.cos(), pt * dphi.sin()
    pz = pt * deta.sinh()
    d_eta = deta.unsqueeze(-1) - deta.unsqueeze(-2)
    d_phi = dphi.unsqueeze(-1) - dphi.unsqueeze(-2)
    d_phi = torch.remainder(d_phi + torch.pi, 2 * torch.pi) - torch.pi
    delta = torch.sqrt(d_eta**2 + d_phi**2 + eps)
    pt_min = torch.minimum(pt.unsqueeze(-1), pt.unsqueeze(-2))
    pt_sum = pt.unsqueeze(-1) + pt.unsqueeze(-2)
    m2 = (
        (e.unsqueeze(-1) + e.unsqueeze(-2)) ** 2
        - (px.unsqueeze(-1) + px.unsqueeze(-2)) ** 2
        - (py.unsqueeze(-1) + py.unsqueeze(-2)) ** 2
        - (pz.unsqueeze(-1) + pz.unsqueeze(-2)) ** 2
    )
    u = torch.stack(
        [
            delta.log(),
            (pt_min * delta).clamp_min(eps).log(),
            (pt_min / pt_sum.clamp_min(eps)).clamp_min(eps).log(),
            m2.clamp_min(eps).log(),
        ],
        dim=-1,
    )
    pair = (mask.unsqueeze(-1) * mask.unsqueeze(-2)).unsqueeze(-1)
    return u * pair


class _Block(nn.Module):
    """Pre-norm multi-head attention (additive bias) and a feed-forward layer.

    No tensor shape is read as a Python number, so the block traces to
    TorchScript for any batch size (what Triton serves).
    """

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.norm1 = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, query: torch.Tensor, keys: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``query`` (n, Q, D) attends to ``keys`` (n, K, D), ``bias`` broadcast to (n, H, Q, K)."""
        qn = self.norm1(query)
        kn = qn if keys is query else self.norm1(keys)
        q = self.q(qn).unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)
        kv = self.kv(kn).unflatten(-1, (2, self.heads, self.head_dim))
        k, v = kv.select(-3, 0).transpose(1, 2), kv.select(-3, 1).transpose(1, 2)
        att = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = query + self.proj(att.transpose(1, 2).flatten(-2))
        result: torch.Tensor = out + self.ffn(self.norm2(out))
        return result


AttentionBlock = _Block
"""Public name of the attention block (reused by ``jetplug_representation``'s encoder)."""


class ParticleTransformer(_ParticleClassifier):
    """A small Particle Transformer (Qu, Li, Qian, arXiv:2202.03772).

    Particle embedding, ``layers`` self-attention blocks whose attention is
    biased by an embedding of the pairwise features (:func:`pair_features`),
    then ``class_layers`` class-attention blocks (a learned class token
    attends to the particles) and a linear head; softmax over classes.
    Padded particles are masked out of every attention, so the output is
    permutation invariant.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        dim: int = 64,
        heads: int = 4,
        layers: int = 3,
        class_layers: int = 1,
    ) -> None:
        super().__init__(n_features)
        self.heads = heads
        self.embed = nn.Sequential(nn.Linear(n_features, dim), nn.GELU(), nn.Linear(dim, dim))
        self.pair_embed = nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, heads * layers))
        self.blocks = nn.ModuleList(_Block(dim, heads, 2 * dim) for _ in range(layers))
        self.class_blocks = nn.ModuleList(_Block(dim, heads, 2 * dim) for _ in range(class_layers))
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def logits(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Class logits, shape ``(n, n_classes)``."""
        h = self.heads
        # -inf would give NaN for a jet without particles: a large negative instead
        pad = ((1.0 - mask) * -1e9)[:, None, None, :]
        bias = self.pair_embed(pair_features(x, mask)).permute(0, 3, 1, 2) + pad
        z = self.embed(self.standardized(x)) * mask.unsqueeze(-1)
        for i, block in enumerate(self.blocks):
            z = block(z, z, bias[:, i * h : (i + 1) * h])
        token = self.cls.expand_as(z[:, :1])
        for block in self.class_blocks:
            token = block(token, z, pad)
        out: torch.Tensor = self.head(self.norm(token.squeeze(1)))
        return out
