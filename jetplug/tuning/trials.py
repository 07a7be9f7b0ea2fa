"""One trial of ``jetplug tune``: the plugin's ordinary training with some settings replaced.

A :class:`TuneJob` holds everything a trial needs as plain, picklable data
(plugin name, files, base settings, search space, storage URL), so trials run
in this process or as Dask tasks on any worker sharing the storage. Each
trial trains with the built-in trainer of the plugin's artifact format,
reports the validation loss after every boosting round / epoch (optuna's
pruner may stop it there) and returns the best validation loss; the test
split is never looked at for the search. A worker process reads the jets of
the files once and keeps them for its next trials.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..host import PluginHost
from ..training import JetSample, TrainSettings, load_jets
from ..training.dispatch import tagger_trainer
from .space import Space, suggest

__all__ = ["TuneJob", "make_sampler", "open_storage", "run_trials"]

SAMPLERS = ("tpe", "gp")
_SAMPLES: dict[tuple[Any, ...], JetSample] = {}
"""Jets already read by this process, by plugin, files and selection."""


@dataclass(frozen=True)
class TuneJob:
    """What every trial of a study needs; picklable (sent to Dask workers)."""

    plugin: str
    files: tuple[str, ...]
    settings: TrainSettings
    space: Space
    storage: str
    study_name: str
    sampler: str
    trials_dir: str
    warmup_steps: int = 0
    version: str = "0"

    def trial_dir(self, number: int) -> Path:
        """Where trial ``number`` writes its model, metadata and log."""
        return Path(self.trials_dir) / f"trial_{number:04d}"


def open_storage(url: str) -> Any:
    """An optuna storage from a URL (``sqlite:///…``, ``postgresql://…``) or a file path.

    A path ending in ``.db``/``.sqlite`` is an SQLite database, any other path
    an optuna journal file (safe for several processes on one file system).
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if "://" in url:
        return optuna.storages.RDBStorage(url)
    path = Path(url)
    if path.suffix in {".db", ".sqlite", ".sqlite3"}:
        return optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def make_sampler(name: str, seed: int) -> Any:
    """optuna's TPE (multivariate, constant liar for parallel trials) or GP sampler."""
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    msg = f"unknown sampler {name!r}; use one of {', '.join(SAMPLERS)}"
    raise ConfigError(msg)


def make_pruner(warmup_steps: int) -> Any:
    """Median pruning on the intermediate validation losses after ``warmup_steps``."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup_steps)


def _sample(job: TuneJob, host: PluginHost) -> JetSample:
    s = job.settings
    key = (job.plugin, job.files, s.signal, s.background, s.pt_min, s.pt_max, s.eta_max)
    if key not in _SAMPLES:
        model = host.create_model(job.plugin)
        _SAMPLES[key] = load_jets([Path(f) for f in job.files], model, s, host.derivations)
    return _SAMPLES[key]


_HOSTS: list[PluginHost] = []
"""This process's plugin host (entry points), made by its first trial."""


def _host() -> PluginHost:
    if not _HOSTS:
        _HOSTS.append(PluginHost())
    return _HOSTS[0]


class Objective:
    """optuna objective: train with the trial's settings, return the best validation loss.

    The plugin comes from the installed packages' entry points (what a Dask
    worker sees), not from a host made by hand.
    """

    def __init__(self, job: TuneJob) -> None:
        self.job = job
        self.host = _host()

    def __call__(self, trial: Any) -> float:
        """Train trial ``trial``; raises ``optuna.TrialPruned`` when the pruner says so."""
        import optuna

        job = self.job
        values = suggest(trial, job.space)
        settings = dataclasses.replace(job.settings, **values)  # type: ignore[arg-type]
        model = self.host.create_model(job.plugin)
        trainer = tagger_trainer(model, job.plugin)
        sample = _sample(job, self.host)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        where = job.trial_dir(trial.number)
        where.mkdir(parents=True, exist_ok=True)
        lines: list[str] = []

        def report(step: int, loss: float) -> None:
            trial.report(loss, step)
            if trial.should_prune():
                lines.append(f"pruned at step {step}: validation loss {loss:.5f}")
                msg = f"step {step}, validation loss {loss:.5f}"
                raise optuna.TrialPruned(msg)

        output = where / model.spec.artifact.path.name
        try:
            meta = trainer(
                model,
                [Path(f) for f in job.files],
                output,
                version=job.version,
                settings=settings,
                log=lines.append,
                sample=sample,
                report=report,
            )
        except optuna.TrialPruned:
            raise
        except Exception as e:
            trial.set_user_attr("error", f"{type(e).__name__}: {e}"[:500])
            raise
        finally:
            (where / "train.log").write_text("\n".join(lines) + "\n")
        trial.set_user_attr("artifact", str(output))
        return float(meta["val_loss"])


def run_trials(
    job: TuneJob, n_trials: int, seed: int, log: Callable[[str], None] | None = None
) -> list[str]:
    """Run ``n_trials`` trials of the job's study here; returns one line per trial.

    The study is loaded from the shared storage with a sampler seeded by
    ``seed`` (parallel workers get different seeds, so they propose different
    points). A failing trial is recorded as FAIL, with its reason, and the
    next one runs. Each line also goes to ``log`` as the trial ends.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(
        study_name=job.study_name,
        storage=open_storage(job.storage),
        sampler=make_sampler(job.sampler, seed),
        pruner=make_pruner(job.warmup_steps),
    )
    objective = Objective(job)
    lines: list[str] = []

    def logged(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        what = "last reported" if trial.state.name == "PRUNED" else "validation loss"
        value = "" if trial.value is None else f" {what} {trial.value:.5f}"
        reason = trial.user_attrs.get("error", "")
        line = f"trial {trial.number} {trial.state.name.lower()}{value} {trial.params}"
        lines.append(f"{line}: {reason}" if reason else line)
        if log is not None:
            log(lines[-1])

    study.optimize(objective, n_trials=n_trials, catch=(Exception,), callbacks=[logged])
    return lines
