"""Jet images: the preprocessing's invariances, and the CNN tagger on generated and CMS files."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from jetplug_taggers.images import HALF_WIDTH, N_PIXELS, jet_images

from .helpers import tagger_outputs


def _prongs(rng: np.random.Generator, n: int = 40) -> tuple[np.ndarray, ...]:
    """A three-prong jet: particles around three axes, pT-ordered, padded to 64."""
    centres = np.array([[0.0, 0.0], [0.25, 0.1], [-0.1, 0.3]])
    weights = np.array([0.5, 0.3, 0.2])
    which = rng.choice(3, n, p=weights)
    pos = centres[which] + rng.normal(0, 0.03, (n, 2))
    pt = rng.exponential(10.0, n) * weights[which] + 0.5
    pad = 64 - n
    f = lambda a: np.concatenate([a, np.zeros(pad)])[None, :]  # noqa: E731
    mask = np.concatenate([np.ones(n, bool), np.zeros(pad, bool)])[None, :]
    return f(pt), f(pos[:, 0]), f(pos[:, 1]), mask


def test_image_is_a_pt_fraction_map() -> None:
    pt, eta, phi, mask = _prongs(np.random.default_rng(1))
    image = jet_images(pt, eta + 1.3, phi, mask)
    assert image.shape == (1, N_PIXELS, N_PIXELS)
    assert image.dtype == np.float32
    assert image.sum() == pytest.approx(1.0, abs=1e-5)
    empty = jet_images(pt, eta, phi, np.zeros_like(mask))
    assert not empty.any()


def test_invariant_under_permutation_translation_and_phi_wrap() -> None:
    pt, eta, phi, mask = _prongs(np.random.default_rng(2))
    ref = jet_images(pt, eta, phi, mask)
    n = int(mask.sum())
    perm = np.concatenate([np.random.default_rng(3).permutation(n), np.arange(n, 64)])
    np.testing.assert_allclose(
        jet_images(pt[:, perm], eta[:, perm], phi[:, perm], mask), ref, atol=1e-6
    )
    # a jet at phi ~ pi: half its particles wrap to -pi
    wrapped = (phi + np.pi - 0.05 + np.pi) % (2 * np.pi) - np.pi
    np.testing.assert_allclose(jet_images(pt, eta - 1.7, wrapped, mask), ref, atol=1e-5)


def test_rotations_give_the_same_image_up_to_pixelisation() -> None:
    rng = np.random.default_rng(4)
    pt, eta, phi, mask = _prongs(rng)
    ref = jet_images(pt, eta, phi, mask)[0]
    other = jet_images(*_prongs(np.random.default_rng(99))[:3], mask)[0]
    for angle in rng.uniform(0, 2 * np.pi, 5):
        c, s = np.cos(angle), np.sin(angle)
        rotated = jet_images(pt, c * eta - s * phi, s * eta + c * phi, mask)[0]
        # the L1 distance to the original is far below that to another jet
        assert np.abs(rotated - ref).sum() < 0.35 * np.abs(other - ref).sum()
    # principal axis vertical, mass at non-negative coordinates
    rows, cols = np.indices(ref.shape)
    centre = (N_PIXELS - 1) / 2
    x, y = rows - centre, cols - centre
    assert (ref * x * x).sum() < (ref * y * y).sum()
    assert ref[x > 0].sum() >= ref[x < 0].sum()
    assert ref[y > 0].sum() >= ref[y < 0].sum()
    assert pytest.approx(0.8) == HALF_WIDTH


@pytest.mark.parametrize("source", ["real", "generated"])
def test_cnn_scores_are_probabilities(
    real_data: Path, generated: dict[str, list[Path]], source: str
) -> None:
    path = real_data / "pfnano.root" if source == "real" else generated["ttbar"][0]
    events, out = tagger_outputs(path, "top_cnn")
    score = ak.to_numpy(ak.flatten(out.score))
    assert len(score) == int(ak.sum(ak.num(events.FatJet)))
    assert np.isfinite(score).all()
    assert ((score >= 0) & (score <= 1)).all()
    assert np.std(score) > 0  # a trained network does not give one value to every jet
