"""The jet as a point cloud, and the JetCLR augmentations (Dillon et al., arXiv:2108.04253).

A :class:`Cloud` holds, per jet, its constituents' pT fractions
``z = pT / pT_jet`` and their coordinates relative to the jet axis
(Δη, Δφ), padded with a mask. The augmentations the encoder is trained to
ignore:

* :func:`rotate`: a random rotation in the (Δη, Δφ) plane about the jet axis
  (keeps every ΔR to the axis and every pairwise ΔR);
* :func:`translate`: a random shift of the whole jet in (η, φ), uniform in
  ± ``width`` times the jet's extent in each coordinate (as JetCLR's
  ``translate_jets``);
* :func:`smear`: soft smearing, δη, δφ ~ N(0, ``strength`` / pT[GeV]) per
  constituent: soft particles move, hard ones barely (JetCLR's
  ``distort_jets``);
* :func:`collinear_split`: constituents split in two at the same (η, φ), a
  random fraction of the pT each (the jet's pT sum and every IRC-safe
  observable unchanged).

And some it is **not** trained on, for the invariance checks of
``jetplug validate --section representation``: :func:`boost` (all angles
scaled: the jet's mass changes), :func:`drop_soft` (constituents below a pT
fraction removed) and :func:`reflect` (η → −η, not a rotation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jetplug import ModelInputs

__all__ = [
    "AUGMENTATIONS",
    "UNTRAINED",
    "Cloud",
    "boost",
    "cloud_of",
    "collinear_split",
    "drop_soft",
    "hardest",
    "inputs_of",
    "invariances",
    "load_clouds",
    "reflect",
    "rotate",
    "save_clouds",
    "smear",
    "translate",
    "views",
]

Augmentation = Callable[["Cloud", np.random.Generator], "Cloud"]


@dataclass(frozen=True)
class Cloud:
    """Padded constituents of ``n`` jets: ``(n, P)`` arrays, zero where ``mask`` is false."""

    z: np.ndarray
    """pT fraction pT / pT_jet."""
    deta: np.ndarray
    dphi: np.ndarray
    mask: np.ndarray
    """Real constituent (bool)."""
    jet_pt: np.ndarray
    """``(n,)`` the jet's pT [GeV] (the scale of :func:`smear`)."""

    def __len__(self) -> int:
        return len(self.z)

    def take(self, rows: np.ndarray) -> Cloud:
        """The jets ``rows``."""
        return Cloud(
            self.z[rows], self.deta[rows], self.dphi[rows], self.mask[rows], self.jet_pt[rows]
        )

    def _with(self, deta: np.ndarray, dphi: np.ndarray) -> Cloud:
        m = self.mask
        return Cloud(self.z, np.where(m, deta, 0.0), np.where(m, dphi, 0.0), m, self.jet_pt)


def cloud_of(inputs: ModelInputs) -> Cloud:
    """The cloud of jets whose ``constituents`` are (pt, eta, phi) and fields pt, eta, phi."""
    assert inputs.constituents is not None  # the spec declares constituents
    assert inputs.mask is not None
    c = inputs.constituents.astype(np.float64)
    f = inputs.fields
    mask = inputs.mask.astype(bool)
    jet_pt = np.asarray(f["pt"], np.float64)
    z = c[..., 0] / jet_pt[:, None]
    deta = c[..., 1] - np.asarray(f["eta"], np.float64)[:, None]
    dphi = (c[..., 2] - np.asarray(f["phi"], np.float64)[:, None] + np.pi) % (2 * np.pi) - np.pi
    zero = np.zeros_like(z)
    return Cloud(
        np.where(mask, z, zero),
        np.where(mask, deta, zero),
        np.where(mask, dphi, zero),
        mask,
        jet_pt,
    )


_FIELDS = ("z", "deta", "dphi")


