"""Training of torch tagger plugins, binary or multi-class, with early stopping.

AdamW with weight decay, a cosine learning-rate schedule, class-balanced
(binary) cross-entropy, early stopping on the validation loss (the best
epoch's weights are kept), a fixed seed. The plugin's module may define
``standardize_from(*inputs)`` (called with the training tensors) and
``logits(*inputs)`` (used for a numerically stable loss); otherwise its
output is taken as probabilities. Multi-class models (``truth_classes`` set)
are scored in test on the top-vs-QCD discriminant p_top / (p_top + p_QCD).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..model import JetModel
from .data import JetSample, TrainSettings, check_splits, load_jets, record_training
from .xgboost import Report

__all__ = ["train_torch_tagger"]

_TOP, _QCD = 1, 0


def train_torch_tagger(
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
    """Train, save the best state dict with ``torch.save``, write metadata; return it.

    ``sample`` (the jets of ``files``, already loaded) saves reading them
    again; ``report`` receives the validation loss after every epoch.
    """
    import torch
    from torch import nn

    settings = settings or TrainSettings()
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    classes = model.truth_classes
    n_classes = len(classes) if classes else 2
    data = check_splits(sample or load_jets(files, model, settings), log, n_classes)
    names = [t.name for t in model.spec.tensors_in]

    def tensors(split: str) -> list[torch.Tensor]:
        prepared = model.prepare(data[split][0])
        return [torch.as_tensor(prepared[n]) for n in names]

    xs = {split: tensors(split) for split in data}
    dtype = torch.int64 if classes else torch.float32
    ys = {split: torch.as_tensor(y, dtype=dtype) for split, (_, y) in data.items()}

    module = model.build_module()
    if hasattr(module, "standardize_from"):
        module.standardize_from(*xs["train"])
    logits = getattr(module, "logits", None)
    if classes:
        counts = torch.bincount(ys["train"], minlength=n_classes).float()
        weight = counts.sum() / (n_classes * counts)
        criterion: nn.Module = nn.CrossEntropyLoss(weight=weight)
    else:
        n_sig = float(ys["train"].sum())
        criterion = nn.BCEWithLogitsLoss(
            pos_weight=torch.tensor((len(ys["train"]) - n_sig) / n_sig)
        )

    def loss_of(args: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        if logits is not None:
            out: torch.Tensor = criterion(logits(*args), y)
            return out
        p = module(*args).clamp(1e-7, 1 - 1e-7)
        nll: torch.Tensor = (
            nn.functional.nll_loss(p.log(), y)
            if classes
            else nn.functional.binary_cross_entropy(p, y)
        )
        return nll

    optimizer = torch.optim.AdamW(
        module.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
    generator = torch.Generator().manual_seed(settings.seed)

    def evaluate(split: str) -> float:
        module.eval()
        with torch.no_grad():
            total = 0.0
            for start in range(0, len(ys[split]), 8192):
                part = slice(start, start + 8192)
                total += float(loss_of([x[part] for x in xs[split]], ys[split][part])) * len(
                    ys[split][part]
                )
        return total / len(ys[split])

    best_loss, best_epoch, best_state = float("inf"), -1, copy.deepcopy(module.state_dict())
    history = []
    for epoch in range(settings.epochs):
        module.train()
        order = torch.randperm(len(ys["train"]), generator=generator)
        for start in range(0, len(order), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            optimizer.zero_grad()
            loss = loss_of([x[idx] for x in xs["train"]], ys["train"][idx])
            loss.backward()
            optimizer.step()
        schedule.step()
        val = evaluate("val")
        history.append(round(val, 5))
        log(f"epoch {epoch + 1}: validation loss {val:.4f}")
        if report is not None:
            report(epoch, val)
        if val < best_loss - 1e-5:
            best_loss, best_epoch, best_state = val, epoch, copy.deepcopy(module.state_dict())
        elif epoch - best_epoch >= settings.patience:
            break
    module.load_state_dict(best_state)
    module.eval()
    with torch.no_grad():
        out = torch.cat(
            [
                module(*[x[s : s + 8192] for x in xs["test"]])
                for s in range(0, len(ys["test"]), 8192)
            ]
        ).numpy()
    y_test = data["test"][1]
    if classes:
        top, qcd = classes.index(_TOP), classes.index(_QCD)
        keep = np.isin(y_test, [top, qcd])
        scores = out[keep, top] / np.maximum(out[keep, top] + out[keep, qcd], 1e-12)
        labels = (y_test[keep] == top).astype(np.int32)
    else:
        scores, labels = out, y_test
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(best_state, output)
    extra: dict[str, Any] = {
        "best_epoch": best_epoch,
        "val_loss_history": history,
        "val_loss": round(best_loss, 6),
    }
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
        test_labels=labels,
        log=log,
        **extra,
    )
