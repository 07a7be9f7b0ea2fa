"""What the calibrators share: their spec, the correction, the regression target and training.

Every calibrator predicts the log of the correction, log(pT_gen / pT), per
FatJet (tensor ``log_correction``) and replaces ``FatJet.pt`` by
pT · exp(log_correction); jetplug keeps the value it read in ``FatJet.pt_raw``
(and each step's value in ``FatJet.pt_<plugin>`` when calibrators are chained).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jetplug import (
    Artifact,
    InputSpec,
    JetModel,
    Kind,
    ModelInputs,
    ModelSpec,
    OutputSpec,
    Target,
    TargetMode,
    TensorSpec,
)

if TYPE_CHECKING:  # the training stack (scikit-learn) loads only to train
    from jetplug.training import TrainingData

__all__ = [
    "MAX_LOG_CORRECTION",
    "MODELS",
    "Calibrator",
    "RegressionRows",
    "calibrator_spec",
    "fit_torch_regression",
    "regression_rows",
]

MODELS = Path(__file__).parent / "models"
MAX_LOG_CORRECTION = 0.7
"""Corrections are clipped to exp(±0.7) (a factor 2): a jet outside what the
model was trained on is never scaled by an unbounded factor."""

SpecBuilder = Callable[[Artifact, Mapping[str, Any]], ModelSpec]


def calibrator_spec(
    name: str,
    artifact: Artifact,
    meta: Mapping[str, Any],
    inputs: InputSpec,
    tensors_in: tuple[TensorSpec, ...],
    description: str,
) -> ModelSpec:
    """The spec of a FatJet pT calibrator: ``log_correction`` out, ``FatJet.pt`` replaced."""
    return ModelSpec(
        name=name,
        kind=Kind.CALIBRATOR,
        version=str(meta.get("version", "0")),
        description=description,
        inputs=inputs,
        tensors_in=tensors_in,
        tensors_out=(TensorSpec("log_correction", "float32", ()),),
        outputs=(OutputSpec("pt", "float32", description="calibrated pT [GeV]"),),
        target=Target(TargetMode.REPLACE),
        artifact=artifact,
    )


class Calibrator(JetModel):
    """Base of the calibrators: ``pt`` · exp(clip(``log_correction``))."""

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """The calibrated ``pt``."""
        del prepared
        log_c = np.clip(
            np.asarray(outputs["log_correction"], np.float64),
            -MAX_LOG_CORRECTION,
            MAX_LOG_CORRECTION,
        )
        pt = np.asarray(inputs.fields["pt"], np.float64) * np.exp(log_c)
        return {"pt": pt.astype(np.float32)}


@dataclass(frozen=True)
class RegressionRows:
    """Training rows of a calibration: the target and which rows go to which split."""

    target: np.ndarray
    """log(pT_gen / pT_reco) (NaN where unusable)."""
    usable: np.ndarray
    train: np.ndarray
    val: np.ndarray


def regression_rows(
    data: TrainingData, *, pt_min: float = 200.0, eta_max: float = 2.5
) -> RegressionRows:
    """Gen-matched FatJets with pT > ``pt_min`` and |η| < ``eta_max``, response within 2×.

    Jets whose response is off by more than a factor 2 (a gen jet matched to a
    jet that lost or gained a prong) would dominate a squared loss; they are
    left out of training (and counted in the metadata).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        target = np.log(data.gen["pt"] / data.reco["pt"])
    usable = (
        data.matched
        & np.isfinite(target)
        & (np.abs(target) < MAX_LOG_CORRECTION)
        & (data.reco["pt"] > pt_min)
        & (np.abs(data.reco["eta"]) < eta_max)
    )
    train, val = usable & (data.split == "train"), usable & (data.split == "val")
    return RegressionRows(target, usable, train, val)


def fit_torch_regression(
    module: Any,
    inputs: Sequence[np.ndarray],
    target: np.ndarray,
    rows: RegressionRows,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    patience: int,
    seed: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Fit ``module(*inputs) -> log_correction`` with a Huber loss and early stopping.

    AdamW, cosine schedule, the best validation epoch's weights kept. Returns
    the training record (epochs, best epoch, validation loss history).
    """
    import torch

    torch.manual_seed(seed)
    tensors = [torch.as_tensor(x) for x in inputs]
    y = torch.as_tensor(target.astype(np.float32))
    train_idx = torch.as_tensor(np.flatnonzero(rows.train))
    val_idx = torch.as_tensor(np.flatnonzero(rows.val))
    if hasattr(module, "standardize_from"):
        module.standardize_from(*[t[train_idx] for t in tensors])
    loss_fn = torch.nn.HuberLoss(delta=0.1)
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    generator = torch.Generator().manual_seed(seed)

    def val_loss() -> float:
        module.eval()
        with torch.no_grad():
            total = 0.0
            for start in range(0, len(val_idx), 8192):
                idx = val_idx[start : start + 8192]
                total += float(loss_fn(module(*[t[idx] for t in tensors]), y[idx])) * len(idx)
        return total / max(len(val_idx), 1)

    best, best_epoch, best_state, history = float("inf"), -1, None, []
    for epoch in range(epochs):
        module.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            loss_fn(module(*[t[idx] for t in tensors]), y[idx]).backward()
            optimizer.step()
        schedule.step()
        loss = val_loss()
        history.append(round(loss, 6))
        log(f"epoch {epoch + 1}: validation Huber loss {loss:.6f}")
        if loss < best - 1e-7:
            best, best_epoch, best_state = loss, epoch, copy.deepcopy(module.state_dict())
        elif epoch - best_epoch >= patience:
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return {"epochs_run": len(history), "best_epoch": best_epoch + 1, "val_loss_history": history}
