"""``jetplug validate --section decorrelation``: rejection against mass sculpting.

The decorrelation literature's two numbers (e.g. the ATLAS and CMS
W-tagging studies, Kasieczka & Shih arXiv:2001.05310), at the cut that keeps
εS = 0.5 of the signal:

* **R50** = 1/εB, the QCD rejection;
* **1/JSD50**, the inverse base-2 Jensen–Shannon divergence between the
  normalised QCD soft-drop-mass histograms (50–300 GeV, 5 GeV bins) of the
  jets that pass and that fail the cut (:func:`jetplug.validation.report.inverse_jsd`):
  larger means less sculpting;

each with a bootstrap standard deviation (jets resampled, the cut found
again in every resample). Every tagger and decorrelated variant is a point
on the R50-vs-1/JSD50 plane; the Pareto front is the set no other point
beats in both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..host import PluginHost
from ..spec import Kind
from .collect import CLASS_NAMES, QCD, JetTable, discriminants
from .report import cut_at, inverse_jsd

__all__ = [
    "BASELINES",
    "DecorrelationResult",
    "Variant",
    "decorrelation_metrics",
    "decorrelation_rows",
    "inverse_jsd_floor",
    "pareto_front",
    "targets_markdown",
    "variants",
    "write_decorrelation",
]

BASELINES: dict[int, dict[str, tuple[str, str | None]]] = {
    2: {"tau21": ("tau2", "tau1"), "n2b1": ("n2b1", None)},
    1: {"tau32": ("tau3", "tau2")},
}
"""Plain substructure variables of each signal (lower is signal-like): numerator, denominator."""


@dataclass(frozen=True)
class DecorrelationResult:
    """R50 and 1/JSD50 at εS = ``eff_s`` with bootstrap standard deviations."""

    r50: float
    r50_err: float
    inv_jsd50: float
    inv_jsd50_err: float
    cut: float
    n_signal: int
    n_background: int
    inv_jsd50_floor: float = float("nan")
    """1/JSD50 of a cut that ignores the mass: random QCD jets, as many as pass
    (mean of :data:`FLOOR_DRAWS`). Finite samples cap 1/JSD50 near it: a point
    there is flat within the sample's statistics."""


FLOOR_DRAWS = 20
"""Random cuts averaged for :attr:`DecorrelationResult.inv_jsd50_floor`."""


def inverse_jsd_floor(
    qcd_mass: np.ndarray, n_pass: int, rng: np.random.Generator, draws: int = FLOOR_DRAWS
) -> float:
    """Mean 1/JSD of ``draws`` random cuts passing ``n_pass`` of the QCD jets ``qcd_mass``.

    What 1/JSD50 reads for a perfectly decorrelated tagger with the same
    rejection on a sample this size: the statistical ceiling of the metric.
    """
    if not 0 < n_pass < len(qcd_mass):
        return float("nan")
    values = []
    for _ in range(draws):
        passed = np.zeros(len(qcd_mass), bool)
        passed[rng.choice(len(qcd_mass), n_pass, replace=False)] = True
        values.append(inverse_jsd(qcd_mass, passed))
    return float(np.mean(values))


def _point(
    labels: np.ndarray, scores: np.ndarray, mass: np.ndarray, eff_s: float
) -> tuple[float, float, float]:
    signal, qcd = labels == 1, labels == 0
    cut = cut_at(scores[signal], eff_s)
    passed = scores[qcd] > cut
    eff_b = passed.mean() if qcd.any() else float("nan")
    r = float(1.0 / eff_b) if eff_b > 0 else float("inf")
    return r, inverse_jsd(mass[qcd], passed), cut


