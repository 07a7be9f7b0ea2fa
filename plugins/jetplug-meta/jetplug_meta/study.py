"""The few-shot study of docs/meta.md: scratch vs pooled + fine-tuning vs MAML + fine-tuning.

For each K (labelled jets of the held-out signal, half signal, half QCD) and
each of ``repeats`` disjoint support sets (:func:`jetplug.training.meta.support_sets`),
every starting point gets **the same** adaptation (:func:`jetplug_meta.adapt.adapt_network`:
full-batch gradient descent, fixed steps and learning rate) and is scored on
the evaluation jets (an independent sample, never used for adaptation):
AUC and R50 = 1/εB at εS = 0.5 (:func:`jetplug.metrics.rejection`). The
summary gives mean ± standard deviation over the support draws.

* ``scratch``: a fresh random network (seeded per draw) with the shared input
  standardisation (label-free: the mean and std of unlabelled jets);
* ``pooled``: pre-trained on all meta-training tasks pooled;
* ``maml`` (``fomaml``, ``reptile``): the meta-learned initialisations.

The paired comparison (:func:`paired`) sets each start against ``pooled``
draw by draw: both adapted on the same K jets, so the draw-to-draw spread of
the support sets cancels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from jetplug.metrics import rejection

from .adapt import adapt_network
from .common import build_network

__all__ = [
    "METHODS",
    "StudySettings",
    "paired",
    "plot_r50",
    "report",
    "run_study",
    "study_files",
    "summarise",
]

METHODS = {
    "scratch": "from scratch",
    "pooled": "pooled pre-training + fine-tuning",
    "maml": "MAML + fine-tuning",
    "fomaml": "first-order MAML + fine-tuning",
    "reptile": "Reptile + fine-tuning",
}


def study_files(
    train: Path, independent: Path, support_seeds: Sequence[int]
) -> tuple[list[Path], list[Path]]:
    """The support-pool files (W+jets and QCD of ``support_seeds`` under ``train``) and the
    evaluation files (every W+jets and QCD file under ``independent``).

    Refuses (``ValueError``) an empty side or a file on both sides: the K-shot
    jets must never be evaluated on.
    """
    support = sorted(
        f
        for s in ("wjets", "qcd")
        for seed in support_seeds
        for f in (train / s).glob(f"*_s{seed}_*.root")
    )
    evaluation = sorted(f for s in ("wjets", "qcd") for f in (independent / s).glob("*.root"))
    if not support or not evaluation:
        msg = (
            f"no support files under {train} (seeds {list(support_seeds)}) "
            f"or none under {independent}"
        )
        raise ValueError(msg)
    shared = {f.resolve() for f in support} & {f.resolve() for f in evaluation}
    if shared:
        msg = f"support and evaluation files overlap: {sorted(map(str, shared))[:3]} ..."
        raise ValueError(msg)
    return support, evaluation


@dataclass(frozen=True)
class StudySettings:
    """K values, support draws per K, the adaptation (same for every start) and the seed."""

    ks: tuple[int, ...] = (10, 100, 1000)
    repeats: int = 10
    steps: tuple[int, ...] = (100, 1000)
    """Adaptation lengths: the first is the main protocol, the others a sensitivity check."""
    lr: float = 0.1
    seed: int = 0


def _scores(net: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.asarray(net(torch.as_tensor(x, dtype=torch.float32)).numpy(), np.float64)


def _scratch(reference: Any, seed: int) -> Any:
    """A random network (seeded) with ``reference``'s input standardisation."""
    import torch

    torch.manual_seed(seed)
    net = build_network()
    net.mean.copy_(reference.mean)
    net.std.copy_(reference.std)
    return net


