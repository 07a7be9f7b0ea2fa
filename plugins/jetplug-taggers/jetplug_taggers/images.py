"""Jet images: the η–φ image of constituent pT, centred, rotated and flipped.

The usual preprocessing of image taggers (Cogan et al. arXiv:1407.5675,
Kasieczka et al. arXiv:1701.08784, Macaluso & Shih arXiv:1803.00107):

1. **centre** on the pT-weighted centroid of the constituents;
2. **rotate** so that the principal axis of the pT-weighted (Δη, Δφ)
   distribution points along +φ' (vertical);
3. **flip** so that the half-planes η' > 0 and φ' > 0 hold at least half the pT;
4. **pixelate** the pT fractions into ``n_pixels × n_pixels`` over
   ``[-half_width, half_width]²`` (constituents outside are dropped).

Everything is vectorised over jets (one ``bincount`` for the whole batch).
The image is invariant under permutations of the constituents and, up to
pixelisation, under rotations and translations of the jet in (η, φ).
"""

from __future__ import annotations

import numpy as np

__all__ = ["HALF_WIDTH", "N_PIXELS", "jet_images"]

N_PIXELS = 32
HALF_WIDTH = 0.8


def jet_images(
    pt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    mask: np.ndarray,
    *,
    n_pixels: int = N_PIXELS,
    half_width: float = HALF_WIDTH,
) -> np.ndarray:
    """``(n_jets, n_pixels, n_pixels)`` float32 images (pixel = pT fraction).

    ``pt``, ``eta``, ``phi``, ``mask``: ``(n_jets, n_constituents)`` padded
    constituent arrays; masked entries are ignored. Rows index η', columns φ'.
    A jet without constituents gives an empty image.
    """
    n = len(pt)
    w = np.where(mask, pt, 0.0).astype(np.float64)
    total = w.sum(axis=1, keepdims=True)
    w = w / np.where(total > 0, total, 1.0)
    # centre: φ relative to the leading constituent first, so the wrap at ±π is harmless
    phi0 = phi[np.arange(n), np.argmax(w, axis=1)][:, None] if n else phi[:, :1]
    dphi = (phi - phi0 + np.pi) % (2 * np.pi) - np.pi
    x = eta - (w * eta).sum(axis=1, keepdims=True)
    y = dphi - (w * dphi).sum(axis=1, keepdims=True)
    # rotate: principal axis of the pT-weighted second moments -> +y
    sxx = (w * x * x).sum(axis=1)
    syy = (w * y * y).sum(axis=1)
    sxy = (w * x * y).sum(axis=1)
    theta = 0.5 * np.arctan2(2 * sxy, sxx - syy)  # angle of the major axis from +x
    angle = (np.pi / 2 - theta)[:, None]
    c, s = np.cos(angle), np.sin(angle)
    xr = c * x - s * y
    yr = s * x + c * y
    # flip: the half-plane holding more pT goes to positive x (and y); the first
    # moments vanish after centring, so compare the pT on either side instead
    xr = xr * np.where((w * (xr > 0)).sum(axis=1, keepdims=True) < 0.5, -1.0, 1.0)
    yr = yr * np.where((w * (yr > 0)).sum(axis=1, keepdims=True) < 0.5, -1.0, 1.0)
    # pixelate
    scale = n_pixels / (2 * half_width)
    ix = np.floor((xr + half_width) * scale).astype(np.int64)
    iy = np.floor((yr + half_width) * scale).astype(np.int64)
    inside = mask & (ix >= 0) & (ix < n_pixels) & (iy >= 0) & (iy < n_pixels) & (w > 0)
    jet = np.broadcast_to(np.arange(n)[:, None], pt.shape)
    flat = (jet * n_pixels + ix) * n_pixels + iy
    image = np.bincount(flat[inside], weights=w[inside], minlength=n * n_pixels * n_pixels)
    return image.reshape(n, n_pixels, n_pixels).astype(np.float32)
