"""``jetplug tune PLUGIN FILES...``."""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any

import click

from ..errors import JetplugError
from .train import settings_from, settings_options
from .validate_common import parse_floats


@click.command()
@click.argument("plugin")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), default=Path("tune"), show_default=True
)
@click.option(
    "--trials",
    "n_trials",
    type=int,
    default=20,
    show_default=True,
    help="Trials in the study in all (a rerun runs only the missing ones).",
)
@click.option(
    "--storage",
    default=None,
    help="optuna storage: a URL (sqlite:///x.db, postgresql://...), a .db file, "
    "or a journal file (default: OUTPUT/study.journal).",
)
@click.option("--study-name", default=None, help="Study in the storage (default: PLUGIN-tune).")
@click.option("--sampler", type=click.Choice(["tpe", "gp"]), default="tpe", show_default=True)
@click.option(
    "--workers",
    type=int,
    default=2,
    show_default=True,
    help="Dask LocalCluster workers (127.0.0.1); 0 runs the trials in this process.",
)
@click.option(
    "--scheduler", default=None, help="Address of an existing Dask scheduler to run the trials on."
)
@click.option(
    "--space",
    "space_file",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML/TOML file overriding the default search space.",
)
@click.option(
    "--warmup",
    type=int,
    default=None,
    help="Rounds/epochs before pruning may stop a trial (default 50 / 2).",
)
@click.option("--model-version", default="1.0.0", show_default=True)
@click.option(
    "--compare",
    "compare_glob",
    default=None,
    help="Glob of independent files: the tuned and the shipped model compared there.",
)
@click.option(
    "--pt-bins",
    default="500,550,650,700",
    show_default=True,
    help="pT bin edges of the comparison [GeV].",
)
@click.option("--n-bootstrap", type=int, default=200, show_default=True)
@settings_options
def tune(
    plugin: str,
    files: tuple[Path, ...],
    output: Path,
    n_trials: int,
    storage: str | None,
    study_name: str | None,
    sampler: str,
    workers: int,
    scheduler: str | None,
    space_file: Path | None,
    warmup: int | None,
    model_version: str,
    compare_glob: str | None,
    pt_bins: str,
    n_bootstrap: int,
    **options: Any,
) -> None:
    """Bayesian search (optuna) of PLUGIN's training hyper-parameters on FILES.

    Minimises the validation loss of PLUGIN's built-in trainer (xgboost:
    depth, learning rate, min child weight, subsample, colsample; torch:
    learning rate, weight decay, batch size), pruning trials whose loss per
    round/epoch is worse than the median. The study persists in --storage:
    rerunning the command resumes it. Writes OUTPUT/<model file> (the best
    trial's model, with metadata), OUTPUT/tune.md, tune.json, plots/ and
    trials/.
    """
    import optuna

    from ..tuning import compare, open_storage
    from ..tuning import tune as run_tune
    from ..tuning.report import write_report

    compare_files = sorted(Path(p) for p in glob.glob(compare_glob)) if compare_glob else []
    if compare_glob and not compare_files:
        msg = f"--compare {compare_glob!r} matches no file"
        raise JetplugError(msg)
    edges = parse_floats(pt_bins)
    settings = settings_from(options)
    result = run_tune(
        plugin,
        files,
        output,
        n_trials=n_trials,
        storage=storage,
        study_name=study_name,
        sampler=sampler,
        seed=settings.seed,
        workers=workers,
        scheduler=scheduler,
        space_file=space_file,
        settings=settings,
        warmup_steps=warmup,
        version=model_version,
        log=click.echo,
    )
    info: dict[str, Any] = {"files": len(files), "seed": settings.seed}
    comparison = None
    if compare_files:
        click.echo(f"comparing with the shipped {plugin} on {len(compare_files)} files")
        candidates = {f"{plugin}_tuned": result.artifact}
        if result.baseline is not None and result.baseline[0] != result.best_number:
            candidates[f"{plugin}_defaults"] = result.baseline[2]
        comparison = compare(
            plugin,
            candidates,
            compare_files,
            pt_bins=edges,
            eta_max=settings.eta_max,
            n_bootstrap=n_bootstrap,
        )
        info["compare"] = compare_glob
        info["comparison_sample"] = comparison.as_dict()
    study = optuna.load_study(study_name=result.study_name, storage=open_storage(result.storage))
    written = write_report(result, study, output, comparison, info)
    click.echo(written[0].read_text())
    click.echo(f"wrote {result.artifact} and {len(written)} report files in {output}")
    click.echo(json.dumps({"best_params": result.best_params, "best_value": result.best_value}))