def run_study(
    starts: Mapping[str, Any],
    support: tuple[np.ndarray, np.ndarray],
    evaluation: tuple[np.ndarray, np.ndarray],
    settings: StudySettings,
    *,
    log: Any = print,
) -> list[dict[str, Any]]:
    """One row per (K, draw, method): AUC and R50 on ``evaluation`` after adaptation.

    ``starts`` maps a method name to its starting network (``pooled``,
    ``maml``, ...); ``scratch`` is added, a new random network per draw with
    the first start's standardisation. ``support`` and ``evaluation`` are
    (features, 0/1 labels); K-shot support sets are drawn disjoint and
    balanced from ``support``. K = 0 rows (no adaptation) are added for
    every given start.
    """
    from jetplug.training.meta import support_sets

    reference = next(iter(starts.values()))
    x_eval, y_eval = evaluation
    rows: list[dict[str, Any]] = []

    def score(method: str, k: int, draw: int, net: Any, steps: int = 0) -> None:
        s = _scores(net, x_eval)
        rows.append(
            {
                "method": method,
                "k": k,
                "steps": steps,
                "draw": draw,
                "auc": float(roc_auc_score(y_eval, s)),
                "r50": rejection(y_eval, s, 0.5),
            }
        )

    for method, start in starts.items():
        score(method, 0, 0, start)
    rng = np.random.default_rng(settings.seed)
    for k in settings.ks:
        for draw, idx in enumerate(support_sets(support[1], k, settings.repeats, rng)):
            x, y = support[0][idx], support[1][idx]
            nets = {"scratch": _scratch(reference, settings.seed + 1000 * k + draw), **starts}
            for method, start in nets.items():
                for steps in settings.steps:
                    tuned = adapt_network(start, x, y, steps=steps, lr=settings.lr)
                    score(method, k, draw, tuned, steps)
        done = [r for r in rows if r["k"] == k and r["steps"] == settings.steps[0]]
        log(
            f"K = {k}: "
            + ", ".join(
                f"{m} R50 {np.mean([r['r50'] for r in done if r['method'] == m]):.1f}"
                for m in ("scratch", *starts)
            )
        )
    return rows


def _order(method: str) -> int:
    return list(METHODS).index(method) if method in METHODS else len(METHODS)