def decorrelation_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    mass: np.ndarray,
    *,
    eff_s: float = 0.5,
    n_bootstrap: int = 100,
    seed: int = 0,
) -> DecorrelationResult:
    """R50 (= 1/εB) and 1/JSD50 of ``scores`` (higher: signal-like) at εS = ``eff_s``.

    The cut keeps the fraction ``eff_s`` of signal jets (labels 1); εB is the
    fraction of QCD jets (labels 0) above it and the JSD compares the QCD
    ``mass`` of the jets above and below it.
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, np.float64)
    mass = np.asarray(mass, np.float64)
    r, j, cut = _point(labels, scores, mass, eff_s)
    rng = np.random.default_rng(seed)
    rs, js = [], []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, len(labels), len(labels))
        if labels[idx].min() == labels[idx].max():
            continue
        br, bj, _ = _point(labels[idx], scores[idx], mass[idx], eff_s)
        rs.append(br)
        js.append(bj)

    def err(values: list[float]) -> float:
        finite = np.asarray([v for v in values if np.isfinite(v)])
        return float(np.std(finite)) if len(finite) else float("nan")

    n_qcd = int((labels == 0).sum())
    n_pass = round(n_qcd / r) if np.isfinite(r) else 0
    floor = inverse_jsd_floor(mass[labels == 0], n_pass, rng)
    return DecorrelationResult(r, err(rs), j, err(js), cut, int((labels == 1).sum()), n_qcd, floor)


@dataclass(frozen=True)
class Variant:
    """One point of the plane: a tagger's discriminant or a decorrelated score.

    ``column`` is a ``<plugin>.<output>`` output (``index`` picks a vector
    entry; ``qcd_index`` makes it p_s/(p_s + p_QCD)) or, with ``plugin``
    empty, a FatJet field ratio of :data:`BASELINES`. ``sign`` is −1 where
    low values are signal-like.
    """

    name: str
    signal: int
    plugin: str
    column: str
    index: int | None = None
    qcd_index: int | None = None
    sign: float = 1.0
    kind: str = "tagger"

    def score(self, table: JetTable) -> np.ndarray:
        """The variant's score per jet (higher: signal-like)."""
        if not self.plugin:
            num, den = BASELINES[self.signal][self.name]
            x = np.asarray(table.columns[num], np.float64)
            if den is not None:
                d = np.asarray(table.columns[den], np.float64)
                x = np.divide(x, d, out=np.ones_like(x), where=d > 0)
            return -x
        values = np.asarray(table.outputs[f"{self.plugin}.{self.column}"], np.float64)
        if self.index is not None:
            s = values[:, self.index]
            if self.qcd_index is not None:
                b = values[:, self.qcd_index]
                s = s / np.where(s + b > 0, s + b, 1.0)
            values = s
        return np.asarray(self.sign * values)


def variants(host: PluginHost, plugins: Sequence[str], signals: Sequence[int]) -> list[Variant]:
    """The points of ``plugins`` (taggers' discriminants, decorrelators) and the baselines.

    A decorrelator says its signal (``signal_truth``) and direction
    (``higher_is_signal``); one whose output ``scores`` has labels (a λ scan)
    gives one point per label.
    """
    out = [Variant(name, s, "", "", kind="baseline") for s in signals for name in BASELINES[s]]
    for d in discriminants(host, plugins):
        if d.signal in signals:
            out.append(Variant(d.name, d.signal, d.plugin, d.column, d.signal_index, d.qcd_index))
    for name in plugins:
        cls = host.models.get(name)
        signal = getattr(cls, "signal_truth", None)
        if cls.spec.kind != Kind.DECORRELATOR or not isinstance(signal, int):
            continue
        if signal not in signals:
            continue
        sign = 1.0 if getattr(cls, "higher_is_signal", True) else -1.0
        scan = next((o for o in cls.spec.outputs if o.name == "scores" and o.labels), None)
        if scan is None:
            out.append(Variant(name, signal, name, "score", sign=sign, kind="decorrelator"))
            continue
        for i, label in enumerate(scan.labels or ()):
            out.append(
                Variant(
                    f"{name}[{label}]", signal, name, "scores", i, sign=sign, kind="decorrelator"
                )
            )
    return out


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """Whether each (R50, 1/JSD50) point is on the front (no other point ≥ in both, > in one)."""
    out = []
    for i, (r, j) in enumerate(points):
        beaten = any(
            (r2 >= r and j2 >= j and (r2 > r or j2 > j))
            for k, (r2, j2) in enumerate(points)
            if k != i
        )
        out.append(not beaten)
    return out


def decorrelation_rows(
    table: JetTable, points: Sequence[Variant], *, n_bootstrap: int = 100, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per variant: R50, 1/JSD50 (bootstrap errors), jets, on the front or not."""
    truth = table.columns["truthLabel"]
    mass = table.columns["msoftdrop"]
    rows = []
    for v in points:
        sel = np.isin(truth, [v.signal, QCD])
        labels = (truth[sel] == v.signal).astype(int)
        if labels.sum() < 10 or (labels == 0).sum() < 10:
            continue
        res = decorrelation_metrics(
            labels, v.score(table)[sel], mass[sel], n_bootstrap=n_bootstrap, seed=seed
        )
        rows.append({"name": v.name, "signal": CLASS_NAMES[v.signal], "kind": v.kind} | asdict(res))
    for signal in {r["signal"] for r in rows}:
        mine = [r for r in rows if r["signal"] == signal]
        for r, front in zip(
            mine, pareto_front([(r["r50"], r["inv_jsd50"]) for r in mine]), strict=True
        ):
            r["pareto"] = front
    return rows


def decorrelation_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A table per signal, highest R50 first; ★ marks the Pareto front."""
    lines: list[str] = []
    for signal in sorted({r["signal"] for r in rows}, key=lambda s: s != "W"):
        lines += [
            f"**{signal} vs QCD**",
            "",
            "| variant | kind | R50 | 1/JSD50 | 1/JSD50 floor | front | N sig | N QCD |",
            "|---|---|---:|---:|---:|:-:|---:|---:|",
        ]
        for r in sorted((r for r in rows if r["signal"] == signal), key=lambda r: -r["r50"]):
            lines.append(
                f"| {r['name']} | {r['kind']} | {r['r50']:.1f} ± {r['r50_err']:.1f} | "
                f"{r['inv_jsd50']:.1f} ± {r['inv_jsd50_err']:.1f} | "
                f"{r.get('inv_jsd50_floor', float('nan')):.0f} | "
                f"{'★' if r.get('pareto') else ''} | {r['n_signal']} | {r['n_background']} |"
            )
        lines.append("")
    return "\n".join(lines)


def _dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["r50"] >= b["r50"] and a["inv_jsd50"] >= b["inv_jsd50"])


