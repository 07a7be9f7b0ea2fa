"""What the few-shot taggers share: models folder, jet selection, features, the network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jetplug import Artifact, InputSpec, Kind, ModelSpec, OutputSpec, TensorSpec, untrained_spec
from jetplug.training import training_inputs
from jetplug_taggers.features import FEATURES, FIELDS, substructure_features

__all__ = [
    "ETA_MAX",
    "MODELS",
    "NETWORK",
    "PT_WINDOW",
    "SAMPLES",
    "SIGNALS",
    "JetFeatures",
    "build_network",
    "jet_features",
    "tagger_spec",
]

MODELS = Path(__file__).parent / "models"
PT_WINDOW = (500.0, 700.0)
"""FatJet pT range [GeV] of every training, adaptation and evaluation here; |η| < ETA_MAX."""
ETA_MAX = 2.0
SIGNALS = {"top": 1, "W": 2, "Z": 3, "H": 4}
"""Signal name -> generator truth label (QCD: 0)."""
SAMPLES = {0: "qcd", 1: "ttbar", 2: "wjets", 3: "zjets", 4: "hbb"}
"""Truth label -> sample folder of ``scripts/generate_samples.sh``."""
NETWORK = {"hidden": 64, "layers": 3}
"""The MLP of every few-shot tagger (StandardizedMLP on the six substructure features)."""


def tagger_spec(name: str, artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """The spec of few-shot tagger ``name``: six substructure features -> P(signal)."""
    signal = str(meta.get("signal", "signal"))
    return ModelSpec(
        name=name,
        kind=Kind.TAGGER,
        version=str(meta.get("version", "0")),
        description=f"{signal} vs QCD, few-shot: a meta-learned MLP adapted with "
        f"K = {meta.get('k', '?')} labelled jets",
        inputs=InputSpec("FatJet", FIELDS),
        tensors_in=(TensorSpec("features", "float32", (len(FEATURES),)),),
        tensors_out=(TensorSpec("score", "float32", ()),),
        outputs=(OutputSpec("score", "float32", description=f"P({signal})"),),
        artifact=artifact,
    )


def build_network(meta: Mapping[str, Any] | None = None) -> Any:
    """The StandardizedMLP of the few-shot taggers (shape from ``meta['network']``)."""
    from jetplug_taggers.nets import StandardizedMLP

    shape = {**NETWORK, **dict((meta or {}).get("network", {}))}
    return StandardizedMLP(len(FEATURES), int(shape["hidden"]), int(shape["layers"]))


class JetFeatures:
    """Selected FatJets of some files: features (n, 6), truth labels, event-based split."""

    def __init__(self, x: np.ndarray, truth: np.ndarray, split: np.ndarray) -> None:
        self.x = x
        self.truth = truth
        self.split = split

    def of(self, truth: int, split: str | None = None) -> np.ndarray:
        """Features of the jets with ``truth`` (and in ``split``, when given)."""
        keep = self.truth == truth
        if split is not None:
            keep &= self.split == split
        out: np.ndarray = self.x[keep]
        return out


def jet_features(files: Sequence[Path]) -> JetFeatures:
    """The six substructure features of the FatJets of ``files`` in the pT window, |η| < 2.

    Read through the processor's own input path
    (:func:`jetplug.training.training_inputs`, the features of
    :func:`jetplug_taggers.features.substructure_features`).
    """
    spec = untrained_spec(
        MODELS / "features.pt", "torch-state-dict", lambda a, m: tagger_spec("features", a, m)
    )
    data = training_inputs(list(files), spec)
    pt, eta = data.reco["pt"], data.reco["eta"]
    keep = (pt > PT_WINDOW[0]) & (pt < PT_WINDOW[1]) & (np.abs(eta) < ETA_MAX)
    data = data.select(keep)
    return JetFeatures(substructure_features(data.inputs), data.truth, data.split)
