"""Training of the GAN fast simulation: a conditional Wasserstein GAN with gradient penalty.

The generator maps (conditions, noise) to the encoded FatJet features of
reconstructed gen jets; a critic scores (conditions, features) pairs; the
gradient penalty (λ = 10, Gulrajani et al., arXiv:1704.00028) keeps it
1-Lipschitz. The efficiency network is a logistic regression network on
every gen jet (reconstructed or not). Without a sample-quality label to
early-stop on, the checkpoint kept is the one with the smallest sum over
features of the 1-D Wasserstein distance between generated and true
validation jets (standardised units), evaluated every ``eval_every`` steps
on an exponential moving average of the generator's weights (decay
``ema``), which smooths the GAN's step-to-step oscillations.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from jetplug.training.schedule import cosine_decay

from .data import GenRecoPairs
from .gan import CONDITIONS, FEATURES, N_NOISE, conditions, encode

__all__ = ["GanSettings", "train_gan"]


@dataclass(frozen=True)
class GanSettings:
    """Hyper-parameters (recorded in the model metadata)."""

    steps: int = 8000
    critic_steps: int = 5
    batch_size: int = 512
    hidden: int = 128
    lr: float = 1e-4
    lr_final: float = 0.05
    """Cosine decay of both learning rates to this fraction of ``lr`` at ``steps``."""
    gp_lambda: float = 10.0
    eval_every: int = 250
    val_jets: int = 50_000
    """Validation jets the checkpoint choice compares (a fixed random subset)."""
    efficiency_epochs: int = 4
    ema: float = 0.999
    device: str = "cpu"
    seed: int = 7
    threads: int = 2
    max_seconds: float = 0.0
    """Stop early after this much training time (0: no limit); the record says where."""


def _sum_w1(a: np.ndarray, b: np.ndarray) -> float:
    return float(sum(wasserstein_distance(a[:, i], b[:, i]) for i in range(a.shape[1])))


def train_gan(
    pairs: GenRecoPairs, settings: GanSettings, log: Callable[[str], None] = print
) -> tuple[Any, dict[str, Any]]:
    """The trained :class:`~jetplug_fastsim.nets.FastSimGAN` and its training record."""
    import torch

    from .nets import Critic, FastSimGAN

    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    dev = torch.device(settings.device)
    rng = np.random.default_rng(settings.seed)
    cond_all = conditions(pairs.gen)
    reco = pairs.reconstructed
    feats = encode(
        {k: v[reco] for k, v in pairs.gen.items()}, {k: v[reco] for k, v in pairs.reco.items()}
    )
    cond_reco = cond_all[reco]
    train = pairs.split[reco] == "train"
    val = pairs.split[reco] == "val"
    if val.sum() > settings.val_jets:  # a fixed random subset keeps the evaluations quick
        val[rng.permutation(np.flatnonzero(val))[settings.val_jets :]] = False
    model = FastSimGAN(len(CONDITIONS), N_NOISE, len(FEATURES), hidden=settings.hidden)
    c_t = torch.as_tensor(cond_all[pairs.split == "train"])
    model.cond_mean.copy_(c_t.mean(0))
    model.cond_std.copy_(c_t.std(0).clamp_min(1e-3))
    x_t = torch.as_tensor(feats[train])
    model.feat_mean.copy_(x_t.mean(0))
    model.feat_std.copy_(x_t.std(0).clamp_min(1e-6))
    model.to(dev)
    c_train = model.standardized_cond(torch.as_tensor(cond_reco[train]).to(dev)).detach()
    x_train = ((x_t.to(dev) - model.feat_mean) / model.feat_std).detach()
    c_val = model.standardized_cond(torch.as_tensor(cond_reco[val]).to(dev)).detach()
    x_val = ((torch.as_tensor(feats[val]).to(dev) - model.feat_mean) / model.feat_std).cpu().numpy()

    # efficiency: logistic regression network on every gen jet
    start = time.perf_counter()
    eff_opt = torch.optim.Adam(model.efficiency.parameters(), lr=1e-3)
    c_eff = model.standardized_cond(
        torch.as_tensor(cond_all[pairs.split == "train"]).to(dev)
    ).detach()
    y_eff = torch.as_tensor(reco[pairs.split == "train"].astype(np.float32)).to(dev)
    for _ in range(settings.efficiency_epochs):
        order = torch.as_tensor(rng.permutation(len(y_eff))).to(dev)
        for s in range(0, len(order), 1024):
            idx = order[s : s + 1024]
            eff_opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model.efficiency(c_eff[idx]).squeeze(-1), y_eff[idx]
            )
            loss.backward()
            eff_opt.step()
    log(f"efficiency network: {time.perf_counter() - start:.0f} s, last BCE {loss.item():.4f}")

    critic = Critic(len(CONDITIONS), len(FEATURES), hidden=settings.hidden).to(dev)
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=settings.lr, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(critic.parameters(), lr=settings.lr, betas=(0.5, 0.9))

    cosine = cosine_decay(settings.steps, settings.lr_final)
    schedules = [torch.optim.lr_scheduler.LambdaLR(o, cosine) for o in (g_opt, d_opt)]
    n = len(x_train)
    draws = torch.Generator(device=dev).manual_seed(settings.seed)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, n, (settings.batch_size,), device=dev, generator=draws)
        return c_train[idx], x_train[idx]

    ema = copy.deepcopy(model)
    best, best_step, best_state, history = float("inf"), 0, None, []
    noise_val = torch.as_tensor(rng.standard_normal((len(c_val), N_NOISE)).astype(np.float32))
    noise_val = noise_val.to(dev)
    gan_start, last_step = time.perf_counter(), 0
    for step in range(1, settings.steps + 1):
        if settings.max_seconds and time.perf_counter() - gan_start > settings.max_seconds:
            log(f"stopped at step {step - 1}: max_seconds {settings.max_seconds} reached")
            break
        last_step = step
        for _ in range(settings.critic_steps):
            c, x = batch()
            z = torch.randn(len(c), N_NOISE, device=dev)
            fake = model.generate(c, z).detach()
            eps = torch.rand(len(c), 1, device=dev)
            mix = (eps * x + (1 - eps) * fake).requires_grad_(True)
            grad = torch.autograd.grad(critic(c, mix).sum(), mix, create_graph=True)[0]
            penalty = ((grad.norm(dim=1) - 1) ** 2).mean()
            d_loss = critic(c, fake).mean() - critic(c, x).mean() + settings.gp_lambda * penalty
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
        c, _ = batch()
        g_loss = -critic(c, model.generate(c, torch.randn(len(c), N_NOISE, device=dev))).mean()
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        with torch.no_grad():
            for mine, avg in zip(
                model.generator.parameters(), ema.generator.parameters(), strict=True
            ):
                avg.mul_(settings.ema).add_(mine, alpha=1 - settings.ema)
        for schedule in schedules:
            schedule.step()
        if step % settings.eval_every == 0:
            with torch.no_grad():
                gen_val = ema.generate(c_val, noise_val).cpu().numpy()
            score = _sum_w1(gen_val, x_val)
            history.append([step, round(score, 4)])
            critic_loss = float(d_loss.detach())
            log(f"step {step}: critic loss {critic_loss:.4f}, validation sum W1 {score:.4f}")
            if score < best:
                # the average generator; the efficiency network and buffers are final already
                best, best_step, best_state = score, step, copy.deepcopy(ema.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to("cpu").eval()
    record = {
        "settings": asdict(settings),
        "best_step": best_step,
        "last_step": last_step,
        "val_sum_w1_history": history,
        "jets": {"train": int(train.sum()), "val": int(val.sum()), "gen_train": len(y_eff)},
        "train_seconds": round(time.perf_counter() - start, 1),
    }
    return model, record
