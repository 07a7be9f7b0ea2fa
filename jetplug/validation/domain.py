"""``jetplug validate --section domain``: taggers under a shift of the simulation.

Every top tagger trained on the default (source) simulation is evaluated on
the source's test sample and on one or more **target** samples made with one
setting changed (a parton-shower scale, a detector response), all through
the plugin chain the processor runs. Per tagger (a tagger with a λ scan,
output ``scores`` with labels, gives one point per working point):

* **R50** (top vs QCD, 1/εB at εS = 0.5) on the source and on each target,
  with bootstrap standard deviations, and the relative gap R50_target/R50_source − 1;
* **W1**, the Wasserstein-1 distance between the source's and the target's
  score distributions, for top jets and for QCD jets separately
  (:func:`jetplug.validation.distances.w1`, with a bootstrap standard
  deviation). It is the data/MC disagreement an analysis would pay: if the
  target were data and the source the simulation, a fit of the score
  distribution would carry a systematic of this size (W1 is the mean
  absolute shift of the score's quantiles, in score units: a score that
  moves by W1 moves every template by that much). Unlike a binned JSD it
  needs no binning and does not saturate when the distributions barely
  overlap; all taggers here output a probability in [0, 1], so their W1 compare;
* **SF**, the scale factor ε_target/ε_source of each class at the source's
  εS = 0.5 cut: what a tag-and-probe measurement in data would find.

Targets (issue 11), checked for each adapted tagger's working points
against its own λ = 0 point (the same network trained on the source alone):
close at least half of the source-to-target R50 gap **or** of the score
distance (mean W1 over the two classes), losing at most 10 % of the source R50.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..host import PluginHost
from ..metrics import rejection, tagging_metrics
from .collect import QCD, JetTable, discriminants
from .decorrelation import Variant
from .distances import w1
from .report import cut_at

__all__ = [
    "MAX_SOURCE_LOSS",
    "MIN_CLOSED",
    "domain_markdown",
    "domain_points",
    "domain_rows",
    "paired_ratio",
    "score_distance",
    "targets_markdown",
    "write_domain",
]

TOP = 1
MIN_CLOSED = 0.5
"""Fraction of the R50 gap or of the score distance an adapted tagger must close."""
MAX_SOURCE_LOSS = 0.1
"""Largest fractional loss of source R50 allowed for it."""


def domain_points(host: PluginHost, plugins: Sequence[str]) -> list[Variant]:
    """The top-vs-QCD scores of ``plugins``: one per tagger, one per working point of a scan."""
    out = []
    for d in discriminants(host, plugins):
        if d.signal != TOP:
            continue
        spec = host.models.get(d.plugin).spec
        scan = next((o for o in spec.outputs if o.name == "scores" and o.labels), None)
        if scan is None:
            out.append(Variant(d.name, TOP, d.plugin, d.column, d.signal_index, d.qcd_index))
            continue
        for i, label in enumerate(scan.labels or ()):
            out.append(Variant(f"{d.plugin}[{label}]", TOP, d.plugin, "scores", i, kind="scan"))
    return out


def score_distance(
    a: np.ndarray, b: np.ndarray, *, n_bootstrap: int = 0, seed: int = 0
) -> tuple[float, float]:
    """W1 between two samples of scores, and its bootstrap standard deviation (0 resamples: nan)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rng = np.random.default_rng(seed)
    boot = [
        w1(a[rng.integers(0, len(a), len(a))], b[rng.integers(0, len(b), len(b))])
        for _ in range(n_bootstrap)
    ]
    return w1(a, b), float(np.std(boot)) if boot else float("nan")


def _floor(a: np.ndarray, n_other: int, seed: int, splits: int = 10) -> float:
    """W1 of ``a`` against itself: the mean over ``splits`` random splits into two halves,
    scaled from their sizes to ``len(a)`` against ``n_other`` jets (the statistical noise
    of W1 goes as 1/√N)."""
    if len(a) < 4 or n_other < 1:
        return float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(splits):
        half = rng.permutation(len(a))
        values.append(w1(a[half[::2]], a[half[1::2]]))
    scale = np.sqrt((1 / len(a) + 1 / n_other) / (4 / len(a)))
    return float(scale * np.mean(values))


def paired_ratio(
    labels: np.ndarray, a: np.ndarray, b: np.ndarray, *, n_bootstrap: int = 100, seed: int = 0
) -> tuple[float, float]:
    """R50(a)/R50(b) on the same jets, with a paired bootstrap standard deviation (both
    scores resampled together: their common fluctuations cancel)."""
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, len(labels), len(labels))
        if labels[idx].min() == labels[idx].max():
            continue
        boot.append(_ratio(rejection(labels[idx], a[idx]), rejection(labels[idx], b[idx])))
    finite = [x for x in boot if np.isfinite(x)]
    value = _ratio(rejection(labels, a), rejection(labels, b))
    return value, float(np.std(finite)) if finite else float("nan")


