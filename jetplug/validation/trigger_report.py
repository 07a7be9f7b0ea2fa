"""Tables of the trigger view: working points at target rates, curves, the phase-space check.

Built on :mod:`jetplug.validation.trigger` (its module doc defines the rates,
decisions and efficiencies); :func:`trigger_report` makes the JSON-able report,
:func:`trigger_markdown` its tables, :func:`write_trigger` both files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import JetplugError
from ..generation.processes import PROCESSES
from .trigger import (
    CM2_PER_PB,
    SIGNALS,
    TriggerTable,
    efficiency,
    equal_rate_line,
    rate,
    threshold_at_rate,
)

__all__ = [
    "MAX_LOWEST_SHARE",
    "nonml_scores",
    "phase_space",
    "trigger_markdown",
    "trigger_report",
    "working_point",
    "write_trigger",
]

MAX_LOWEST_SHARE = 0.05
"""Above this share of the rate from the lowest QCD slice, the report warns."""
ZERO_EVENTS_95 = 3.0
"""Poisson 95 % upper limit on the mean when no event is seen."""


def nonml_scores(table: TriggerTable) -> dict[str, np.ndarray]:
    """The non-ML selections as event scores: leading-jet pT, and its m_SD above ``pt_min``."""
    above = table.lead_pt > table.pt_min
    return {
        "leading pT": np.where(above, table.lead_pt, -np.inf),
        "leading m_SD": np.where(above, table.lead_msd, -np.inf),
    }


def working_point(table: TriggerTable, score: np.ndarray, target: float) -> dict[str, Any]:
    """The cut on ``score`` at ``target`` Hz of QCD: the cut, rate and each signal's efficiency."""
    qcd = table.qcd
    cut = threshold_at_rate(score[qcd], table.weight[qcd], target)
    passed = score >= cut
    r, err = rate(table.weight[qcd], passed[qcd])
    return {
        "cut": cut,
        "rate": r,
        "rate_err": err,
        "eff": {
            name: efficiency(table.weight[table.of(p)], passed[table.of(p)])
            for name, p in table.signals.items()
        },
    }


def _line_point(table: TriggerTable, mass: float, pt: float, achieved: float) -> dict[str, Any]:
    passed = (table.lead_pt >= pt) & (table.lead_pt > table.pt_min) & (table.lead_msd >= mass)
    return {
        "mass_cut": mass,
        "pt_cut": pt,
        "rate": achieved,
        "eff": {
            name: efficiency(table.weight[table.of(p)], passed[table.of(p)])
            for name, p in table.signals.items()
        },
    }


def _round_rates(lo: float, hi: float) -> list[float]:
    """The rates 1, 2, 5 x 10^k in [lo, hi) (lines of equal rate to draw)."""
    out = []
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        out += [m * 10.0**k for m in (1, 2, 5) if lo <= m * 10.0**k < hi]
    return out


def _best(line: Sequence[dict[str, Any]], signal: str) -> dict[str, Any]:
    """The point of the equal-rate line with the highest efficiency for ``signal``."""
    effs = [p["eff"][signal][0] for p in line]
    return dict(line[int(np.nanargmax(effs))])


def phase_space(table: TriggerTable, thresholds: Sequence[float]) -> dict[str, Any]:
    """QCD rate with a leading FatJet above each threshold, per pT-hat slice.

    The slices miss everything below the lowest one's pT-hat: its share of the
    rate above a threshold bounds how much the (steeper-falling) missing part
    can add there. Where a slice has no event above a threshold, its rate is
    below ``limit_if_none`` at 95 % confidence (3 events of its largest weight).
    """
    qcd = [i for i, s in enumerate(table.samples) if PROCESSES[s.process].qcd]
    by_slice = {}
    limit = {}
    for i in qcd:
        mine = table.sample == i
        by_slice[table.samples[i].name] = [
            rate(table.weight[mine], table.lead_pt[mine] > x) for x in thresholds
        ]
        limit[table.samples[i].name] = ZERO_EVENTS_95 * float(np.max(table.weight[mine], initial=0))
    totals = [rate(table.weight[table.qcd], table.lead_pt[table.qcd] > x)[0] for x in thresholds]
    lowest = table.samples[min(qcd, key=lambda i: table.samples[i].pt_hat[0])] if qcd else None
    share = (
        [
            r[0] / t if t > 0 else math.nan
            for r, t in zip(by_slice[lowest.name], totals, strict=True)
        ]
        if lowest
        else []
    )
    return {
        "thresholds": list(thresholds),
        "by_slice": by_slice,
        "limit_if_none": limit,
        "total": totals,
        "lowest": lowest.name if lowest else None,
        "lowest_pt_hat": lowest.pt_hat[0] if lowest else None,
        "lowest_share": share,
    }


