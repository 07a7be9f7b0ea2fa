"""``jetplug validate --section fastsim``: fast-simulated jets against full simulation.

On generated files (independent of training), every event's gen jets go
through the fast-simulation plugin (a ``create`` plugin on ``GenJetAK8``),
and a tagger runs on both the full-simulation ``FatJet`` and the created
collection (re-targeted, as in an analysis). Jets with pT > ``pt_min`` and
|η| < ``eta_max`` are compared on the features both collections carry:

* per feature, the 1-D Wasserstein distance W1 between fast and full
  simulation beside the **real-vs-real** W1 between two independent halves
  of the full simulation (events split by parity; the fast sample is taken
  from one half, the full from the other, so both distances are at the same
  sample size);
* FPD and KPD (:mod:`jetplug.validation.distances`, JetNet's definitions) on
  the feature vector, beside real-vs-real;
* a classifier two-sample test (AUC; 0.5 is perfect);
* correlation matrices (max |Δρ|);
* jets per event (the efficiency);
* downstream: the tagger's R50 (signal efficiency 0.5, background QCD) per
  signal class in the tagger's pT window, and the W1 of its score
  distribution per truth class, fast against full.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from ..chain import PluginChain
from ..chunk import ChunkContext
from ..config import PluginConfig
from ..errors import JetplugError
from ..host import PluginHost
from ..metrics import tagging_metrics
from ..spec import Kind, TargetMode
from .collect import CLASS_NAMES, read_events, require_fields
from .distances import classifier_auc, fpd, kpd, w1

__all__ = ["FastSimSample", "at_full_cut", "collect_fastsim", "fastsim_report", "write_fastsim"]

REFERENCE = "FatJet"


@dataclass
class FastSimSample:
    """Selected jets of one simulation: features, truth, tagger score, event parity."""

    features: dict[str, np.ndarray] = field(default_factory=dict)
    truth: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    odd: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    events: int = 0
    odd_events: int = 0

    def in_window(self, window: tuple[float, float], eta_max: float = 2.0) -> np.ndarray:
        """The jets with ``window[0] < pT < window[1]`` and ``|eta| < eta_max`` (the
        downstream check's selection)."""
        pt, eta = self.features["pt"], self.features["eta"]
        return np.asarray((pt > window[0]) & (pt < window[1]) & (np.abs(eta) < eta_max))

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        """``(n, len(names))`` float64 feature matrix."""
        return np.stack([self.features[n] for n in names], axis=1).astype(np.float64)

    def half(self, odd: bool) -> FastSimSample:
        """The jets of odd (or even) events."""
        keep = self.odd == odd
        n = self.odd_events if odd else self.events - self.odd_events
        return FastSimSample(
            {k: v[keep] for k, v in self.features.items()},
            self.truth[keep],
            self.score[keep],
            self.odd[keep],
            n,
            self.odd_events if odd else 0,
        )


def _append(parts: dict[str, list[np.ndarray]], key: str, values: np.ndarray) -> None:
    parts.setdefault(key, []).append(values)


def collect_fastsim(
    files: Sequence[str | Path],
    fastsim: str,
    tagger: str,
    *,
    pt_min: float = 200.0,
    eta_max: float = 2.5,
    backend: str = "local",
    host: PluginHost | None = None,
) -> tuple[FastSimSample, FastSimSample, list[str]]:
    """(full simulation, fast simulation, compared features) from ``files``."""
    host = host or PluginHost()
    spec = host.models.get(fastsim).spec
    if spec.kind is not Kind.FASTSIM or spec.target.mode is not TargetMode.CREATE:
        msg = f"{fastsim!r} is not a fast simulation that creates a collection"
        raise JetplugError(msg)
    created = spec.target.collection or spec.inputs.collection
    source = spec.inputs.collection
    full_chain = PluginChain([PluginConfig(tagger, backend=backend)], host)
    fast_chain = PluginChain(
        [
            PluginConfig(fastsim, backend=backend),
            PluginConfig(tagger, backend=backend, collection=created),
        ],
        host,
    )
    score_name = next(o.name for o in host.models.get(tagger).spec.outputs if not o.shape)
    names: list[str] = []
    parts: dict[str, dict[str, list[np.ndarray]]] = {"full": {}, "fast": {}}
    counts = {"events": 0, "odd": 0}
    for path in map(str, files):
        events = read_events(path)
        require_fields(path, events, {"FatJet": ("truthLabel",), source: ("truthLabel",)})
        if len(events) == 0:
            continue
        chunk = ChunkContext(file=path, entrystop=len(events))
        odd_event = ak.to_numpy(events.event) % 2 == 1
        counts["events"] += len(events)
        counts["odd"] += int(odd_event.sum())
        full = full_chain.apply(events, chunk=chunk)[REFERENCE]
        fast_events = fast_chain.apply(events, chunk=chunk)
        fast = fast_events[created]
        if not names:
            outputs = {o.name for o in spec.outputs}
            names = [n for n in ak.fields(full) if n in outputs and n not in ("eta", "phi")]
        gen_truth = events[source]["truthLabel"][fast["sourceIdx"]]
        for which, jets, truth in (
            ("full", full, full["truthLabel"]),
            ("fast", fast, gen_truth),
        ):
            pt = ak.to_numpy(ak.flatten(jets["pt"]))
            sel = (pt > pt_min) & (np.abs(ak.to_numpy(ak.flatten(jets["eta"]))) < eta_max)
            for n in (*names, "eta"):
                _append(parts[which], n, ak.to_numpy(ak.flatten(jets[n]))[sel])
            _append(parts[which], "truth", ak.to_numpy(ak.flatten(truth))[sel])
            score = ak.to_numpy(ak.flatten(jets[tagger][score_name]))[sel]
            _append(parts[which], "score", score)
            parity = ak.to_numpy(ak.flatten(ak.broadcast_arrays(odd_event, jets["pt"])[0]))
            _append(parts[which], "odd", parity[sel])
    samples = []
    for which in ("full", "fast"):
        cat = {k: np.concatenate(v) for k, v in parts[which].items()}
        samples.append(
            FastSimSample(
                {n: cat[n] for n in (*names, "eta")},
                cat["truth"].astype(np.int32),
                cat["score"].astype(np.float64),
                cat["odd"].astype(bool),
                counts["events"],
                counts["odd"],
            )
        )
    return samples[0], samples[1], names


def _r50(sample: FastSimSample, signal: int, window: tuple[float, float]) -> dict[str, float]:
    sel = sample.in_window(window) & np.isin(sample.truth, [0, signal])
    m = tagging_metrics(
        (sample.truth[sel] == signal).astype(np.int32), sample.score[sel], n_bootstrap=100
    )
    return {"r50": m.rejection, "r50_err": m.rejection_err, "auc": m.auc}


def at_full_cut(
    full: FastSimSample, fast: FastSimSample, signal: int, window: tuple[float, float]
) -> dict[str, float]:
    """At the score cut keeping half of full simulation's signal: each sample's signal and
    background efficiencies (which of the two a fast / full R50 difference comes from), as
    ``{signal,background}_{full,fast}``."""
    cut = float(np.median(full.score[full.in_window(window) & (full.truth == signal)]))
    out = {}
    for name, sample in (("full", full), ("fast", fast)):
        sel = sample.in_window(window)
        for kind, label in (("signal", signal), ("background", 0)):
            jets = sel & (sample.truth == label)
            out[f"{kind}_{name}"] = float((sample.score[jets] > cut).mean()) if jets.any() else 0.0
    return out


def fastsim_report(
    full: FastSimSample,
    fast: FastSimSample,
    names: Sequence[str],
    *,
    window: tuple[float, float] = (500.0, 700.0),
    kpd_batch: int = 2_000,
) -> dict[str, Any]:
    """Every number of the section (see the module doc)."""
    full_a, full_b, fast_a = full.half(False), full.half(True), fast.half(False)
    rows = []
    for n in names:
        real = w1(full_a.features[n], full_b.features[n])
        sim = w1(fast_a.features[n], full_b.features[n])
        rows.append(
            {"feature": n, "w1": sim, "w1_real": real, "ratio": sim / real if real else None}
        )
    x_full_a, x_full_b, x_fast_a = (s.matrix(names) for s in (full_a, full_b, fast_a))
    n_min = min(len(x_full_a), len(x_full_b), len(x_fast_a))
    sizes = {"min_samples": max(n_min // 4, 100), "max_samples": max(n_min, 200)}
    batch = min(kpd_batch, n_min)
    corr_full, corr_fast = np.corrcoef(x_full_a.T), np.corrcoef(x_fast_a.T)
    downstream = {}
    for signal in sorted(set(np.unique(full.truth)) - {0, -1}):
        downstream[CLASS_NAMES.get(int(signal), str(signal))] = {
            "full": _r50(full, int(signal), window),
            "fast": _r50(fast, int(signal), window),
            "at_full_cut": at_full_cut(full, fast, int(signal), window),
        }
    score_w1 = {
        CLASS_NAMES.get(int(t), str(t)): w1(
            full.score[full.truth == t], fast.score[fast.truth == t]
        )
        for t in np.unique(full.truth)
        if t >= 0 and (fast.truth == t).sum() > 10
    }
    return {
        "features": rows,
        "fpd": {"fast": fpd(x_full_b, x_fast_a, **sizes), "real": fpd(x_full_b, x_full_a, **sizes)},
        "kpd": {
            "fast": kpd(x_full_b, x_fast_a, batch_size=batch),
            "real": kpd(x_full_b, x_full_a, batch_size=batch),
        },
        "classifier_auc": classifier_auc(x_full_b, x_fast_a),
        "correlation": {
            "names": list(names),
            "full": corr_full.round(4).tolist(),
            "fast": corr_fast.round(4).tolist(),
            "max_abs_diff": float(np.max(np.abs(corr_full - corr_fast))),
        },
        "jets_per_event": {
            "full": len(full.score) / max(full.events, 1),
            "fast": len(fast.score) / max(fast.events, 1),
        },
        "downstream": {"window": list(window), "r50": downstream, "score_w1": score_w1},
        "jets": {"full": len(full.score), "fast": len(fast.score)},
    }


def fastsim_markdown(report: dict[str, Any]) -> str:
    """The tables of the section."""
    lines = ["| feature | W1 fast vs full | W1 real vs real | ratio |", "|---|---|---|---|"]
    for r in report["features"]:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"| {r['feature']} | {r['w1']:.4g} | {r['w1_real']:.4g} | {ratio} |")
    fp, kp = report["fpd"], report["kpd"]
    jets = report["jets_per_event"]
    lines += [
        "",
        "| measure | fast vs full | real vs real |",
        "|---|---|---|",
        f"| FPD | {fp['fast'][0]:.4g} ± {fp['fast'][1]:.2g} | {fp['real'][0]:.4g} ± "
        f"{fp['real'][1]:.2g} |",
        f"| KPD | {kp['fast'][0]:.3g} ± {kp['fast'][1]:.2g} | {kp['real'][0]:.3g} ± "
        f"{kp['real'][1]:.2g} |",
        f"| classifier AUC (0.5: indistinguishable) | {report['classifier_auc']:.4f} | |",
        f"| max \\|Δ correlation\\| | {report['correlation']['max_abs_diff']:.3f} | |",
        f"| jets per event | {jets['fast']:.4f} | {jets['full']:.4f} (full) |",
        "",
        f"Downstream tagger, {report['downstream']['window'][0]:.0f} < pT < "
        f"{report['downstream']['window'][1]:.0f} GeV, |η| < 2:",
        "",
        "| signal | R50 full sim | R50 fast sim | fast / full | AUC full | AUC fast "
        "| εS fast at full's cut | εB fast / full at full's cut |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, d in report["downstream"]["r50"].items():
        f, s, c = d["full"], d["fast"], d["at_full_cut"]
        eb = c["background_fast"] / c["background_full"] if c["background_full"] else float("nan")
        lines.append(
            f"| {name} | {f['r50']:.1f} ± {f['r50_err']:.1f} | {s['r50']:.1f} ± {s['r50_err']:.1f}"
            f" | {s['r50'] / f['r50']:.2f} | {f['auc']:.4f} | {s['auc']:.4f}"
            f" | {c['signal_fast']:.3f} | {eb:.2f} |"
        )
    lines += [
        "",
        "(At the cut keeping half of full simulation's signal jets: the fraction of fast-sim "
        "signal jets it keeps, 0.5 if they are as signal-like, and fast over full simulation's "
        "background efficiency, 1 if the background is as signal-like.)",
    ]
    lines += ["", "W1 of the tagger's score distribution, fast vs full, per truth class: "]
    lines[-1] += ", ".join(f"{k} {v:.4f}" for k, v in report["downstream"]["score_w1"].items())
    return "\n".join(lines) + "\n"


def write_fastsim(output: Path, report: dict[str, Any], info: dict[str, Any]) -> tuple[Path, Path]:
    """``fastsim.md`` and ``fastsim.json`` in ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    md, js = output / "fastsim.md", output / "fastsim.json"
    head = [
        "# Fast-simulation validation",
        "",
        f"Command: `{info['command']}`",
        "",
        f"{report['jets']['full']} full-simulation and {report['jets']['fast']} fast-simulation "
        f"jets (pT > {info['pt_min']:.0f} GeV, |η| < {info['eta_max']}) of {info['files']} files.",
        "",
    ]
    md.write_text("\n".join(head) + fastsim_markdown(report))
    js.write_text(json.dumps({"info": info, **report}, indent=1, default=float) + "\n")
    return md, js
