"""Training of xgboost tagger plugins (binary logistic BDT with early stopping)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..model import JetModel
from .data import TrainSettings, check_splits, load_jets, record_training

__all__ = ["train_xgboost_tagger"]


def train_xgboost_tagger(
    model: JetModel,
    files: Sequence[Path],
    output: Path,
    *,
    version: str,
    settings: TrainSettings | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train a binary xgboost tagger, save it as UBJ with metadata; return the metadata."""
    import xgboost as xgb

    settings = settings or TrainSettings()
    data = check_splits(load_jets(files, model, settings), log)
    tensor = model.spec.tensors_in[0].name
    dmats = {
        name: xgb.DMatrix(model.prepare(inputs)[tensor], label=y)
        for name, (inputs, y) in data.items()
    }
    y_train = data["train"][1]
    params = {
        "objective": "binary:logistic",
        "eval_metric": ["logloss", "auc"],
        "max_depth": settings.max_depth,
        "eta": settings.learning_rate,
        "subsample": settings.subsample,
        "scale_pos_weight": float(len(y_train) - y_train.sum()) / float(y_train.sum()),
        "tree_method": "hist",
        "seed": settings.seed,
        "nthread": settings.threads,
    }
    booster = xgb.train(
        params,
        dmats["train"],
        num_boost_round=settings.max_rounds,
        evals=[(dmats["train"], "train"), (dmats["val"], "val")],
        early_stopping_rounds=settings.early_stopping,
        verbose_eval=False,
    )
    best = booster.best_iteration
    booster = booster[: best + 1]
    output.parent.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(output))
    return record_training(
        model,
        output,
        version=version,
        settings=settings,
        files=files,
        data=data,
        test_scores=booster.predict(dmats["test"]),
        log=log,
        best_iteration=best,
    )