def trigger_report(
    table: TriggerTable,
    rates: Sequence[float],
    mass_cuts: Sequence[float] = tuple(range(0, 250, 5)),
    n_curve: int = 40,
) -> dict[str, Any]:
    """Working points at each target rate, efficiency-against-rate curves, phase-space check."""
    qcd = table.qcd
    if not qcd.any():
        msg = "--section trigger needs QCD files (the background whose rate is counted)"
        raise JetplugError(msg)
    if not table.signals:
        msg = f"--section trigger needs signal files ({', '.join(SIGNALS)})"
        raise JetplugError(msg)
    baseline = nonml_scores(table)
    everything = {**baseline, **table.scores}
    pre, pre_err = rate(table.weight[qcd], baseline["leading pT"][qcd] > -np.inf)
    points = []
    for target in rates:
        if target >= pre:
            msg = (
                f"target rate {target:g} Hz is not below the {pre:.3g} Hz of QCD events with a "
                f"FatJet above pT {table.pt_min:g} GeV: nothing to select"
            )
            raise JetplugError(msg)
        line = [_line_point(table, *p) for p in equal_rate_line(table, target, mass_cuts)]
        best = {name: _best(line, name) for name in table.signals}
        points.append(
            {
                "target": target,
                "selections": {k: working_point(table, v, target) for k, v in everything.items()},
                "line": line,
                "best_on_line": best,
            }
        )
    grid = np.geomspace(pre / 1000, pre, n_curve)
    curves = {k: [working_point(table, v, r) for r in grid] for k, v in everything.items()}
    lines = [
        {"rate": float(r), "line": [list(p) for p in equal_rate_line(table, r, mass_cuts)]}
        for r in sorted({*rates, *_round_rates(pre / 100, pre)}, reverse=True)
    ]
    thresholds = sorted({*np.arange(250.0, 1001.0, 25.0).tolist(), table.pt_min})
    weights = {
        s.name: {
            "process": s.process,
            "pt_hat": list(s.pt_hat),
            "files": len(s.files),
            "events": s.events,
            "xsec_pb": s.xsec_pb,
            "rate_hz": s.xsec_pb * table.luminosity * CM2_PER_PB,
        }
        for s in table.samples
    }
    return {
        "luminosity": table.luminosity,
        "pt_min": table.pt_min,
        "eta_max": table.eta_max,
        "samples": weights,
        "preselection": {
            "rate": pre,
            "rate_err": pre_err,
            "eff": working_point(table, baseline["leading pT"], pre * (1 + 1e-9))["eff"],
        },
        "phase_space": phase_space(table, thresholds),
        "points": points,
        "curves": curves,
        "lines": lines,
        "nonml": list(baseline),
    }


def _eff(value: Sequence[float]) -> str:
    e, err = value
    return "–" if math.isnan(e) else f"{e:.3f} ± {err:.3f}"


def _cut(value: float) -> str:
    return "none passes" if math.isinf(value) else f"{value:.4g}"