def targets_markdown(rows: Sequence[dict[str, Any]], reference: str = "tau21_ddt") -> str:
    """The W-tagging targets, checked on ``rows`` (networks: variants ``<plugin>[<point>]``).

    1. a decorrelated network with R50 ≥ 2× ``reference``'s at 1/JSD50 ≥ its;
    2. a working point with 1/JSD50 ≥ 10× its raw network's, R50 > ``reference``'s;
    3. every DDT point is dominated (≥ in both) by some trained network's point.
    """
    w = [r for r in rows if r["signal"] == "W"]
    ref = next((r for r in w if r["name"] == reference), None)
    nets = [r for r in w if "[" in r["name"]]
    if ref is None or not nets:
        return ""
    one = [r for r in nets if r["r50"] >= 2 * ref["r50"] and r["inv_jsd50"] >= ref["inv_jsd50"]]
    raw = {r["name"].split("[")[0]: r for r in nets if r["name"].endswith("[raw]")}
    two = [
        r
        for r in nets
        if (base := raw.get(r["name"].split("[")[0])) is not None
        and r["inv_jsd50"] >= 10 * base["inv_jsd50"]
        and r["r50"] > ref["r50"]
    ]
    ddts = [r for r in w if r["name"] == reference or r["name"].startswith("ddt_")]
    undominated = [d["name"] for d in ddts if not any(_dominates(n, d) for n in nets)]

    def names(found: Sequence[dict[str, Any]]) -> str:
        best = sorted(found, key=lambda r: -r["r50"])[:4]
        return ", ".join(
            f"{r['name']} (R50 {r['r50']:.1f}, 1/JSD50 {r['inv_jsd50']:.1f})" for r in best
        )

    lines = [
        f"Targets (W vs QCD; {reference}: R50 {ref['r50']:.1f}, 1/JSD50 {ref['inv_jsd50']:.1f}):",
        "",
        f"1. network with R50 ≥ 2× {reference}'s at 1/JSD50 ≥ its: "
        + (f"**met** by {names(one)}" if one else "**not met**"),
        f"2. working point with 1/JSD50 ≥ 10× its raw network's and R50 > {reference}'s: "
        + (f"**met** by {names(two)}" if two else "**not met**"),
        "3. the trained networks' points dominate every DDT point "
        f"({', '.join(d['name'] for d in ddts)}): "
        + ("**met**" if not undominated else f"**not met** for {', '.join(undominated)}"),
        "",
    ]
    return "\n".join(lines)


def write_decorrelation(
    output: Path, rows: Sequence[dict[str, Any]], info: dict[str, Any], extra_md: str = ""
) -> tuple[Path, Path]:
    """``decorrelation.md`` and ``decorrelation.json`` in ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    md, js = output / "decorrelation.md", output / "decorrelation.json"
    head = [
        "# Decorrelation validation",
        "",
        f"Command: `{info['command']}`",
        "",
        f"{info['events']} events of {info['files']} files; FatJets {info['pt_min']:g}–"
        f"{info['pt_max']:g} GeV, |η| < {info['eta_max']:g}. At the cut keeping εS = 0.5: "
        "R50 = 1/εB and 1/JSD50 = 1/JSD (base 2) of the normalised QCD m_SD histograms "
        "(50–300 GeV, 5 GeV bins) passing and failing it; bootstrap standard deviations "
        f"({info['n_bootstrap']} resamples). 1/JSD50 floor: 1/JSD50 of a cut passing as "
        f"many QCD jets at random (mean of {FLOOR_DRAWS}), what a perfectly decorrelated "
        "tagger of that R50 reads on this sample; a point near it is flat within the "
        "statistics. Baselines: −τ21, −N2, −τ32 (lower is signal-like).",
        "",
    ]
    body = decorrelation_markdown(rows) + targets_markdown(rows)
    md.write_text("\n".join(head) + "\n" + body + extra_md)
    js.write_text(json.dumps({"info": info, "rows": list(rows)}, indent=1, default=float) + "\n")
    return md, js
