"""Self-supervised training of the JetCLR encoder (NT-Xent on augmented views).

Each step takes a batch of jets, makes two independent views of every jet
(:func:`~jetplug_representation.augment.views`: rotation, translation, soft
smearing, collinear splitting, then the hardest constituents), encodes both,
maps them through a projection head (an MLP used only by the loss, as in
SimCLR) and minimises :func:`~jetplug_representation.nets.nt_xent`. Labels
are never read. AdamW with a cosine learning-rate schedule over the planned
steps or the wall-clock budget, whichever runs out first (so a budget that
ends training early still ends it at the low learning rate; the epochs
actually run are recorded). The validation loss (fixed seeded views of validation jets)
is recorded after every epoch and the epoch with the lowest one is kept.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from jetplug.training.schedule import cosine_factor
from jetplug_taggers.nets import mlp

from .augment import Cloud, views
from .jetclr import N_CONSTITUENTS, build_encoder, particle_inputs
from .nets import JetCLREncoder, nt_xent

__all__ = ["CLRResult", "CLRSettings", "embed", "train_encoder"]

Log = Callable[[str], None]


@dataclass(frozen=True)
class CLRSettings:
    """Hyper-parameters (recorded in the model metadata)."""

    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.1
    max_minutes: float = 10.0
    seed: int = 42


@dataclass
class CLRResult:
    """The trained encoder and its history."""

    encoder: JetCLREncoder
    train_loss: list[float]
    val_loss: list[float]
    best_epoch: int
    epochs_run: int
    steps: int
    seconds: float


def _encode_views(
    module: torch.nn.Module, cloud: Cloud, rng: np.random.Generator, device: torch.device
) -> torch.Tensor:
    x, mask = particle_inputs(views(cloud, rng, N_CONSTITUENTS))
    out: torch.Tensor = module(torch.from_numpy(x).to(device), torch.from_numpy(mask).to(device))
    return out


def _val_loss(
    encoder: JetCLREncoder,
    head: torch.nn.Module,
    val: Cloud,
    settings: CLRSettings,
    device: torch.device,
) -> float:
    rng = np.random.default_rng(settings.seed + 1)  # the same views every epoch
    losses = []
    encoder.eval()
    with torch.no_grad():
        for start in range(0, len(val) - settings.batch_size + 1, settings.batch_size):
            batch = val.take(np.arange(start, start + settings.batch_size))
            a = head(_encode_views(encoder, batch, rng, device))
            b = head(_encode_views(encoder, batch, rng, device))
            losses.append(float(nt_xent(a, b, settings.temperature)))
    encoder.train()
    return float(np.mean(losses))


def train_encoder(
    train: Cloud, val: Cloud, settings: CLRSettings, log: Log, device: str = "cpu"
) -> CLRResult:
    """Train a fresh encoder on ``train`` (``val``: the loss that picks the epoch).

    The augmentations run on the CPU (numpy), the networks on ``device``;
    the encoder is returned on the CPU.
    """
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    on = torch.device(device)
    encoder: JetCLREncoder = build_encoder().to(on)
    dim = encoder.out.out_features
    head = mlp((dim, dim, dim)).to(on)
    params = [*encoder.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    per_epoch = len(train) // settings.batch_size
    planned = max(1, settings.epochs * per_epoch)
    budget = 60 * settings.max_minutes  # <= 0: stop after the first step, as any budget spent
    start = time.perf_counter()
    train_loss: list[float] = []
    val_loss: list[float] = []
    best: dict[str, torch.Tensor] = copy.deepcopy(encoder.state_dict())
    steps = 0
    out_of_time = False
    for epoch in range(settings.epochs):
        order = rng.permutation(len(train))
        losses = []
        for i in range(per_epoch):
            batch = train.take(order[i * settings.batch_size : (i + 1) * settings.batch_size])
            a = head(_encode_views(encoder, batch, rng, on))
            b = head(_encode_views(encoder, batch, rng, on))
            loss = nt_xent(a, b, settings.temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            elapsed = time.perf_counter() - start
            spent = elapsed / budget if budget > 0 else 1.0
            lr = settings.lr * cosine_factor(max(steps / planned, spent))
            for group in opt.param_groups:
                group["lr"] = lr
            losses.append(loss.item())
            if elapsed > budget:
                out_of_time = True
                break
        train_loss.append(float(np.mean(losses)))
        val_loss.append(_val_loss(encoder, head, val, settings, on))
        if val_loss[-1] <= min(val_loss):
            best = copy.deepcopy(encoder.state_dict())
        log(
            f"epoch {epoch + 1}: train loss {train_loss[-1]:.4f}, val loss {val_loss[-1]:.4f} "
            f"({time.perf_counter() - start:.0f} s, {steps} steps)"
        )
        if out_of_time:
            log(f"stopped: the {settings.max_minutes:g}-minute budget is spent")
            break
    encoder.load_state_dict(best)
    encoder.cpu().eval()
    return CLRResult(
        encoder,
        train_loss,
        val_loss,
        int(np.argmin(val_loss)) + 1,
        len(val_loss),
        steps,
        time.perf_counter() - start,
    )


def embed(encoder: torch.nn.Module, cloud: Cloud, batch: int = 4096) -> np.ndarray:
    """The (unnormalised) embedding of every jet of ``cloud``, no augmentation."""
    x, mask = particle_inputs(cloud)
    out = []
    encoder.eval()
    with torch.no_grad():
        for s in range(0, len(x), batch):
            out.append(
                encoder(torch.from_numpy(x[s : s + batch]), torch.from_numpy(mask[s : s + batch]))
            )
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)
