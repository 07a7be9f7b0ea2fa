"""Tagger training data: generated FatJets, selected and split by event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import recorded_command, write_model_metadata
from ..errors import JetplugError
from ..metrics import tagging_metrics
from ..model import JetModel, ModelInputs
from ..registry import DerivationRegistry
from ..samples import detectors_of
from ..spec import sha256_file
from .inputs import SPLITS, select_inputs, split_of, training_inputs

__all__ = [
    "SPLITS",
    "JetSample",
    "TrainSettings",
    "check_splits",
    "load_jets",
    "record_training",
    "split_of",
]


@dataclass(frozen=True)
class TrainSettings:
    """Selection and hyper-parameters; all recorded in the model metadata."""

    signal: int = 1
    background: int = 0
    pt_min: float = 550.0
    pt_max: float = 650.0
    eta_max: float = 2.0
    seed: int = 42
    threads: int = 2
    n_bootstrap: int = 200
    # xgboost
    max_depth: int = 6
    learning_rate: float = 0.1
    max_rounds: int = 2000
    early_stopping: int = 50
    subsample: float = 0.8
    min_child_weight: float = 1.0
    colsample_bytree: float = 1.0
    # torch
    epochs: int = 60
    batch_size: int = 512
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 8


@dataclass
class JetSample:
    """Selected jets: the plugin's inputs, class labels, truth labels, pt, event-based split.

    ``label`` is 1/0 (signal/background) for a binary tagger, or the class
    index for a multi-class one (see :attr:`jetplug.JetModel.truth_classes`).
    """

    inputs: ModelInputs
    label: np.ndarray
    truth: np.ndarray
    pt: np.ndarray
    split: np.ndarray

    def subset(self, name: str) -> tuple[ModelInputs, np.ndarray]:
        """Inputs and labels of the ``train``/``val``/``test`` split."""
        return select_inputs(self.inputs, self.split == name), self.label[self.split == name]


def load_jets(
    files: Sequence[Path],
    model: JetModel,
    settings: TrainSettings,
    derivations: DerivationRegistry | None = None,
) -> JetSample:
    """The jets of ``files`` that pass the tagger selection and carry a wanted label.

    Built on :func:`~jetplug.training.inputs.training_inputs` (the processor's
    own input path): pT window, |eta| and the truth labels the tagger learns.
    """
    data = training_inputs(files, model.spec, derivations)
    classes = model.truth_classes
    wanted = list(classes) if classes else [settings.signal, settings.background]
    pt, eta = data.reco["pt"], data.reco["eta"]
    keep = (
        (pt > settings.pt_min)
        & (pt < settings.pt_max)
        & (np.abs(eta) < settings.eta_max)
        & np.isin(data.truth, wanted)
    )
    data = data.select(keep)
    if classes:
        lookup = {t: i for i, t in enumerate(classes)}
        label = np.asarray([lookup[t] for t in data.truth], dtype=np.int64)
    else:
        label = (data.truth == settings.signal).astype(np.int32)
    return JetSample(
        inputs=data.inputs,
        label=label,
        truth=data.truth,
        pt=data.reco["pt"].astype(np.float32),
        split=data.split,
    )


Split = dict[str, tuple[ModelInputs, np.ndarray]]


def check_splits(sample: JetSample, log: Callable[[str], None], n_classes: int = 2) -> Split:
    """The three splits; each must hold jets of every class (signal and background)."""
    data = {name: sample.subset(name) for name in SPLITS}
    for name, (_, y) in data.items():
        counts = np.bincount(y.astype(np.int64), minlength=n_classes)
        if n_classes == 2:
            log(f"{name}: {counts[1]} signal, {counts[0]} background jets")
        else:
            log(f"{name}: jets per class {counts.tolist()}")
        if counts.min() == 0:
            msg = f"the {name} split lacks jets of a class ({counts.tolist()}); generate more"
            raise JetplugError(msg)
    return data


def _counts(y: np.ndarray, model: JetModel) -> dict[str, int]:
    if model.truth_classes:
        labels = model.spec.outputs[0].labels
        return {str(labels[i]): int((y == i).sum()) for i in range(len(labels))}
    return {"signal": int(y.sum()), "background": int(len(y) - y.sum())}


def record_training(
    model: JetModel,
    output: Path,
    *,
    version: str,
    settings: TrainSettings,
    files: Sequence[Path],
    data: Split,
    test_scores: np.ndarray,
    log: Callable[[str], None],
    test_labels: np.ndarray | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Test metrics (AUC, R50 with bootstrap) and ``<output>.json`` metadata for a saved model.

    ``test_scores`` are compared with ``test_labels`` (default: the test split's
    binary labels); a multi-class trainer passes its top-vs-QCD subset.
    """
    metrics = tagging_metrics(
        data["test"][1] if test_labels is None else test_labels,
        test_scores,
        eff_s=0.5,
        n_bootstrap=settings.n_bootstrap,
        seed=settings.seed,
    )
    log(
        f"test: AUC = {metrics.auc:.4f} ± {metrics.auc_err:.4f}, "
        f"R50 = {metrics.rejection:.1f} ± {metrics.rejection_err:.1f} "
        f"({metrics.n_signal} signal, {metrics.n_background} background jets)"
    )
    return write_model_metadata(
        output,
        version,
        plugin=model.spec.name,
        trained=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        command=recorded_command("train", files),
        settings=vars(settings),
        features=list(model.spec.inputs.field_names()),
        data=[{"file": Path(f).name, "sha256": sha256_file(Path(f))} for f in files],
        detectors=detectors_of(files),
        jets={name: _counts(y, model) for name, (_, y) in data.items()},
        test_metrics=metrics.as_dict(),
        **extra,
    )
