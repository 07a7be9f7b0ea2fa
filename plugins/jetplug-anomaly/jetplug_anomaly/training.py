"""Training of the anomaly scores: the autoencoder, then the normalized autoencoder.

Both work on flat input vectors (``(n, D)``, entries in [0, 1]): a jet image's
pixels here, any other representation of a jet (e.g. another plugin's
embedding) as well.

**Autoencoder** (:func:`fit_autoencoder`): minimise the energy E(x), the
squared reconstruction error, on the training jets; AdamW, the epoch with the
lowest validation energy kept (early stopping).

**Normalized autoencoder** (:func:`fit_nae`; Yoon, Noh, Park arXiv:2105.05735,
Dillon et al. arXiv:2206.14225): the autoencoder's energy read as an
energy-based model p(x) ∝ exp(−E(x)/T). The gradient of the negative
log-likelihood is E(x⁺) − E(x⁻) averaged over data x⁺ and model samples x⁻,
so training lowers the energy of data and **raises it wherever the model
puts low energy without data** — exactly the simple, easily reconstructed
jets a plain autoencoder wrongly calls normal. Negative samples come from
on-manifold Langevin dynamics: a chain in the spherical latent space (started
from a replay buffer of earlier chains, or afresh), decoded, then a short
chain in input space. The loss adds γ·E(x⁻)² (energies in units of the
autoencoder's median training energy) so negative energies stay bounded.

Langevin steps move along the normalised energy gradient (a fixed step
length, like the clipped gradients of the authors' code, but without tuning
to the energy's scale): on the sphere by ``z_step`` radians, in input space
by ``x_step`` times the median norm of a training input.

The NAE's validation AUC is known to peak and then fall. Each epoch's
weights are kept; :func:`choose_epoch` picks one **without signal labels**
(see its docstring).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .nets import Autoencoder

__all__ = [
    "NAEResult",
    "NAESettings",
    "choose_epoch",
    "constrain_encoder",
    "energies",
    "first_crossing",
    "fit_autoencoder",
    "fit_nae",
    "release",
]

Log = Callable[[str], None]


def energies(module: Autoencoder, x: np.ndarray, batch: int = 8192) -> np.ndarray:
    """The energy of every row of ``x`` (no gradients)."""
    module.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            out.append(module(torch.as_tensor(x[start : start + batch])).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def constrain_encoder(module: Autoencoder) -> None:
    """Spectral normalisation of every encoder layer (training only; see :func:`release`).

    A Lipschitz-bounded encoder cannot tell a decoded (smooth) image from a
    nearby real one by fine details: the NAE stage then has to raise the
    energy of the regions its negative samples find, not learn a shortcut
    that separates samples from data (the authors use spectral norm too).
    """
    from torch.nn.utils.parametrizations import spectral_norm

    for layer in module.encoder:
        if isinstance(layer, torch.nn.Linear):
            spectral_norm(layer)


def release(module: Autoencoder) -> None:
    """Replace the encoder's spectral-norm parametrisation by its current plain weights."""
    from torch.nn.utils import parametrize

    for layer in module.encoder:
        if parametrize.is_parametrized(layer):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)


def fit_autoencoder(
    module: Autoencoder,
    train: np.ndarray,
    val: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    patience: int,
    seed: int,
    log: Log,
) -> dict[str, Any]:
    """Minimise the mean energy of ``train``; keep the epoch of lowest validation energy."""
    torch.manual_seed(seed)
    x = torch.as_tensor(train)
    module.scale_from(x)
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=1e-5)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    generator = torch.Generator().manual_seed(seed)
    best, best_epoch, best_state, history = float("inf"), -1, None, []
    for epoch in range(epochs):
        module.train()
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            optimizer.zero_grad()
            module(x[order[start : start + batch_size]]).mean().backward()
            optimizer.step()
        schedule.step()
        loss = float(energies(module, val).mean())
        history.append(float(f"{loss:.6g}"))
        log(f"AE epoch {epoch + 1}: validation energy {loss:.6g}")
        if loss < best:
            best, best_epoch, best_state = loss, epoch, copy.deepcopy(module.state_dict())
        elif epoch - best_epoch >= patience:
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return {"epochs_run": len(history), "best_epoch": best_epoch + 1, "val_energy": history}


