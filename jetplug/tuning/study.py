"""``jetplug tune``: a resumable optuna study over a plugin's training hyper-parameters.

The study lives in a persistent storage (default: an optuna journal file in
the output directory), so rerunning the same command resumes it: finished
trials (complete or pruned) are kept and only the remaining ones run; trials
an interruption left "running" are marked failed first. Trials run as Dask
tasks, one trial per task, on a ``distributed.LocalCluster`` (127.0.0.1) or
an existing scheduler, all sharing the storage; ``workers=0`` runs them in
this process. At the end the best trial's model is written as a normal
jetplug model artifact with metadata recording the search, and a report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts import load_model_metadata, recorded_command, write_model_metadata
from ..errors import JetplugError
from ..host import PluginHost
from ..model import JetModel
from ..runner import SCHEDULER_TIMEOUT_S, connect_scheduler, local_cluster
from ..training import TrainSettings
from ..training.dispatch import tagger_trainer
from .space import family, load_space
from .trials import TuneJob, make_sampler, open_storage, run_trials

__all__ = ["TuneResult", "default_warmup", "tune"]


@dataclass
class TuneResult:
    """The outcome of a study: counts, the best trial, and what was written."""

    study_name: str
    storage: str
    n_trials: int
    states: dict[str, int]
    best_number: int
    best_value: float
    best_params: dict[str, Any]
    artifact: Path
    job: TuneJob
    ran_now: int
    baseline: tuple[int, float, Path] | None = None
    """Trial number, validation loss and model of the defaults trial (if complete)."""
    written: list[Path] = field(default_factory=list)


def default_warmup(fmt: str) -> int:
    """Steps before pruning may stop a trial: 50 boosting rounds, 2 epochs."""
    return 50 if family(fmt) == "xgboost" else 2


def _storage_url(storage: str | None, outdir: Path) -> str:
    return storage if storage else str(outdir / "study.journal")


_FREE_SETTINGS = ("threads",)
"""Settings a resumed study may change (they do not change the trainings' results)."""


def _check_same_search(study: Any, attrs: dict[str, Any]) -> None:
    """A resumed study must search the same plugin, space, data and settings."""
    old = study.user_attrs
    if not old:
        for key, value in attrs.items():
            study.set_user_attr(key, value)
        return
    differing = {k: (old.get(k), v) for k, v in attrs.items() if k != "settings"}
    settings = old.get("settings", {})
    differing.update({f"settings.{k}": (settings.get(k), v) for k, v in attrs["settings"].items()})
    differing = {
        k: pair
        for k, pair in differing.items()
        if pair[0] != pair[1] and k.removeprefix("settings.") not in _FREE_SETTINGS
    }
    if differing:
        listing = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in differing.items())
        msg = (
            f"study {study.study_name!r} in this storage was made with another search "
            f"({listing}); resume it with the same command, or give another --study-name "
            "or --storage"
        )
        raise JetplugError(msg)


def _fail_interrupted(study: Any, storage: Any, log: Callable[[str], None]) -> None:
    """Trials left RUNNING by an interrupted run are marked FAIL (they will not finish).

    Only one ``jetplug tune`` command may drive a study at a time: a second
    one started while the first runs would mark the first's trials failed.
    """
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
        log(f"trial {trial.number} was interrupted: marked failed")


def _enqueue_baseline(study: Any, job: TuneJob, log: Callable[[str], None]) -> None:
    """Trial 0 trains with the trainer's default settings (where the space allows them).

    Its validation loss (and model) is the reference the search must beat,
    on the same data.
    """
    defaults = {k: getattr(job.settings, k) for k, p in job.space.items() if p.fixed is None}
    inside = all(
        v in p.choices if p.choices is not None else p.low <= v <= p.high
        for v, p in ((defaults[k], job.space[k]) for k in defaults)
    )
    if inside:
        study.enqueue_trial(defaults, user_attrs={"baseline": True})
        log(f"trial 0: the trainer's defaults {defaults}")
    else:
        log(
            f"the trainer's defaults {defaults} lie outside this search space: trial 0 is "
            "sampled, and the report has no defaults reference"
        )


def _states(study: Any) -> dict[str, int]:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    return {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}


def _run(
    job: TuneJob,
    seeds: Sequence[int],
    workers: int,
    scheduler: str | None,
    log: Callable[[str], None],
) -> None:
    """The trials, one per seed: here (``workers=0``) or as Dask tasks."""
    if not seeds:
        return
    if workers == 0 and not scheduler:
        for seed in seeds:
            run_trials(job, 1, seed, log)
        return
    from distributed import as_completed

    cluster = (
        connect_scheduler(scheduler, SCHEDULER_TIMEOUT_S) if scheduler else local_cluster(workers)
    )
    with cluster as client:
        log(f"{len(seeds)} trials on {scheduler or f'LocalCluster(127.0.0.1, {workers} workers)'}")
        futures = client.map(run_trials, [job] * len(seeds), [1] * len(seeds), seeds, pure=False)
        for future in as_completed(futures):
            for line in future.result():
                log(line)


