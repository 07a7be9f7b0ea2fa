"""Training of xgboost tagger plugins (binary logistic BDT with early stopping)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..model import JetModel
from .data import JetSample, TrainSettings, check_splits, load_jets, record_training

__all__ = ["Report", "train_xgboost_tagger"]

Report = Callable[[int, float], None]
"""Called after every boosting round / epoch with ``(step, validation loss)``.

``jetplug tune`` passes one that reports to optuna and raises
``optuna.TrialPruned`` to stop an unpromising trial.
"""


def train_xgboost_tagger(
    model: JetModel,
    files: Sequence[Path],
    output: Path,
    *,
    version: str,
    settings: TrainSettings | None = None,
    log: Callable[[str], None] = print,
    sample: JetSample | None = None,
    report: Report | None = None,
) -> dict[str, Any]:
    """Train a binary xgboost tagger, save it as UBJ with metadata; return the metadata.

    ``sample`` (the jets of ``files``, already loaded) saves reading them
    again; ``report`` receives the validation log-loss after every round.
    Early stopping follows the validation log-loss (the last ``eval_metric``).
    """
    import xgboost as xgb

    settings = settings or TrainSettings()
    data = check_splits(sample or load_jets(files, model, settings), log)
    tensor = model.spec.tensors_in[0].name
    dmats = {
        name: xgb.DMatrix(model.prepare(inputs)[tensor], label=y)
        for name, (inputs, y) in data.items()
    }
    y_train = data["train"][1]
    params = {
        "objective": "binary:logistic",
        "eval_metric": ["auc", "logloss"],
        "max_depth": settings.max_depth,
        "eta": settings.learning_rate,
        "subsample": settings.subsample,
        "min_child_weight": settings.min_child_weight,
        "colsample_bytree": settings.colsample_bytree,
        "scale_pos_weight": float(len(y_train) - y_train.sum()) / float(y_train.sum()),
        "tree_method": "hist",
        "seed": settings.seed,
        "nthread": settings.threads,
    }
    history: dict[str, Any] = {}
    booster = xgb.train(
        params,
        dmats["train"],
        num_boost_round=settings.max_rounds,
        evals=[(dmats["train"], "train"), (dmats["val"], "val")],
        early_stopping_rounds=settings.early_stopping,
        evals_result=history,
        verbose_eval=False,
        callbacks=[_reporter(report)] if report else None,
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
        val_loss=round(float(history["val"]["logloss"][best]), 6),
    )


def _reporter(report: Report) -> Any:
    """An xgboost callback handing each round's validation log-loss to ``report``."""
    import xgboost as xgb

    class Reporter(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
            report(epoch, float(evals_log["val"]["logloss"][-1]))
            return False

    return Reporter()
