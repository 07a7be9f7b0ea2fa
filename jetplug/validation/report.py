"""Metrics per tagger, signal and pT bin, and the markdown/JSON report.

Per row: AUC and R50 = 1/εB at εS = 0.5 with bootstrap standard deviations
(:func:`jetplug.metrics.tagging_metrics`), R30 only where the background
holds at least :data:`R30_MIN_BACKGROUND` jets (its statistical error is
otherwise too large), and 1/JSD50, the inverse base-2 Jensen–Shannon
divergence of the QCD soft-drop mass distributions that pass and fail the
εS = 0.5 cut (5 GeV bins, 50–300 GeV): larger means less mass sculpting.
With a reference tagger, each row also gets R50 / R50(reference) on the same
jets, the number the claims "network beats BDT by ×N" are about.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import tagging_metrics
from .collect import CLASS_NAMES, QCD, Discriminant, JetTable

__all__ = [
    "MASS_WINDOW",
    "R30_MIN_BACKGROUND",
    "Row",
    "baseline_tau32",
    "cut_at",
    "evaluate",
    "inverse_jsd",
    "r50_ratios",
    "scores_of",
    "write_report",
]

R30_MIN_BACKGROUND = 100_000
MASS_WINDOW = (105.0, 210.0)
"""Soft-drop mass window of the τ32 baseline [GeV]."""
BASELINE = "tau32+mSD"
_MASS_BINS = np.arange(50.0, 305.0, 5.0)


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    tagger: str
    signal: str
    pt_bin: str
    auc: float
    auc_err: float
    r50: float
    r50_err: float
    r30: float | None
    r30_err: float | None
    inv_jsd50: float
    n_signal: int
    n_background: int
    r50_ratio: float | None = None
    r50_ratio_err: float | None = None
    """R50 over the reference tagger's R50 in the same signal and pT bin."""


def baseline_tau32(table: JetTable) -> np.ndarray:
    """1 − τ32 inside the m_SD window, −1 outside (the cut-based top tagger)."""
    c = table.columns
    tau32 = np.divide(
        c["tau3"], c["tau2"], out=np.ones_like(c["tau3"], dtype=np.float64), where=c["tau2"] > 0
    )
    inside = (c["msoftdrop"] > MASS_WINDOW[0]) & (c["msoftdrop"] < MASS_WINDOW[1])
    return np.where(inside, 1.0 - tau32, -1.0)


def scores_of(table: JetTable, discs: Sequence[Discriminant]) -> dict[tuple[str, int], np.ndarray]:
    """``(tagger name, signal truth) -> score per jet``, the τ32 baseline included."""
    out = {(d.name, d.signal): d.score(table.outputs[f"{d.plugin}.{d.column}"]) for d in discs}
    out[(BASELINE, 1)] = baseline_tau32(table)
    return out


def cut_at(signal_scores: np.ndarray, eff_s: float) -> float:
    """The score cut that keeps a fraction ``eff_s`` of the signal jets."""
    return float(np.quantile(signal_scores, 1.0 - eff_s))


def inverse_jsd(mass: np.ndarray, passed: np.ndarray) -> float:
    """1/JSD (base 2) of the normalised m_SD histograms of passing and failing QCD jets."""
    p, _ = np.histogram(mass[passed], _MASS_BINS)
    q, _ = np.histogram(mass[~passed], _MASS_BINS)
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    jsd = 0.5 * kl(p) + 0.5 * kl(q)
    return float(1.0 / jsd) if jsd > 0 else float("inf")