@dataclass(frozen=True)
class NAESettings:
    """Hyper-parameters of the NAE stage (recorded in the model metadata)."""

    epochs: int = 50
    steps_per_epoch: int = 50
    batch_size: int = 128
    lr: float = 3e-4
    gamma: float = 0.001
    """Weight of E(x⁻)², energies in units of the AE's median training energy (0.1
    capped E(x⁻) at 5 units, below what raising the simple jets' energy needs)."""
    z_steps: int = 20
    z_step: float = 0.2
    z_noise: float = 0.05
    x_steps: int = 10
    x_step: float = 0.01
    x_noise: float = 0.002
    buffer_size: int = 10000
    replay_ratio: float = 0.95
    start_from_data: bool = True
    """Start fresh latent chains at encoded training jets instead of random points."""
    lr_after_crossing: float | None = 3e-5
    """Learning rate from the epoch after E(x⁻) first reaches E(x⁺) (None: ``lr``
    throughout). At the crossing the energies start to grow fast and, at the full
    rate, the score swings from epoch to epoch; the lower rate lets it settle."""
    n_monitor: int = 1000
    """Fresh negative samples drawn after each epoch to measure E(x⁻)."""


def _direction(grad: torch.Tensor) -> torch.Tensor:
    """Each row of ``grad`` scaled to unit length."""
    flat = grad.reshape(len(grad), -1)
    out: torch.Tensor = (flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-20)).reshape(grad.shape)
    return out


class LangevinSampler:
    """On-manifold negative samples: Langevin in the latent sphere, then in input space."""

    def __init__(
        self,
        module: Autoencoder,
        settings: NAESettings,
        x_scale: float,
        seed: int,
        data: torch.Tensor | None = None,
    ) -> None:
        self.module = module
        self.data = data
        self.settings = settings
        self.x_scale = x_scale
        self.generator = torch.Generator().manual_seed(seed)
        self.buffer = torch.zeros(0, module.latent)

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.generator)

    def _start(self, n: int) -> torch.Tensor:
        s = self.settings
        n_replay = int((torch.rand(n, generator=self.generator) < s.replay_ratio).sum())
        n_replay = min(n_replay, len(self.buffer))
        z = self._start_fresh(n - n_replay)
        if n_replay:
            pick = torch.randint(len(self.buffer), (n_replay,), generator=self.generator)
            z = torch.cat([self.buffer[pick], z])
        out: torch.Tensor = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return out

    def sample(self, n: int, *, replay: bool = True) -> torch.Tensor:
        """``n`` negative samples in input space (detached)."""
        s, module = self.settings, self.module
        for p in module.parameters():
            p.requires_grad_(False)
        try:
            z = self._start(n) if replay else self._start_fresh(n)
            for _ in range(s.z_steps):
                z.requires_grad_(True)
                (grad,) = torch.autograd.grad(module.energy(module.decode(z)).sum(), z)
                z = z.detach() - s.z_step * _direction(grad) + s.z_noise * self._randn(*z.shape)
                z = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
            if replay:
                self.buffer = torch.cat([z.detach(), self.buffer])[: s.buffer_size]
            x = module.decode(z).detach()
            noise = s.x_noise * self.x_scale / np.sqrt(x.shape[1])
            for _ in range(s.x_steps):
                x.requires_grad_(True)
                (grad,) = torch.autograd.grad(module.energy(x).sum(), x)
                x = x.detach() - s.x_step * self.x_scale * _direction(grad)
                x = (x + noise * self._randn(*x.shape)).clamp(0.0, 1.0)
        finally:
            for p in module.parameters():
                p.requires_grad_(True)
        return x.detach()

    def _start_fresh(self, n: int) -> torch.Tensor:
        if self.settings.start_from_data and self.data is not None:
            pick = torch.randint(len(self.data), (n,), generator=self.generator)
            with torch.no_grad():
                return self.module.encode(self.data[pick])
        z = self._randn(n, self.module.latent)
        out: torch.Tensor = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return out


