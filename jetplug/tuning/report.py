"""The report of ``jetplug tune``: ``tune.md``, ``tune.json`` and plots.

Best parameters and validation loss, trials per state (complete, pruned,
failed), parameter importances (optuna's fANOVA), and plots: the
optimisation history, the importances, and every trial's validation loss per
boosting round / epoch (the curves the pruner judged).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from ..validation.report import markdown_table
from .compare import Comparison
from .study import TuneResult

__all__ = ["importances", "write_report"]


def importances(study: Any) -> dict[str, float]:
    """optuna's parameter importances (fANOVA); empty with fewer than two complete trials."""
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2 or len({json.dumps(t.params, sort_keys=True) for t in complete}) < 2:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {k: float(v) for k, v in values.items()}


def _history(study: Any, out: Path) -> Path:
    from optuna.trial import TrialState

    fig, ax = plt.subplots(figsize=(6, 4))
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    ax.scatter([t.number for t in done], [t.value for t in done], s=14, label="complete")
    pruned = [t for t in trials if t.state == TrialState.PRUNED and t.intermediate_values]
    ax.scatter(
        [t.number for t in pruned],
        [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
        s=14,
        marker="x",
        color="grey",
        label="pruned (last reported)",
    )
    if done:
        order = sorted(done, key=lambda t: t.number)
        best = np.minimum.accumulate([t.value for t in order])
        ax.step([t.number for t in order], best, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation loss")
    ax.legend(frameon=False)
    path = out / "history.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _importances(values: dict[str, float], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * max(len(values), 1)))
    names = list(values)[::-1]
    ax.barh(names, [values[n] for n in names])
    ax.set_xlabel("importance (fANOVA) for the validation loss")
    path = out / "importances.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _curves(study: Any, out: Path) -> Path:
    from optuna.trial import TrialState

    fig, ax = plt.subplots(figsize=(6, 4))
    for t in study.get_trials(deepcopy=False):
        if not t.intermediate_values:
            continue
        steps = sorted(t.intermediate_values)
        pruned = t.state == TrialState.PRUNED
        ax.plot(
            [s + 1 for s in steps],
            [t.intermediate_values[s] for s in steps],
            color="grey" if pruned else "C0",
            alpha=0.5 if pruned else 0.8,
            lw=0.8,
        )
    ax.set_xscale("log")
    ax.set_xlabel("boosting round / epoch")
    ax.set_ylabel("validation loss (blue: complete, grey: pruned)")
    path = out / "curves.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def write_report(
    result: TuneResult,
    study: Any,
    outdir: Path,
    comparison: Comparison | None = None,
    info: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``tune.md``, ``tune.json`` and ``plots/``; returns the written paths."""
    plots_dir = outdir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    imp = importances(study)
    plots = [_history(study, plots_dir), _curves(study, plots_dir)]
    if imp:
        plots.append(_importances(imp, plots_dir))
    job = result.job
    report = {
        **(info or {}),
        "plugin": job.plugin,
        "study": result.study_name,
        "sampler": job.sampler,
        "pruner": f"median, after {job.warmup_steps} steps, 5 startup trials",
        "objective": "validation loss (val split), minimised",
        "n_trials": result.n_trials,
        "trials": result.states,
        "best_trial": result.best_number,
        "best_value": result.best_value,
        "best_params": result.best_params,
        "space": {k: p.describe() for k, p in job.space.items()},
        "importances": imp,
        "artifact": result.artifact.name,
        "baseline": None
        if result.baseline is None
        else {"trial": result.baseline[0], "value": result.baseline[1]},
        "comparison": None
        if comparison is None
        else {**comparison.as_dict(), "rows": [vars(r) for r in comparison.rows]},
    }
    js = outdir / "tune.json"
    js.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
    md = outdir / "tune.md"
    md.write_text(_markdown(report, comparison, [p.relative_to(outdir) for p in plots]))
    return [md, js, *plots]


def _against_baseline(report: dict[str, Any]) -> str:
    base = report["baseline"]
    if base is None:
        return ""
    return f"; trial {base['trial']}, the trainer's default settings: {base['value']:.5f}"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _markdown(report: dict[str, Any], comparison: Comparison | None, plots: list[Path]) -> str:
    states = report["trials"]
    lines = [
        f"# jetplug tune {report['plugin']}",
        "",
        f"Study `{report['study']}`, sampler {report['sampler']}, pruner "
        f"{report['pruner']}; objective: {report['objective']}.",
        f"Trials: {states['complete']} complete, {states['pruned']} pruned, "
        f"{states['fail']} failed (target {report['n_trials']}).",
        "",
        f"Best: trial {report['best_trial']}, validation loss {report['best_value']:.5f}"
        + _against_baseline(report)
        + ".",
        "",
        "| parameter | searched | best | importance |",
        "|---|---|---|---|",
    ]
    for name, searched in report["space"].items():
        best = report["best_params"].get(name, searched.removeprefix("= "))
        imp = report["importances"].get(name)
        lines.append(
            f"| `{name}` | {searched} | {_fmt(best)} | {'' if imp is None else f'{imp:.2f}'} |"
        )
    if comparison is not None:
        lines += [
            "",
            f"On the comparison sample `{report.get('compare', 'independent files')}` "
            f"({comparison.jets} signal and QCD jets), R50 over the shipped "
            f"`{report['plugin']}`'s on the same jets (paired bootstrap): "
            + ", ".join(
                f"`{name}` {ratio:.2f} ± {err:.2f}"
                for name, (ratio, err) in comparison.ratios.items()
            )
            + ".",
            "",
            markdown_table(comparison.rows).strip(),
        ]
    lines += ["", "Plots (next to this report): " + ", ".join(f"`{p}`" for p in plots), ""]
    return "\n".join(lines)
