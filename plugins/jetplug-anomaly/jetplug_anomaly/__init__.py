"""Anomaly-score plugins for jetplug (kind ``anomaly``): higher = more anomalous.

``ae_qcd`` / ``ae_top`` (a plain autoencoder's reconstruction error of the
jet image, trained on QCD / top jets) and ``nae_qcd`` / ``nae_top`` (the same
network trained further as a normalized autoencoder, arXiv:2206.14225). Each
writes ``FatJet.<plugin>.score``. See ``docs/anomaly.md``.
"""

from .images import (
    AutoencoderQCD,
    AutoencoderTop,
    ImageAnomaly,
    NormalizedAutoencoderQCD,
    NormalizedAutoencoderTop,
    anomaly_images,
)

__all__ = [
    "AutoencoderQCD",
    "AutoencoderTop",
    "ImageAnomaly",
    "NormalizedAutoencoderQCD",
    "NormalizedAutoencoderTop",
    "anomaly_images",
]