def trigger_markdown(report: dict[str, Any]) -> str:
    """The section's tables: slices, phase-space check, working points at each target rate."""
    lumi, pt_min = report["luminosity"], report["pt_min"]
    signals = list(report["preselection"]["eff"])
    out = [
        f"Instantaneous luminosity {lumi:.3g} cm⁻² s⁻¹; trigger FatJets: pT > {pt_min:g} GeV, "
        f"|η| < {report['eta_max']:g}. An ML selection passes an event when any trigger FatJet "
        "scores above its cut; the non-ML one when the leading FatJet has pT > P and "
        "m_SD > M. Efficiencies are over every generated event of the signal sample.",
        "",
        "| sample | files | events | σ [pb] | σ·L [Hz] |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in report["samples"].items():
        out.append(
            f"| {name} | {s['files']} | {s['events']} | {s['xsec_pb']:.4g} | {s['rate_hz']:.4g} |"
        )
    ps = report["phase_space"]
    shown = [i for i, x in enumerate(ps["thresholds"]) if x in {300, 400, pt_min, 600, 700}]
    out += [
        "",
        "QCD rate [Hz] with a leading FatJet above each pT, per pT-hat slice (the slices "
        f"cover pT-hat ≥ {ps['lowest_pt_hat']:g} GeV only; the lowest slice's share bounds "
        "what the missing part below it can add):",
        "",
        "| slice | " + " | ".join(f"pT > {ps['thresholds'][i]:g}" for i in shown) + " |",
        "|---|" + "---:|" * len(shown),
    ]
    for name, values in ps["by_slice"].items():
        cells = (
            f"{values[i][0]:.3g} ± {values[i][1]:.2g}"
            if values[i][0] > 0
            else f"0 (< {ps['limit_if_none'][name]:.2g})"
            for i in shown
        )
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("| all | " + " | ".join(f"{ps['total'][i]:.3g}" for i in shown) + " |")
    share = (f"{100 * ps['lowest_share'][i]:.1f} %" for i in shown)
    out.append(f"| share of {ps['lowest']} | " + " | ".join(share) + " |")
    at = ps["lowest_share"][ps["thresholds"].index(pt_min)]
    out += [
        "",
        "A slice with no event above a threshold shows its 95 % upper limit in brackets.",
    ]
    if at > MAX_LOWEST_SHARE:
        out += [
            "",
            f"**Warning**: the lowest QCD slice gives {100 * at:.0f} % of the rate above "
            f"pT {pt_min:g} GeV, so the pT-hat range below it (not in the inputs) may add a "
            "sizeable part: raise --pt-min or add a lower pT-hat slice.",
        ]
    pre = report["preselection"]
    out += [
        "",
        f"A FatJet above pT {pt_min:g} GeV alone: {pre['rate']:.3g} ± {pre['rate_err']:.2g} Hz; "
        + ", ".join(f"{n} {_eff(pre['eff'][n])}" for n in signals)
        + ".",
    ]
    for point in report["points"]:
        out += [
            "",
            f"**At {point['target']:g} Hz of QCD**",
            "",
            "| selection | cut | rate [Hz] | " + " | ".join(f"ε {n}" for n in signals) + " |",
            "|---|---:|---:|" + "---:|" * len(signals),
        ]
        for label, wp in point["selections"].items():
            what = f"{label} (no ML)" if label in report["nonml"] else label
            out.append(
                f"| {what} | {_cut(wp['cut'])} | {wp['rate']:.3g} ± {wp['rate_err']:.2g} | "
                + " | ".join(_eff(wp["eff"][n]) for n in signals)
                + " |"
            )
        best = point["best_on_line"]
        out.append(
            "| best (M, P) of equal rate, per signal (no ML) | | | "
            + " | ".join(
                f"{_eff(b['eff'][n])} (M {b['mass_cut']:.0f}, P {b['pt_cut']:.0f})"
                for n, b in ((n, best[n]) for n in signals)
            )
            + " |"
        )
    return "\n".join(out) + "\n"


def write_trigger(output: Path, report: dict[str, Any], info: dict[str, Any]) -> tuple[Path, Path]:
    """``trigger.md`` and ``trigger.json`` in ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    md = output / "trigger.md"
    js = output / "trigger.json"
    head = [
        "# Trigger view",
        "",
        f"Command: `{info['command']}`",
        "",
        f"{info['events']} events of {info['files']} files; plugins "
        + ", ".join(f"{n} {v}" for n, v in info["plugins"].items())
        + ".",
        "",
    ]
    md.write_text("\n".join(head) + trigger_markdown(report))
    js.write_text(json.dumps({"info": info, **report}, indent=1, default=float) + "\n")
    return md, js
