"""Distillation of a trained GAN generator into a narrower, faster one.

The generator is a deterministic map from (conditions, noise) to features;
once trained, a smaller network can learn that map by plain regression on
unlimited fresh noise (mean squared error in the standardised feature
space), with none of the adversarial training's instability. The student
keeps the teacher's standardisation buffers and efficiency network, so it is
a drop-in :class:`~jetplug_fastsim.nets.FastSimGAN` of another width; its
sample quality is checked by the same validation as the teacher's
(``jetplug validate --section fastsim``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from jetplug.training.schedule import cosine_decay

from .gan import CONDITIONS, FEATURES, N_NOISE

__all__ = ["DistillSettings", "distill_generator"]


@dataclass(frozen=True)
class DistillSettings:
    """Hyper-parameters of the distillation (recorded in the model metadata)."""

    hidden: int = 256
    steps: int = 20_000
    batch_size: int = 1024
    lr: float = 1e-3
    lr_final: float = 0.01
    """Cosine decay to this fraction of ``lr``."""
    eval_every: int = 1000
    eval_rows: int = 50_000
    seed: int = 11
    threads: int = 2
    device: str = "cpu"


def distill_generator(
    teacher: Any,
    cond_train: np.ndarray,
    cond_val: np.ndarray,
    settings: DistillSettings,
    log: Callable[[str], None] = print,
) -> tuple[Any, dict[str, Any]]:
    """A :class:`~jetplug_fastsim.nets.FastSimGAN` of width ``settings.hidden`` like ``teacher``.

    ``cond_train`` / ``cond_val``: raw conditions (:func:`jetplug_fastsim.gan.conditions`)
    of the gen jets whose features the generator makes (the training split's
    reconstructed jets, and the validation split's for the checkpoint choice:
    the smallest mean squared error on fixed validation noise).
    """
    import copy

    import torch

    from .nets import FastSimGAN

    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    dev = torch.device(settings.device)
    student = FastSimGAN(len(CONDITIONS), N_NOISE, len(FEATURES), hidden=settings.hidden)
    for name in ("cond_mean", "cond_std", "feat_mean", "feat_std"):
        getattr(student, name).copy_(getattr(teacher, name))
    student.efficiency.load_state_dict(teacher.efficiency.state_dict())
    teacher, student = teacher.to(dev).eval(), student.to(dev)
    for p in teacher.parameters():
        p.requires_grad_(False)
    c_train = student.standardized_cond(torch.as_tensor(cond_train).to(dev))
    gen = torch.Generator(device=dev).manual_seed(settings.seed)
    rows = np.random.default_rng(settings.seed).permutation(len(cond_val))[: settings.eval_rows]
    c_val = student.standardized_cond(torch.as_tensor(cond_val[rows]).to(dev))
    z_val = torch.randn(len(c_val), N_NOISE, device=dev, generator=gen)
    with torch.no_grad():
        y_val = teacher.generate(c_val, z_val)
    opt = torch.optim.Adam(student.generator.parameters(), lr=settings.lr)

    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, cosine_decay(settings.steps, settings.lr_final)
    )
    start, best, best_step, best_state, history = time.perf_counter(), math.inf, 0, None, []
    for step in range(1, settings.steps + 1):
        idx = torch.randint(0, len(c_train), (settings.batch_size,), device=dev, generator=gen)
        c = c_train[idx]
        z = torch.randn(len(c), N_NOISE, device=dev, generator=gen)
        with torch.no_grad():
            target = teacher.generate(c, z)
        loss = torch.nn.functional.mse_loss(student.generate(c, z), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        if step % settings.eval_every == 0:
            with torch.no_grad():
                mse = float(torch.nn.functional.mse_loss(student.generate(c_val, z_val), y_val))
            history.append([step, mse])
            log(f"step {step}: validation MSE {mse:.3e} (standardised features)")
            if mse < best:
                best, best_step, best_state = mse, step, copy.deepcopy(student.state_dict())
    if best_state is not None:
        student.load_state_dict(best_state)
    record = {
        "distillation": asdict(settings),
        "best_step": best_step,
        "val_mse_history": history,
        "train_seconds": round(time.perf_counter() - start, 1),
    }
    return student.to("cpu").eval(), record