def tune(
    plugin: str,
    files: Sequence[Path],
    outdir: Path,
    *,
    n_trials: int = 20,
    storage: str | None = None,
    study_name: str | None = None,
    sampler: str = "tpe",
    seed: int = 42,
    workers: int = 2,
    scheduler: str | None = None,
    space_file: Path | None = None,
    settings: TrainSettings | None = None,
    warmup_steps: int | None = None,
    version: str = "1.0.0",
    log: Callable[[str], None] = print,
    host: PluginHost | None = None,
) -> TuneResult:
    """Search ``plugin``'s training hyper-parameters on ``files``; write the best model.

    Minimises the validation loss of the plugin's built-in trainer over the
    search space (:mod:`jetplug.tuning.space`), ``n_trials`` trials in all
    (counting those a previous run of the same study finished). Returns the
    counts and the best trial; the best model is ``outdir/<artifact name>``.
    """
    import optuna
    from optuna.trial import TrialState

    if n_trials < 1:
        msg = f"--trials {n_trials}: need at least one trial"
        raise JetplugError(msg)
    if workers < 0:
        msg = f"--workers {workers}: need 0 (this process) or more Dask workers"
        raise JetplugError(msg)
    host = host or PluginHost()
    model = host.create_model(plugin)
    if type(model).train is not JetModel.train:
        msg = (
            f"plugin {plugin!r} trains itself (its JetModel.train), with settings jetplug "
            "cannot vary; jetplug tune searches the settings of the built-in trainers "
            "(taggers with xgboost or torch-state-dict models)"
        )
        raise JetplugError(msg)
    tagger_trainer(model, plugin)  # refuses plugins without a built-in trainer
    fmt = model.spec.artifact.format
    space = load_space(space_file, fmt)
    make_sampler(sampler, seed)  # refuses unknown samplers before anything runs
    outdir.mkdir(parents=True, exist_ok=True)
    url = _storage_url(storage, outdir)
    name = study_name or f"{plugin}-tune"
    base = settings or TrainSettings()
    job = TuneJob(
        plugin=plugin,
        files=tuple(str(f) for f in files),
        settings=base,
        space=space,
        storage=url,
        study_name=name,
        sampler=sampler,
        trials_dir=str(outdir / "trials"),
        warmup_steps=default_warmup(fmt) if warmup_steps is None else warmup_steps,
        version=version,
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = open_storage(url)
    study = optuna.create_study(
        study_name=name, storage=store, direction="minimize", load_if_exists=True
    )
    _check_same_search(
        study,
        {
            "plugin": plugin,
            "space": {k: p.describe() for k, p in space.items()},
            "files": sorted(Path(f).name for f in files),
            "settings": vars(base),
        },
    )
    _fail_interrupted(study, store, log)
    if not study.get_trials(deepcopy=False):
        _enqueue_baseline(study, job, log)
    states = _states(study)
    done = states["complete"] + states["pruned"]
    remaining = max(0, n_trials - done)
    log(f"study {name!r} in {url}: {done} trials finished, {remaining} to run")
    # trial k runs with seed + k + 1 (a queued baseline is trial 0 of a new study), so a
    # resumed search goes on with new seeds instead of repeating its last trial
    first = 1 + sum(t.state != TrialState.WAITING for t in study.get_trials(deepcopy=False))
    _run(job, [seed + first + i for i in range(remaining)], workers, scheduler, log)
    states = _states(study)
    try:
        best = study.best_trial
    except ValueError:
        msg = f"study {name!r} has no completed trial ({states}); see {outdir / 'trials'}"
        raise JetplugError(msg) from None
    base_trial = next(
        (
            t
            for t in study.get_trials(deepcopy=False)
            if t.user_attrs.get("baseline") and t.value is not None
        ),
        None,
    )
    result = TuneResult(
        study_name=name,
        storage=url,
        n_trials=n_trials,
        states=states,
        best_number=best.number,
        best_value=float(best.values[0]),
        best_params=dict(best.params),
        artifact=outdir / model.spec.artifact.path.name,
        job=job,
        ran_now=remaining,
        baseline=None
        if base_trial is None
        else (base_trial.number, base_trial.values[0], Path(base_trial.user_attrs["artifact"])),
    )
    _write_best(result, best, files, sampler, seed)
    return result


def _write_best(
    result: TuneResult, best: Any, files: Sequence[Path], sampler: str, seed: int
) -> None:
    """Copy the best trial's model to ``result.artifact`` with metadata recording the search."""
    source = Path(best.user_attrs["artifact"])
    shutil.copyfile(source, result.artifact)
    trained = load_model_metadata(source)
    for key in ("version", "sha256", "file", "command"):
        trained.pop(key, None)
    settings = dataclasses.replace(result.job.settings, **best.params)
    trained["settings"] = vars(settings)
    write_model_metadata(
        result.artifact,
        result.job.version,
        **trained,
        command=recorded_command("tune", files),
        tuning={
            "study": result.study_name,
            "storage": Path(result.storage).name if "://" not in result.storage else "(URL)",
            "sampler": sampler,
            "seed": seed,
            "objective": "validation loss (event-hash val split)",
            "best_trial": result.best_number,
            "best_value": result.best_value,
            "best_params": result.best_params,
            "space": {k: p.describe() for k, p in result.job.space.items()},
            "trials": result.states,
            "tuned": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )
    result.written.append(result.artifact)