def summarise(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation of AUC and R50 over draws, per (steps, K, method)."""
    out = []
    keys = sorted(
        {(r["steps"], r["k"], r["method"]) for r in rows},
        key=lambda t: (t[0], t[1], _order(t[2]), t[2]),
    )
    for steps, k, method in keys:
        mine = [r for r in rows if r["k"] == k and r["method"] == method and r["steps"] == steps]
        auc = np.array([r["auc"] for r in mine])
        r50 = np.array([r["r50"] for r in mine])
        out.append(
            {
                "method": method,
                "k": k,
                "steps": steps,
                "draws": len(mine),
                "auc": float(auc.mean()),
                "auc_std": float(auc.std()),
                "r50": float(r50.mean()),
                "r50_std": float(r50.std()),
                "r50_min": float(r50.min()),
                "r50_max": float(r50.max()),
            }
        )
    return out


def report(
    summary: Sequence[Mapping[str, Any]],
    *,
    command: str,
    n_signal: int,
    n_background: int,
    settings: StudySettings,
    pairs: Sequence[Mapping[str, Any]] = (),
    title: str = "Few-shot W tagging",
) -> str:
    """The markdown tables of the study (what docs/meta.md splices in)."""
    main = settings.steps[0]
    lines = [
        f"# {title}",
        "",
        f"Command: `{command}`",
        "",
        f"Evaluated on {n_signal} W and {n_background} QCD jets of the independent sample "
        "(500–700 GeV, |η| < 2). Each start adapted by the same "
        f"{main} steps of full-batch gradient descent (lr {settings.lr}) on K "
        f"labelled jets (K/2 W, K/2 QCD); mean ± std over {settings.repeats} disjoint "
        "support draws, and the range of R50. K = 0: the start itself, no adaptation.",
        "",
        "| K | method | R50 | R50 range | AUC |",
        "|---:|---|---:|---:|---:|",
    ]
    for row in summary:
        if row["steps"] not in (0, main):
            continue
        spread = f"{row['r50_min']:.1f}–{row['r50_max']:.1f}" if row["draws"] > 1 else ""
        err = f" ± {row['r50_std']:.1f}" if row["draws"] > 1 else ""
        auc_err = f" ± {row['auc_std']:.3f}" if row["draws"] > 1 else ""
        lines.append(
            f"| {row['k']} | {_label(row)} | "
            f"{row['r50']:.1f}{err} | {spread} | {row['auc']:.3f}{auc_err} |"
        )
    if pairs:
        lines += [
            "",
            "Draw by draw against pooled pre-training + fine-tuning (both adapted on the same "
            "K jets): the number of draws where the start gives the higher R50, and the mean "
            "ratio of the two R50 ± its standard error.",
            "",
            "| K | start | steps | higher R50 | R50 / pooled's |",
            "|---:|---|---:|---:|---:|",
        ]
        for p in pairs:
            if p["method"] == "scratch":
                continue
            lines.append(
                f"| {p['k']} | {p['method']} | {p['steps']} | {p['wins']} of {p['draws']} | "
                f"{p['ratio']:.2f} ± {p['ratio_err']:.2f} |"
            )
    if len(settings.steps) > 1:
        lines += [
            "",
            "Sensitivity to the adaptation length (same draws, same learning rate): "
            "mean R50 ± std after each number of steps.",
            "",
            "| K | method | " + " | ".join(f"{n} steps" for n in settings.steps) + " |",
            "|---:|---|" + "---:|" * len(settings.steps),
        ]
        cells = {(r["k"], r["method"], r["steps"]): r for r in summary}
        for k, method in dict.fromkeys((r["k"], r["method"]) for r in summary if r["k"] > 0):
            values = [cells.get((k, method, n)) for n in settings.steps]
            lines.append(
                f"| {k} | {METHODS.get(method, f'{method} + fine-tuning')} | "
                + " | ".join(f"{v['r50']:.1f} ± {v['r50_std']:.1f}" if v else "" for v in values)
                + " |"
            )
    return "\n".join(lines) + "\n"


def paired(rows: Sequence[Mapping[str, Any]], reference: str = "pooled") -> list[dict[str, Any]]:
    """Each start against ``reference``, draw by draw (same K jets): wins and mean R50 ratio."""
    cell = {(r["method"], r["k"], r["draw"], r["steps"]): r["r50"] for r in rows}
    out = []
    keys = sorted(
        {(r["steps"], r["k"], r["method"]) for r in rows if r["k"] > 0},
        key=lambda t: (t[0], t[1], _order(t[2]), t[2]),
    )
    for steps, k, method in keys:
        if method == reference:
            continue
        pairs = [
            (v, cell[(reference, kk, d, st)])
            for (m, kk, d, st), v in cell.items()
            if m == method and kk == k and st == steps and (reference, kk, d, st) in cell
        ]
        ratio = np.array([a / b for a, b in pairs])
        out.append(
            {
                "method": method,
                "k": k,
                "steps": steps,
                "draws": len(pairs),
                "wins": int(sum(a > b for a, b in pairs)),
                "ratio": float(ratio.mean()),
                "ratio_err": float(ratio.std() / np.sqrt(max(len(ratio) - 1, 1))),
            }
        )
    return out


def _label(row: Mapping[str, Any]) -> str:
    method = str(row["method"])
    if row["k"] == 0:
        alone = {
            "pooled": "pooled pre-training",
            "maml": "MAML start",
            "fomaml": "first-order MAML start",
            "reptile": "Reptile start",
        }
        return f"{alone.get(method, method + ' start')} alone"
    return METHODS.get(method, f"{method} + fine-tuning")


def plot_r50(
    summary: Sequence[Mapping[str, Any]], out: Path, title: str, steps: Sequence[int]
) -> Path:
    """R50 (mean ± std over draws) against K for each method, log-log.

    Solid: the main adaptation length ``steps[0]``; dashed: the longest other one.
    """
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    ax.set_ylim(2, 120)
    lengths = [steps[0], *([max(steps[1:])] if len(steps) > 1 else [])]
    for i, method in enumerate(METHODS):
        dashed = method in ("scratch", "pooled", "maml")
        for n, style in zip(lengths if dashed else lengths[:1], ("-", "--"), strict=False):
            pts = [r for r in summary if r["method"] == method and r["k"] > 0 and r["steps"] == n]
            if not pts:
                continue
            ks = np.array([r["k"] for r in pts], float) * (1.0 + 0.04 * (i - 1))
            ax.errorbar(
                ks,
                [r["r50"] for r in pts],
                yerr=[r["r50_std"] for r in pts],
                marker="os^Dv"[i % 5],
                capsize=3,
                color=f"C{i}",
                linestyle=style,
                label=f"{METHODS[method]} ({n} steps)",
            )
        zero = [r for r in summary if r["method"] == method and r["k"] == 0]
        if zero:
            ax.axhline(
                zero[0]["r50"],
                color=f"C{i}",
                linestyle=":",
                linewidth=1,
                label=f"{method} start, no adaptation",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(mpl.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.set_yticks([2, 5, 10, 20, 50, 100])
    ax.set_xlabel("K (labelled W + QCD jets)")
    ax.set_ylabel("R50 = 1/εB at εS = 0.5 (independent sample)")
    ax.set_title(title, loc="right", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def write_json(path: Path, rows: Sequence[Mapping[str, Any]], **info: Any) -> None:
    """Every row and the settings, for re-plotting without rerunning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**info, "rows": list(rows)}, indent=1, default=str) + "\n")