def save_clouds(path: Path, clouds: Mapping[str, Cloud], **extra: np.ndarray) -> None:
    """Write named clouds (z, Δη, Δφ as float16, the mask as bits) and ``extra`` arrays.

    float16 keeps 11 bits: Δη, Δφ and z to ~10⁻⁴ of their value (z below
    6·10⁻⁵, subnormal, to ~10⁻⁸ absolute), far below any detector
    resolution; the file is a plain ``.npz`` (no pickle).
    """
    arrays = dict(extra)
    for name, cloud in clouds.items():
        for field in _FIELDS:
            arrays[f"{name}.{field}"] = getattr(cloud, field).astype(np.float16)
        arrays[f"{name}.mask"] = np.packbits(cloud.mask, axis=1)
        arrays[f"{name}.jet_pt"] = cloud.jet_pt.astype(np.float32)
    np.savez(path, **arrays)  # type: ignore[arg-type]  # (stubs: a key could be allow_pickle)


def load_clouds(path: Path) -> tuple[dict[str, Cloud], dict[str, np.ndarray]]:
    """The clouds and the extra arrays written by :func:`save_clouds`."""
    with np.load(path, allow_pickle=False) as f:
        names = {key.split(".")[0] for key in f.files if key.endswith(".mask")}
        clouds = {}
        for name in sorted(names):
            z = f[f"{name}.z"].astype(np.float64)
            mask = np.unpackbits(f[f"{name}.mask"], axis=1, count=z.shape[1]).astype(bool)
            clouds[name] = Cloud(
                z,
                f[f"{name}.deta"].astype(np.float64),
                f[f"{name}.dphi"].astype(np.float64),
                mask,
                f[f"{name}.jet_pt"].astype(np.float64),
            )
        extra = {key: f[key] for key in f.files if "." not in key}
    return clouds, extra


def rotate(cloud: Cloud, rng: np.random.Generator) -> Cloud:
    """A random rotation of each jet in the (Δη, Δφ) plane about its axis."""
    angle = rng.uniform(0.0, 2 * np.pi, (len(cloud), 1))
    c, s = np.cos(angle), np.sin(angle)
    return cloud._with(c * cloud.deta - s * cloud.dphi, s * cloud.deta + c * cloud.dphi)


