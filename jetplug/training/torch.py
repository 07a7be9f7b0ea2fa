"""Training of torch tagger plugins (binary classifier with early stopping).

AdamW with weight decay, a cosine learning-rate schedule, class-balanced
binary cross-entropy, early stopping on the validation loss (the best
epoch's weights are kept), a fixed seed. The plugin's module may define
``standardize_from(x)`` (called with the training features) and ``logits(x)``
(used for a numerically stable loss); otherwise its output is taken as a
probability.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..model import JetModel
from .data import TrainSettings, check_splits, load_jets, record_training

__all__ = ["train_torch_tagger"]


def train_torch_tagger(
    model: JetModel,
    files: Sequence[Path],
    output: Path,
    *,
    version: str,
    settings: TrainSettings | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train, save the best state dict with ``torch.save``, write metadata; return it."""
    import torch
    from torch import nn

    settings = settings or TrainSettings()
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    data = check_splits(load_jets(files, model, settings), log)
    tensor = model.spec.tensors_in[0].name
    xs = {k: torch.as_tensor(model.prepare(inp)[tensor]) for k, (inp, _) in data.items()}
    ys = {k: torch.as_tensor(y, dtype=torch.float32) for k, (_, y) in data.items()}

    module = model.build_module()
    if hasattr(module, "standardize_from"):
        module.standardize_from(xs["train"])
    logits = getattr(module, "logits", None)
    n_sig = float(ys["train"].sum())
    pos_weight = torch.tensor((len(ys["train"]) - n_sig) / n_sig)
    bce = nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    def loss_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if logits is not None:
            out: torch.Tensor = bce(logits(x), y)
            return out
        p = module(x).clamp(1e-7, 1 - 1e-7)
        w = torch.where(y > 0, pos_weight, torch.ones_like(y))
        nll: torch.Tensor = -(w * (y * p.log() + (1 - y) * (1 - p).log())).mean()
        return nll

    optimizer = torch.optim.AdamW(
        module.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
    generator = torch.Generator().manual_seed(settings.seed)
    best_loss, best_epoch, best_state = float("inf"), -1, copy.deepcopy(module.state_dict())
    history = []
    for epoch in range(settings.epochs):
        module.train()
        order = torch.randperm(len(xs["train"]), generator=generator)
        for start in range(0, len(order), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            optimizer.zero_grad()
            loss = loss_of(xs["train"][idx], ys["train"][idx])
            loss.backward()
            optimizer.step()
        schedule.step()
        module.eval()
        with torch.no_grad():
            val = float(loss_of(xs["val"], ys["val"]))
        history.append(round(val, 5))
        if val < best_loss - 1e-5:
            best_loss, best_epoch, best_state = val, epoch, copy.deepcopy(module.state_dict())
        elif epoch - best_epoch >= settings.patience:
            break
    module.load_state_dict(best_state)
    module.eval()
    with torch.no_grad():
        scores = module(xs["test"]).numpy()
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(best_state, output)
    extra: dict[str, Any] = {"best_epoch": best_epoch, "val_loss_history": history}
    if hasattr(module, "mean") and hasattr(module, "std"):
        extra["standardization"] = {
            "mean": np.asarray(module.mean).tolist(),
            "std": np.asarray(module.std).tolist(),
        }
    return record_training(
        model,
        output,
        version=version,
        settings=settings,
        files=files,
        data=data,
        test_scores=scores,
        log=log,
        **extra,
    )
