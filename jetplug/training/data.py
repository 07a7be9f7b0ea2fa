"""Training data: generated FatJets, selected and split by event."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from ..artifacts import write_model_metadata
from ..errors import InputFileError, JetplugError
from ..metrics import tagging_metrics
from ..model import JetModel, ModelInputs
from ..spec import sha256_file

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
    # torch
    epochs: int = 60
    batch_size: int = 512
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 8


SPLITS = {"train": (0, 60), "val": (60, 80), "test": (80, 100)}


@dataclass
class JetSample:
    """Selected jets: per-field flat arrays, truth labels, pt, and the event-based split."""

    fields: dict[str, np.ndarray]
    label: np.ndarray
    pt: np.ndarray
    split: np.ndarray

    def subset(self, name: str) -> tuple[ModelInputs, np.ndarray]:
        """Inputs and labels of the ``train``/``val``/``test`` split."""
        m = self.split == name
        return ModelInputs({k: v[m] for k, v in self.fields.items()}), self.label[m]


def split_of(event: np.ndarray, run: np.ndarray) -> np.ndarray:
    """Deterministic split per event: 60 % train, 20 % val, 20 % test."""
    key = event.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ run.astype(np.uint64)
    bucket = (key >> np.uint64(33)) % np.uint64(100)
    out = np.empty(len(event), dtype="<U5")
    for name, (lo, hi) in SPLITS.items():
        out[(bucket >= lo) & (bucket < hi)] = name
    return out


def load_jets(files: Sequence[Path], model: JetModel, settings: TrainSettings) -> JetSample:
    """Read the FatJets of ``files`` that pass the selection and carry a wanted label."""
    collection = model.spec.inputs.collection
    names = set(model.spec.inputs.field_names()) | {"pt", "eta", "truthLabel"}
    branches = [f"{collection}_{n}" for n in sorted(names)] + ["event", "run"]
    parts: dict[str, list[np.ndarray]] = {b: [] for b in branches}
    for path in files:
        try:
            with uproot.open(path) as f:
                tree = f["Events"]
                missing = [b for b in branches if b not in tree]
                if missing:
                    raise InputFileError(str(path), f"lacks branches {missing} needed for training")
                arrays = tree.arrays(branches, library="ak")
        except InputFileError:
            raise
        except Exception as e:
            raise InputFileError(str(path), f"cannot be read: {type(e).__name__}: {e}") from None
        counts = ak.num(arrays[f"{collection}_pt"])
        for b in branches:
            values = arrays[b]
            if b in ("event", "run"):
                values = np.repeat(ak.to_numpy(values), ak.to_numpy(counts))
            else:
                values = ak.to_numpy(ak.flatten(values))
            parts[b].append(np.asarray(values))
    cols = {b: np.concatenate(v) if v else np.zeros(0) for b, v in parts.items()}
    pt, eta = cols[f"{collection}_pt"], cols[f"{collection}_eta"]
    label = cols[f"{collection}_truthLabel"].astype(int)
    keep = (
        (pt > settings.pt_min)
        & (pt < settings.pt_max)
        & (np.abs(eta) < settings.eta_max)
        & np.isin(label, [settings.signal, settings.background])
    )
    return JetSample(
        fields={n: cols[f"{collection}_{n}"][keep] for n in model.spec.inputs.field_names()},
        label=(label[keep] == settings.signal).astype(np.int32),
        pt=pt[keep],
        split=split_of(cols["event"][keep], cols["run"][keep]),
    )


Split = dict[str, tuple[ModelInputs, np.ndarray]]


def check_splits(sample: JetSample, log: Callable[[str], None]) -> Split:
    """The three splits; each must hold signal and background jets."""
    data = {name: sample.subset(name) for name in SPLITS}
    for name, (_, y) in data.items():
        n_sig, n_bkg = int(y.sum()), int(len(y) - y.sum())
        log(f"{name}: {n_sig} signal, {n_bkg} background jets")
        if min(n_sig, n_bkg) == 0:
            msg = f"the {name} split has no signal or no background jets; generate more events"
            raise JetplugError(msg)
    return data


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
    **extra: Any,
) -> dict[str, Any]:
    """Test metrics (AUC, R50 with bootstrap) and ``<output>.json`` metadata for a saved model."""
    metrics = tagging_metrics(
        data["test"][1],
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
        command=" ".join(sys.argv),
        settings=vars(settings),
        features=list(model.spec.inputs.field_names()),
        data=[{"file": Path(f).name, "sha256": sha256_file(Path(f))} for f in files],
        jets={
            name: {"signal": int(y.sum()), "background": int(len(y) - y.sum())}
            for name, (_, y) in data.items()
        },
        test_metrics=metrics.as_dict(),
        **extra,
    )