@dataclass
class NAEResult:
    """What :func:`fit_nae` returns: per-epoch states and label-free monitors."""

    states: list[dict[str, torch.Tensor]] = field(default_factory=list)
    val_energy: list[float] = field(default_factory=list)
    """Mean validation energy (data, x⁺) after each epoch, in units of ``energy_unit``."""
    neg_energy: list[float] = field(default_factory=list)
    """Mean energy of fresh negative samples (x⁻) after each epoch, same units."""
    energy_unit: float = 1.0
    crossed_at: int | None = None
    """The epoch after which the learning rate was lowered (``lr_after_crossing``)."""

    def record(self) -> dict[str, Any]:
        """The monitors, for the metadata."""
        return {
            "energy_unit": self.energy_unit,
            "val_energy": [float(f"{v:.5g}") for v in self.val_energy],
            "neg_energy": [float(f"{v:.5g}") for v in self.neg_energy],
        }


def fit_nae(
    module: Autoencoder,
    train: np.ndarray,
    val: np.ndarray,
    settings: NAESettings,
    *,
    seed: int,
    log: Log,
) -> NAEResult:
    """Retrain the autoencoder ``module`` as an NAE.

    ``states[0]`` is the autoencoder, then one state per NAE epoch.
    """
    torch.manual_seed(seed)
    s = settings
    unit = float(np.median(energies(module, train[: min(len(train), 20000)])))
    x_scale = float(np.median(np.linalg.norm(train, axis=1)))
    x = torch.as_tensor(train)
    sampler = LangevinSampler(module, s, x_scale, seed, data=x)
    optimizer = torch.optim.Adam(module.parameters(), lr=s.lr)
    generator = torch.Generator().manual_seed(seed + 1)
    result = NAEResult(energy_unit=unit)

    def monitor(epoch: int) -> None:
        result.states.append(copy.deepcopy(module.state_dict()))
        pos = float(energies(module, val).mean()) / unit
        neg = float(energies(module, sampler.sample(s.n_monitor, replay=False).numpy()).mean())
        result.val_energy.append(pos)
        result.neg_energy.append(neg / unit)
        log(f"NAE epoch {epoch}: E(val) {pos:.4g}, E(negatives) {neg / unit:.4g} (AE median units)")

    monitor(0)
    for epoch in range(s.epochs):
        module.train()
        for _ in range(s.steps_per_epoch):
            idx = torch.randint(len(x), (s.batch_size,), generator=generator)
            negative = sampler.sample(s.batch_size)
            optimizer.zero_grad()
            pos, neg = module(x[idx]) / unit, module(negative) / unit
            loss = pos.mean() - neg.mean() + s.gamma * (neg**2).mean()
            loss.backward()
            optimizer.step()
        monitor(epoch + 1)
        if s.lr_after_crossing is not None and result.crossed_at is None:
            result.crossed_at = first_crossing(result)  # set once: the rate drops once
            if result.crossed_at is not None:
                for group in optimizer.param_groups:
                    group["lr"] = s.lr_after_crossing
                log(f"E(x-) reached E(val): learning rate {s.lr_after_crossing:g} from now on")
    return result


def choose_epoch(result: NAEResult) -> int:
    """The NAE epoch to ship, chosen from label-free monitors only.

    The NAE pushes up the energy of its own negative samples until the
    sampler finds no region of low energy that the data does not occupy:
    then E(x⁻) ≥ E(x⁺) on average, the condition of a normalised model (the
    contrastive loss E(x⁺) − E(x⁻) has crossed zero). Training past that point
    only raises energies where the data is (the validation energy grows) and
    the score loses its contrast. The first epoch at which the mean energy of
    fresh negatives reaches the mean validation energy is chosen; if it never
    does, the last epoch. With ``lr_after_crossing`` that epoch only lowers the
    learning rate (:attr:`NAEResult.crossed_at`), and the last epoch is chosen.
    """
    last = len(result.val_energy) - 1
    if result.crossed_at is not None:
        return last
    crossing = first_crossing(result)
    return last if crossing is None else crossing


def first_crossing(result: NAEResult) -> int | None:
    """The first NAE epoch (not the autoencoder, epoch 0) whose fresh negatives' mean
    energy reaches the validation jets' mean energy; None if none has yet."""
    pairs = zip(result.val_energy, result.neg_energy, strict=True)
    return next((e for e, (pos, neg) in enumerate(pairs) if e > 0 and neg >= pos), None)


def settings_record(settings: NAESettings) -> dict[str, Any]:
    """``settings`` as a plain dict."""
    return asdict(settings)