def _extent(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    hi = np.where(mask, x, -np.inf).max(axis=1, keepdims=True)
    lo = np.where(mask, x, np.inf).min(axis=1, keepdims=True)
    return np.where(np.isfinite(hi - lo), hi - lo, 0.0)


def translate(cloud: Cloud, rng: np.random.Generator, width: float = 1.0) -> Cloud:
    """Shift each jet by a uniform random amount within ± ``width`` times its extent."""
    n = (len(cloud), 1)
    shift_eta = rng.uniform(-1.0, 1.0, n) * width * _extent(cloud.deta, cloud.mask)
    shift_phi = rng.uniform(-1.0, 1.0, n) * width * _extent(cloud.dphi, cloud.mask)
    return cloud._with(cloud.deta + shift_eta, cloud.dphi + shift_phi)


def smear(
    cloud: Cloud, rng: np.random.Generator, strength: float = 0.1, pt_min: float = 0.1
) -> Cloud:
    """Soft smearing: δη, δφ ~ N(0, ``strength`` / pT) with pT in GeV (at least ``pt_min``)."""
    pt = np.maximum(cloud.z * cloud.jet_pt[:, None], pt_min)
    sigma = strength / pt
    return cloud._with(
        cloud.deta + sigma * rng.standard_normal(pt.shape),
        cloud.dphi + sigma * rng.standard_normal(pt.shape),
    )


def collinear_split(cloud: Cloud, rng: np.random.Generator, probability: float = 0.5) -> Cloud:
    """Split each constituent with ``probability`` in two at the same (η, φ).

    The pT fractions ``u·z`` and ``(1 − u)·z`` with u uniform; the result has
    twice the slots (the second halves after the originals): nothing is lost,
    so the jet's pT sum and every IRC-safe observable are unchanged. Follow
    with :func:`hardest` to keep the encoder's number of constituents.
    """
    split = cloud.mask & (rng.uniform(size=cloud.z.shape) < probability)
    u = rng.uniform(size=cloud.z.shape)
    first = np.where(split, u * cloud.z, cloud.z)
    second = np.where(split, (1.0 - u) * cloud.z, 0.0)
    return Cloud(
        np.concatenate([first, second], axis=1),
        np.concatenate([cloud.deta, np.where(split, cloud.deta, 0.0)], axis=1),
        np.concatenate([cloud.dphi, np.where(split, cloud.dphi, 0.0)], axis=1),
        np.concatenate([cloud.mask, split], axis=1),
        cloud.jet_pt,
    )


def hardest(cloud: Cloud, n: int) -> Cloud:
    """The ``n`` hardest constituents of each jet, hardest first (padded to ``n`` slots)."""
    order = np.argsort(np.where(cloud.mask, -cloud.z, np.inf), axis=1, kind="stable")[:, :n]

    def pick(x: np.ndarray) -> np.ndarray:
        out = np.take_along_axis(x, order, axis=1)
        if out.shape[1] < n:
            out = np.pad(out, ((0, 0), (0, n - out.shape[1])))
        return out

    return Cloud(pick(cloud.z), pick(cloud.deta), pick(cloud.dphi), pick(cloud.mask), cloud.jet_pt)


def boost(cloud: Cloud, rng: np.random.Generator, factor: float = 0.7) -> Cloud:
    """Every angle to the axis scaled by ``factor`` (a boosted jet: its mass scales too)."""
    del rng
    return cloud._with(factor * cloud.deta, factor * cloud.dphi)


def drop_soft(cloud: Cloud, rng: np.random.Generator, z_min: float = 0.01) -> Cloud:
    """Constituents with pT fraction below ``z_min`` removed."""
    del rng
    keep = cloud.mask & (cloud.z >= z_min)
    zero = np.zeros_like(cloud.z)
    return Cloud(
        np.where(keep, cloud.z, zero),
        np.where(keep, cloud.deta, zero),
        np.where(keep, cloud.dphi, zero),
        keep,
        cloud.jet_pt,
    )


def reflect(cloud: Cloud, rng: np.random.Generator) -> Cloud:
    """η → −η about the axis (a reflection, which no rotation gives)."""
    del rng
    return cloud._with(-cloud.deta, cloud.dphi)


AUGMENTATIONS: dict[str, Augmentation] = {
    "rotation": rotate,
    "translation": translate,
    "smearing": smear,
    "collinear splitting": collinear_split,
}
"""What the encoder is trained to ignore, in the order :func:`views` applies them."""
UNTRAINED: dict[str, Augmentation] = {
    "boost (angles × 0.7)": boost,
    "soft constituents (z < 1 %) removed": drop_soft,
    "reflection η → −η": reflect,
}
"""What it is not trained on (invariance checks only)."""


def views(cloud: Cloud, rng: np.random.Generator, n: int) -> Cloud:
    """One augmented view of every jet: every augmentation in turn, then the ``n`` hardest."""
    for augment in AUGMENTATIONS.values():
        cloud = augment(cloud, rng)
    return hardest(cloud, n)


def inputs_of(cloud: Cloud, like: ModelInputs, n: int) -> ModelInputs:
    """``like`` (jets of fields pt, eta, phi) with constituents (pt, eta, phi) from ``cloud``.

    The ``n`` hardest constituents, at the jet axis of ``like`` plus (Δη, Δφ).
    """
    cloud = hardest(cloud, n)
    f = like.fields
    pt = cloud.z * cloud.jet_pt[:, None]
    eta = cloud.deta + np.asarray(f["eta"], np.float64)[:, None]
    phi = cloud.dphi + np.asarray(f["phi"], np.float64)[:, None]
    constituents = np.where(cloud.mask[..., None], np.stack([pt, eta, phi], axis=-1), 0.0)
    return ModelInputs(dict(f), constituents.astype(np.float32), cloud.mask.copy())


Transform = Callable[[ModelInputs, np.random.Generator], ModelInputs]


def _transform(augment: Augmentation, n: int) -> Transform:
    def apply(inputs: ModelInputs, rng: np.random.Generator) -> ModelInputs:
        return inputs_of(augment(cloud_of(inputs), rng), inputs, n)

    return apply


def invariances(n: int) -> dict[str, tuple[bool, Transform]]:
    """Name -> (trained to ignore?, transformation of a plugin's inputs), for ``n`` constituents.

    Every trained augmentation alone, all of them together (a training
    view), and the :data:`UNTRAINED` ones.
    """
    out: dict[str, tuple[bool, Transform]] = {
        name: (True, _transform(a, n)) for name, a in AUGMENTATIONS.items()
    }
    out["all four (a training view)"] = (True, _transform(lambda c, r: views(c, r, n), n))
    out |= {name: (False, _transform(a, n)) for name, a in UNTRAINED.items()}
    return out
