"""``ae_qcd``, ``ae_top``, ``nae_qcd``, ``nae_top``: anomaly scores on jet images.

Input: up to 128 PF candidates per FatJet, turned into a **16×16** η–φ image
of pT fractions over ±0.8 (``jetplug_taggers.images.jet_images``: centred,
rotated, flipped; 0.1 per pixel, coarser than the taggers' 32×32 to keep
training within a few CPU minutes) and smoothed by a Gaussian of σ = 0.8
pixel (the NAE authors smooth their images likewise; it spreads a single hard
particle over neighbouring pixels, so nearby jets have nearby images). The
image is flattened to 256 numbers summing to ~1.

Output: ``score`` = the autoencoder's energy, the squared reconstruction
error of the image (higher = more anomalous).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from jetplug import (
    Artifact,
    ConstituentSpec,
    InputSpec,
    JetModel,
    Kind,
    ModelInputs,
    ModelSpec,
    OutputSpec,
    TensorSpec,
    lazy_spec,
    load_model_metadata,
)
from jetplug_taggers.images import jet_images

if TYPE_CHECKING:  # the training stack (torch, scikit-learn) loads only to train
    from jetplug.training import TrainingData, TrainSettings

__all__ = [
    "MODELS",
    "N_INPUTS",
    "N_PIXELS",
    "SMOOTHING",
    "AutoencoderQCD",
    "AutoencoderTop",
    "ImageAnomaly",
    "NormalizedAutoencoderQCD",
    "NormalizedAutoencoderTop",
    "anomaly_images",
    "build_spec",
]

MODELS = Path(__file__).parent / "models"
MAX_PARTICLES = 128
N_PIXELS = 16
N_INPUTS = N_PIXELS * N_PIXELS
SMOOTHING = 0.8
"""σ of the Gaussian smoothing, in pixels."""
TRUTH_NAMES = {0: "QCD", 1: "top"}


def anomaly_images(inputs: ModelInputs) -> np.ndarray:
    """``(n_jets, 256)`` smoothed 16×16 images of PF-candidate pT fractions."""
    assert inputs.constituents is not None  # the spec declares constituents
    assert inputs.mask is not None
    from scipy.ndimage import gaussian_filter1d  # 0.25 s of scipy: only when images are made

    c = inputs.constituents
    image = jet_images(c[..., 0], c[..., 1], c[..., 2], inputs.mask, n_pixels=N_PIXELS)
    for axis in (1, 2):
        image = gaussian_filter1d(image, SMOOTHING, axis=axis, mode="constant")
    return image.reshape(len(image), N_INPUTS).astype(np.float32)


def build_spec(name: str, method: str, normal: int, artifact: Artifact, version: str) -> ModelSpec:
    """The spec of one image anomaly score (PF candidates in, ``score`` out)."""
    what = "autoencoder" if method == "ae" else "normalized autoencoder"
    return ModelSpec(
        name=name,
        kind=Kind.ANOMALY,
        version=version,
        description=f"{what} energy of 16x16 jet images, trained on {TRUTH_NAMES[normal]} jets",
        inputs=InputSpec(
            collection="FatJet",
            constituents=ConstituentSpec(
                fields=("pt", "eta", "phi"), max_constituents=MAX_PARTICLES
            ),
        ),
        tensors_in=(TensorSpec("image", "float32", (N_INPUTS,)),),
        tensors_out=(TensorSpec("score", "float32", ()),),
        outputs=(
            OutputSpec(
                "score", "float32", description="squared reconstruction error (higher = anomalous)"
            ),
        ),
        artifact=artifact,
    )


def _shipped(name: str, method: str, normal: int) -> Callable[[], ModelSpec]:
    def build() -> ModelSpec:
        model = MODELS / f"{name}.pt"
        meta = load_model_metadata(model)
        artifact = Artifact(model, str(meta["sha256"]), "torch-state-dict")
        return build_spec(name, method, normal, artifact, str(meta["version"]))

    return build


class ImageAnomaly(JetModel):
    """Base of the image anomaly scores: the image, the network, the training."""

    method: ClassVar[str] = "ae"
    """``ae`` (plain autoencoder) or ``nae`` (normalized autoencoder)."""

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """The flattened smoothed images."""
        return {"image": anomaly_images(inputs)}

    def build_module(self) -> Any:
        """The network; weights come from the artifact."""
        from .nets import Autoencoder

        return Autoencoder(N_INPUTS)

    def train(
        self,
        data: TrainingData,
        output: Path,
        *,
        version: str,
        settings: TrainSettings,
        log: Callable[[str], None],
    ) -> dict[str, Any]:
        """Train on the jets of class ``normal_truth`` (AE, then the NAE stage for ``nae``)."""
        from .train import train_anomaly

        return train_anomaly(self, data, output, version=version, settings=settings, log=log)


class AutoencoderQCD(ImageAnomaly):
    """``FatJet.ae_qcd.score``: plain autoencoder trained on QCD jets."""

    normal_truth: ClassVar[int | None] = 0
    spec = lazy_spec("ae_qcd", _shipped("ae_qcd", "ae", 0))


class AutoencoderTop(ImageAnomaly):
    """``FatJet.ae_top.score``: plain autoencoder trained on top jets."""

    normal_truth: ClassVar[int | None] = 1
    spec = lazy_spec("ae_top", _shipped("ae_top", "ae", 1))


class NormalizedAutoencoderQCD(ImageAnomaly):
    """``FatJet.nae_qcd.score``: normalized autoencoder trained on QCD jets."""

    method: ClassVar[str] = "nae"
    normal_truth: ClassVar[int | None] = 0
    spec = lazy_spec("nae_qcd", _shipped("nae_qcd", "nae", 0))


class NormalizedAutoencoderTop(ImageAnomaly):
    """``FatJet.nae_top.score``: normalized autoencoder trained on top jets."""

    method: ClassVar[str] = "nae"
    normal_truth: ClassVar[int | None] = 1
    spec = lazy_spec("nae_top", _shipped("nae_top", "nae", 1))