def evaluate(
    table: JetTable,
    discs: Sequence[Discriminant],
    pt_bins: Sequence[float],
    *,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> list[Row]:
    """Rows for every discriminant and signal, per pT bin and over all bins."""
    truth = table.columns["truthLabel"]
    pt = table.columns["pt"]
    mass = table.columns["msoftdrop"]
    edges = list(pt_bins)
    ranges = [(lo, hi) for lo, hi in itertools.pairwise(edges)]
    if len(ranges) > 1:
        ranges.append((edges[0], edges[-1]))
    inclusive = (edges[0], edges[-1])
    rows = []
    for (name, signal), score in scores_of(table, discs).items():
        for lo, hi in ranges:
            sel = (pt > lo) & (pt < hi) & np.isin(truth, [signal, QCD])
            labels = (truth[sel] == signal).astype(int)
            if labels.sum() < 10 or (labels == 0).sum() < 10:
                continue
            s = score[sel]
            m50 = tagging_metrics(labels, s, eff_s=0.5, n_bootstrap=n_bootstrap, seed=seed)
            r30 = r30_err = None
            if m50.n_background >= R30_MIN_BACKGROUND:
                m30 = tagging_metrics(labels, s, eff_s=0.3, n_bootstrap=n_bootstrap, seed=seed)
                r30, r30_err = m30.rejection, m30.rejection_err
            qcd = labels == 0
            passed = s[qcd] > cut_at(s[labels == 1], 0.5)
            rows.append(
                Row(
                    tagger=name,
                    signal=CLASS_NAMES[signal],
                    pt_bin=f"{lo:g}-{hi:g}" + (" (all)" if (lo, hi) == inclusive else ""),
                    auc=m50.auc,
                    auc_err=m50.auc_err,
                    r50=m50.rejection,
                    r50_err=m50.rejection_err,
                    r30=r30,
                    r30_err=r30_err,
                    inv_jsd50=inverse_jsd(mass[sel][qcd], passed),
                    n_signal=m50.n_signal,
                    n_background=m50.n_background,
                )
            )
    return rows


def r50_ratios(rows: Sequence[Row], reference: str) -> list[Row]:
    """``rows`` with R50 / R50(``reference``) of the same signal and pT bin.

    The uncertainty adds the two relative bootstrap errors in quadrature
    (conservative: both taggers are evaluated on the same jets). Rows
    without a reference row in their bin are returned unchanged.
    """
    from dataclasses import replace

    refs = {(r.signal, r.pt_bin): r for r in rows if r.tagger == reference}
    out = []
    for r in rows:
        ref = refs.get((r.signal, r.pt_bin))
        if ref is None or not (np.isfinite(ref.r50) and ref.r50 > 0 and np.isfinite(r.r50)):
            out.append(r)
            continue
        ratio = r.r50 / ref.r50
        rel = np.hypot(r.r50_err / r.r50 if r.r50 > 0 else 0.0, ref.r50_err / ref.r50)
        out.append(replace(r, r50_ratio=ratio, r50_ratio_err=float(ratio * rel)))
    return out


def _fmt(value: float | None, err: float | None, digits: int) -> str:
    if value is None:
        return "—"
    if not np.isfinite(value):
        return "∞"
    return f"{value:.{digits}f} ± {err:.{digits}f}" if err is not None else f"{value:.{digits}f}"


def markdown_table(rows: Sequence[Row]) -> str:
    """Rows grouped by signal and pT bin, best R50 first."""
    lines = [
        "| signal vs QCD | pT [GeV] | tagger | AUC | R50 | R50 / ref | R30 | 1/JSD50 "
        "| N sig | N bkg |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]

    def key(r: Row) -> tuple[bool, str, bool, float, float]:
        lo = float(r.pt_bin.split("-")[0])
        return (r.signal != "top", r.signal, r.pt_bin.endswith("(all)"), lo, -r.r50)

    for r in sorted(rows, key=key):
        lines.append(
            f"| {r.signal} | {r.pt_bin} | {r.tagger} | {_fmt(r.auc, r.auc_err, 4)} "
            f"| {_fmt(r.r50, r.r50_err, 0)} | {_fmt(r.r50_ratio, r.r50_ratio_err, 2)} "
            f"| {_fmt(r.r30, r.r30_err, 0)} "
            f"| {r.inv_jsd50:.1f} | {r.n_signal} | {r.n_background} |"
        )
    return "\n".join(lines)


def write_report(
    output: Path, rows: Sequence[Row], info: dict[str, Any], extra_md: str = ""
) -> tuple[Path, Path]:
    """``validation.json`` (rows + run info) and ``validation.md``; returns both paths."""
    output.mkdir(parents=True, exist_ok=True)
    js = output / "validation.json"
    js.write_text(
        json.dumps({"info": info, "rows": [asdict(r) for r in rows]}, indent=2, default=str) + "\n"
    )
    md = output / "validation.md"
    head = [
        "# Tagger validation",
        "",
        f"Regenerated by `{info['command']}`; do not edit. FILES: "
        + ", ".join(f"{n} in `{d}/`" for d, n in info.get("inputs", {}).items())
        + ".",
        "",
        f"Held-out sample: split `{info['split']}` of {info['files']} files "
        f"({info['events']} events), FatJets with |η| < {info['eta_max']:g}. "
        "R50/R30 = 1/εB at εS = 0.5/0.3 with bootstrap standard deviations "
        f"({info['n_bootstrap']} resamplings); R30 only with ≥ {R30_MIN_BACKGROUND} "
        "background jets. 1/JSD50: mass sculpting of QCD at εS = 0.5 (larger is "
        f"better). `{BASELINE}`: 1 − τ32 in {MASS_WINDOW[0]:g} < m_SD < "
        f"{MASS_WINDOW[1]:g} GeV. Multi-class taggers use p_s / (p_s + p_QCD). "
        f"R50 / ref: R50 over that of `{info.get('reference') or '—'}` on the same jets "
        "(errors added in quadrature).",
        "",
        markdown_table(rows),
        "",
    ]
    md.write_text("\n".join(head) + extra_md)
    return md, js
