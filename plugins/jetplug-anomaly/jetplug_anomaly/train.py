"""``JetModel.train`` of the anomaly scores: select the normal jets, fit, record.

Shared by every anomaly score whose model is an :class:`~.nets.Autoencoder`
on the plugin's single input tensor (:meth:`prepare`'s output, flat), so a
score on another representation trains with the same code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from jetplug import JetModel, JetplugError, write_model_metadata
from jetplug.training import TrainingData, TrainSettings

from .training import (
    NAESettings,
    choose_epoch,
    constrain_encoder,
    energies,
    fit_autoencoder,
    fit_nae,
    release,
)

__all__ = ["NAE_SETTINGS", "selection", "train_anomaly"]

NAE_SETTINGS = NAESettings()


def selection(data: TrainingData, settings: TrainSettings) -> np.ndarray:
    """FatJets in the pT window and |η| < ``eta_max`` with a truth label."""
    pt, eta = data.reco["pt"], data.reco["eta"]
    keep: np.ndarray = (
        (pt > settings.pt_min)
        & (pt < settings.pt_max)
        & (np.abs(eta) < settings.eta_max)
        & (data.truth >= 0)
    )
    return keep


def _after_the_fact_auc(
    module: Any, states: list[dict[str, Any]], x: np.ndarray, truth: np.ndarray, normal: int
) -> dict[str, list[float]]:
    """AUC of each epoch's weights against every other class (labels: for the docs only)."""
    out: dict[str, list[float]] = {}
    others = sorted({int(t) for t in truth} - {normal})
    for state in states:
        module.load_state_dict(state)
        score = energies(module, x)
        for other in others:
            use = np.isin(truth, [normal, other])
            auc = float(roc_auc_score(truth[use] == other, score[use]))
            out.setdefault(str(other), []).append(round(auc, 4))
    return out


def train_anomaly(
    model: JetModel,
    data: TrainingData,
    output: Path,
    *,
    version: str,
    settings: TrainSettings,
    log: Callable[[str], None],
    nae: NAESettings = NAE_SETTINGS,
) -> dict[str, Any]:
    """Train ``model`` (an AE, or an AE then its NAE stage) on its ``normal_truth`` jets."""
    import torch

    torch.set_num_threads(settings.threads)
    if model.normal_truth is None:
        msg = f"plugin {model.spec.name!r} declares no normal_truth (the class to train on)"
        raise JetplugError(msg)
    normal = model.normal_truth
    method = getattr(model, "method", "ae")
    (name,) = [t.name for t in model.spec.tensors_in]
    keep = selection(data, settings)
    x_all = model.prepare(data.inputs)[name].reshape(len(data), -1)
    rows = {s: keep & (data.split == s) for s in ("train", "val", "test")}
    train, val = (x_all[rows[s] & (data.truth == normal)] for s in ("train", "val"))
    log(f"{model.spec.name}: {len(train)} training, {len(val)} validation jets of truth {normal}")
    torch.manual_seed(settings.seed)
    module = model.build_module()
    constrain_encoder(module)
    record: dict[str, Any] = {
        "autoencoder": fit_autoencoder(
            module,
            train,
            val,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            lr=settings.lr,
            patience=settings.patience,
            seed=settings.seed,
            log=log,
        )
    }
    test_x, test_truth = x_all[rows["test"]], data.truth[rows["test"]]
    if method == "nae":
        result = fit_nae(module, train, val, nae, seed=settings.seed, log=log)
        chosen = choose_epoch(result)
        log(f"chosen NAE epoch {chosen} (label-free; E(x-) reached E(val) after epoch "
            f"{result.crossed_at})")  # fmt: skip
        record["nae"] = {
            "settings": dataclasses.asdict(nae),
            **result.record(),
            "chosen_epoch": chosen,
            "chosen_by": (
                "the last epoch; the learning rate drops after the first epoch whose fresh "
                "negative samples' mean energy reaches the validation jets' (no signal labels)"
                if result.crossed_at is not None
                else "first epoch whose fresh negative samples' mean energy reaches "
                "the validation jets' mean energy (no signal labels)"
            ),
            "crossed_at": result.crossed_at,
            "auc_by_epoch_after_the_fact": _after_the_fact_auc(
                module, result.states, test_x, test_truth, normal
            ),
        }
        module.load_state_dict(result.states[chosen])
    release(module)
    module.eval()
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(module.state_dict(), output)
    score = energies(module, test_x)
    test_auc = {
        str(o): round(float(roc_auc_score(test_truth[u] == o, score[u])), 4)
        for o in sorted({int(t) for t in test_truth} - {normal})
        for u in [np.isin(test_truth, [normal, o])]
    }
    log(f"test-split AUC against each other class: {test_auc}")
    counts = {
        s: {str(t): int((rows[s] & (data.truth == t)).sum()) for t in np.unique(data.truth[keep])}
        for s in rows
    }
    return write_model_metadata(
        output,
        version,
        plugin=model.spec.name,
        method=method,
        normal_truth=normal,
        trainer=f"torch {torch.__version__}",
        input=f"{name} {list(x_all.shape[1:])}",
        settings=vars(settings),
        jets=counts,
        test_split_auc=test_auc,
        **record,
    )