def _labelled(table: JetTable, v: Variant) -> tuple[np.ndarray, np.ndarray]:
    truth = table.columns["truthLabel"]
    sel = np.isin(truth, [TOP, QCD])
    return (truth[sel] == TOP).astype(int), v.score(table)[sel]


def domain_rows(
    source: JetTable,
    targets: Mapping[str, JetTable],
    points: Sequence[Variant],
    *,
    n_bootstrap: int = 100,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per (point, target): R50 on both, the gap, W1 and SF per class."""
    rows = []
    n_w1 = max(n_bootstrap // 4, 0)
    on_source = {v.name: _labelled(source, v) for v in points}
    for v in points:
        labels, scores = on_source[v.name]
        src = tagging_metrics(labels, scores, n_bootstrap=n_bootstrap, seed=seed)
        cut = cut_at(scores[labels == 1], 0.5)
        raw = on_source.get(f"{v.plugin}[raw]") if v.kind == "scan" else None
        kept = (
            paired_ratio(labels, scores, raw[1], n_bootstrap=n_bootstrap, seed=seed)
            if raw is not None
            else (float("nan"), float("nan"))
        )
        for name, table in targets.items():
            t_labels, t_scores = _labelled(table, v)
            tgt = tagging_metrics(t_labels, t_scores, n_bootstrap=n_bootstrap, seed=seed)
            row: dict[str, Any] = {
                "name": v.name,
                "plugin": v.plugin,
                "kind": v.kind,
                "target": name,
                "r50_source": src.rejection,
                "r50_source_err": src.rejection_err,
                "r50_target": tgt.rejection,
                "r50_target_err": tgt.rejection_err,
                "gap": _ratio(tgt.rejection, src.rejection) - 1.0,
                "gap_err": _ratio(tgt.rejection, src.rejection)
                * float(
                    np.hypot(
                        _ratio(src.rejection_err, src.rejection),
                        _ratio(tgt.rejection_err, tgt.rejection),
                    )
                ),
                "r50_source_vs_raw": kept[0],
                "r50_source_vs_raw_err": kept[1],
                "n_source": [src.n_signal, src.n_background],
                "n_target": [tgt.n_signal, tgt.n_background],
            }
            for label, cls in ((1, "top"), (0, "qcd")):
                a, b = scores[labels == label], t_scores[t_labels == label]
                row[f"w1_{cls}"], row[f"w1_{cls}_err"] = score_distance(
                    a, b, n_bootstrap=n_w1, seed=seed
                )
                row[f"w1_{cls}_floor"] = _floor(a, len(b), seed)
                eff_src = float(np.mean(a > cut))
                row[f"sf_{cls}"] = float(np.mean(b > cut)) / eff_src if eff_src > 0 else np.nan
            for key in ("", "_floor"):
                row[f"w1{key}"] = 0.5 * (row[f"w1_top{key}"] + row[f"w1_qcd{key}"])
            row["w1_err"] = 0.5 * float(np.hypot(row["w1_top_err"], row["w1_qcd_err"]))
            rows.append(row)
    return rows


def _fmt(value: float, err: float, digits: int) -> str:
    return f"{value:.{digits}f} ± {err:.{digits}f}"


def domain_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """One table per target: R50 on both, gap, W1 per class, SF per class."""
    lines: list[str] = []
    for target in dict.fromkeys(r["target"] for r in rows):
        lines += [
            f"**target: {target}**",
            "",
            "| tagger | R50 source | R50 target | gap | W1 top [10⁻³] (floor) "
            "| W1 QCD [10⁻³] (floor) | SF top | SF QCD |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in (r for r in rows if r["target"] == target):
            lines.append(
                f"| {r['name']} | {_fmt(r['r50_source'], r['r50_source_err'], 0)} | "
                f"{_fmt(r['r50_target'], r['r50_target_err'], 0)} | "
                f"{_fmt(100 * r['gap'], 100 * r['gap_err'], 0)} % | "
                f"{_fmt(1e3 * r['w1_top'], 1e3 * r['w1_top_err'], 1)} "
                f"({1e3 * r['w1_top_floor']:.1f}) | "
                f"{_fmt(1e3 * r['w1_qcd'], 1e3 * r['w1_qcd_err'], 1)} "
                f"({1e3 * r['w1_qcd_floor']:.1f}) | "
                f"{r['sf_top']:.3f} | {r['sf_qcd']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines)


def _ratio(a: float, b: float) -> float:
    """a / b; nan where b is 0 or either is not finite (nothing to close)."""
    return a / b if b and np.isfinite(a) and np.isfinite(b) else float("nan")


def _significant(raw: Mapping[str, Any]) -> tuple[bool, bool]:
    """Whether the raw point's gap and W1 are shifts at all: the gap beyond 2σ of 0, W1
    beyond 2σ of its floor (two halves of the source)."""
    gap = abs(raw["gap"]) > 2 * raw["gap_err"]
    dist = raw["w1"] - raw["w1_floor"] > 2 * raw["w1_err"]
    return bool(gap), bool(dist)


def targets_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Each scanned tagger's working points against its ``raw`` point, per target.

    Only a significant shift (:func:`_significant`) can be closed: a criterion
    whose shift is not significant reads "n.s." and is not met.
    """
    lines: list[str] = []
    for target in dict.fromkeys(r["target"] for r in rows):
        mine = [r for r in rows if r["target"] == target and r["kind"] == "scan"]
        for plugin in dict.fromkeys(r["plugin"] for r in mine):
            points = [r for r in mine if r["plugin"] == plugin]
            raw = next((r for r in points if r["name"].endswith("[raw]")), None)
            if raw is None:
                continue
            gap_sig, w1_sig = _significant(raw)
            lines += [
                f"Targets for {plugin} on {target} (against {raw['name']}: gap "
                f"{100 * raw['gap']:+.0f} ± {100 * raw['gap_err']:.0f} %, W1 "
                f"{1e3 * raw['w1']:.1f} ± {1e3 * raw['w1_err']:.1f} ×10⁻³, floor "
                f"{1e3 * raw['w1_floor']:.1f}): close ≥ {MIN_CLOSED:.0%} of the R50 gap or of "
                f"W1, losing ≤ {MAX_SOURCE_LOSS:.0%} of the source R50.",
                "",
            ]
            if not (gap_sig or w1_sig):
                lines += ["Neither the gap nor W1 is a significant shift: nothing to close.", ""]
                continue
            lines += [
                "| point | gap closed | W1 closed | source R50 lost | met |",
                "|---|---:|---:|---:|:-:|",
            ]
            for r in points:
                if r is raw:
                    continue
                gap_closed = 1 - _ratio(abs(r["gap"]), abs(raw["gap"]))
                w1_closed = 1 - _ratio(r["w1"], raw["w1"])
                kept, lost_err = r["r50_source_vs_raw"], r["r50_source_vs_raw_err"]
                closed = (gap_sig and gap_closed >= MIN_CLOSED) or (
                    w1_sig and w1_closed >= MIN_CLOSED
                )
                met = closed and 1 - kept <= MAX_SOURCE_LOSS
                lines.append(
                    f"| {r['name']} | {f'{gap_closed:.0%}' if gap_sig else 'n.s.'} | "
                    f"{f'{w1_closed:.0%}' if w1_sig else 'n.s.'} | "
                    f"{1 - kept:.0%} ± {lost_err:.0%} | {'**yes**' if met else 'no'} |"
                )
            lines.append("")
    return "\n".join(lines)


def write_domain(
    output: Path, rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any]
) -> tuple[Path, Path]:
    """``domain.md`` and ``domain.json`` in ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    md, js = output / "domain.md", output / "domain.json"
    targets = ", ".join(f"{k} ({v['jets']} jets)" for k, v in info["targets"].items())
    head = [
        "# Domain-shift validation",
        "",
        f"Command: `{info['command']}`",
        "",
        f"Source: {info['source']['jets']} jets of {info['source']['files']} files; "
        f"targets: {targets}. Top vs QCD FatJets {info['pt_min']:g}–{info['pt_max']:g} GeV, "
        f"|η| < {info['eta_max']:g}. R50 = 1/εB at εS = 0.5; gap = R50 target / R50 source "
        "− 1; W1 = Wasserstein-1 distance between the source's and the target's score "
        "distributions of top (QCD) jets; SF = efficiency of top (QCD) jets in the target "
        "over the source at the source's εS = 0.5 cut. Bootstrap standard deviations "
        f"({info['n_bootstrap']} resamples for R50, a quarter as many for W1; the gap's "
        "error treats source and target as independent, the source R50 lost by a working "
        "point comes from a paired bootstrap on the same jets); W1 floor: W1 between two "
        "random halves of the source (mean of 10 splits) scaled to the sizes compared "
        "(what W1 reads without any shift).",
        "",
    ]
    body = domain_markdown(rows) + "\n" + targets_markdown(rows)
    md.write_text("\n".join(head) + "\n" + body)
    js.write_text(json.dumps({"info": info, "rows": list(rows)}, indent=1, default=float) + "\n")
    return md, js
