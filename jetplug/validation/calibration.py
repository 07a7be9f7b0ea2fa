"""``jetplug validate --section calibration``: response, resolution, flavour, robustness.

Every calibrator runs alone (not chained) through the plugin chain on
generated files. Per gen-matched FatJet: the gen jet's pT, |η| and flavour,
the reconstructed (raw) pT and each calibrator's pT. Per bin of **gen** pT
and |η| and per gen flavour:

* the median response pT / pT_gen;
* the resolution, **half the 16–84 % range of the response over its median**
  (robust to the tails a Gaussian σ would chase);

each with a bootstrap standard deviation. Flavours: top, W, Z, H (the
FatJet's truth label), else b (gen ``hadronFlavour`` 5), gluon
(``partonFlavour`` 21), light quark (u, d, s), c. With a shifted sample (the
same events with another response, e.g. the hadron scale 5 % lower) each
calibrator's median response on it over that on the nominal sample says how
much of the shift it absorbs (< the raw shift) or amplifies (>).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from ..chain import PluginChain
from ..chunk import ChunkContext
from ..config import PluginConfig
from ..host import PluginHost
from .collect import read_events, require_fields

__all__ = [
    "ETA_BINS",
    "FLAVOURS",
    "GEN_PT_BINS",
    "CalibrationTable",
    "calibration_report",
    "collect_calibration",
    "response_stats",
]

GEN_PT_BINS = (250.0, 300.0, 400.0, 500.0, 650.0, 800.0, 1000.0, 1300.0, 1700.0)
ETA_BINS = (0.0, 1.3, 2.0, 2.5)
FLAVOURS = ("light quark", "c", "b", "gluon", "top", "W", "Z", "H")
FLAVOUR_PT = (500.0, 1000.0)
"""Gen pT range of the flavour comparison [GeV]."""
MIN_JETS = 100
"""A bin needs this many jets to count ("bins with enough jets")."""
RAW = "raw"


@dataclass
class CalibrationTable:
    """Gen-matched FatJets: gen pT, |η|, flavour, and pT per calibrator (``raw``: uncalibrated)."""

    gen_pt: np.ndarray
    gen_eta: np.ndarray
    flavour: np.ndarray
    pt: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.gen_pt)


def _flavour(label: np.ndarray, parton: np.ndarray, hadron: np.ndarray) -> np.ndarray:
    out = np.full(len(label), "other", dtype=object)
    apid = np.abs(parton)
    out[(apid >= 1) & (apid <= 3)] = "light quark"
    out[apid == 4] = "c"
    out[apid == 21] = "gluon"
    out[hadron == 5] = "b"
    for truth, name in ((1, "top"), (2, "W"), (3, "Z"), (4, "H")):
        out[label == truth] = name
    return out


def collect_calibration(
    files: Sequence[str | Path],
    plugins: Sequence[str],
    *,
    backend: str = "local",
    host: PluginHost | None = None,
) -> CalibrationTable:
    """Run each calibrator in ``plugins`` on every event of ``files``; keep gen-matched FatJets."""
    host = host or PluginHost()
    chains = {p: PluginChain([PluginConfig(p, backend=backend)], host) for p in plugins}
    parts: dict[str, list[np.ndarray]] = {}
    for path in map(str, files):
        events = read_events(path)
        require_fields(
            path,
            events,
            {
                "FatJet": ("genJetAK8Idx", "truthLabel"),
                "GenJetAK8": ("pt", "eta", "partonFlavour", "hadronFlavour"),
            },
        )
        if len(events) == 0:
            continue
        jets, gen = events.FatJet, events.GenJetAK8
        idx = jets["genJetAK8Idx"]
        ok = (idx >= 0) & (idx < ak.num(gen, axis=1))
        matched = gen[ak.where(ok, idx, 0)]
        sel = ak.to_numpy(ak.flatten(ok))

        def flat(array: ak.Array, sel: np.ndarray = sel) -> np.ndarray:
            values: np.ndarray = ak.to_numpy(ak.flatten(array))[sel]
            return values

        parts.setdefault("gen_pt", []).append(flat(matched["pt"]))
        parts.setdefault("gen_eta", []).append(np.abs(flat(matched["eta"])))
        parts.setdefault("flavour", []).append(
            _flavour(
                flat(jets["truthLabel"]),
                flat(matched["partonFlavour"]),
                flat(matched["hadronFlavour"]),
            )
        )
        parts.setdefault(RAW, []).append(flat(jets["pt"]))
        chunk = ChunkContext(file=path, entrystop=len(events))
        for name, chain in chains.items():
            out = chain.apply(events, chunk=chunk)
            parts.setdefault(name, []).append(flat(out.FatJet["pt"]))
    cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    table = CalibrationTable(
        cat.get("gen_pt", np.zeros(0)),
        cat.get("gen_eta", np.zeros(0)),
        cat.get("flavour", np.zeros(0, dtype=object)),
    )
    table.pt = {k: cat[k] for k in (RAW, *plugins) if k in cat}
    return table


def response_stats(
    response: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> dict[str, float]:
    """Median, resolution (half 16–84 % range / median) and their bootstrap errors."""
    n = len(response)
    if n == 0:
        return {"n": 0}

    def stats(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q16, q50, q84 = np.percentile(r, [16, 50, 84], axis=-1)
        return q50, (q84 - q16) / 2 / q50

    median, resolution = stats(response)
    out = {"n": n, "median": float(median), "resolution": float(resolution)}
    if n_bootstrap > 0 and n > 1:
        samples = response[rng.integers(0, n, size=(n_bootstrap, n))]
        b_med, b_res = stats(samples)
        out |= {"median_err": float(np.std(b_med)), "resolution_err": float(np.std(b_res))}
    return out


@dataclass(frozen=True)
class CalibrationSummary:
    """The numbers the targets are about, per calibrator."""

    name: str
    max_nonclosure: float
    """max |median response − 1| over (gen pT, |η|) bins with ≥ MIN_JETS jets."""
    resolution_above_500: float
    resolution_above_500_err: float
    flavour_spread: float
    """max − min median response over flavours, gen pT in FLAVOUR_PT."""
    shift: float | None = None
    """median response on the shifted sample / nominal − 1."""


def _bins(table: CalibrationTable, name: str, n_bootstrap: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    response = table.pt[name] / table.gen_pt
    rows = []
    for e_lo, e_hi in itertools.pairwise(ETA_BINS):
        for p_lo, p_hi in itertools.pairwise(GEN_PT_BINS):
            sel = (table.gen_eta >= e_lo) & (table.gen_eta < e_hi)
            sel &= (table.gen_pt >= p_lo) & (table.gen_pt < p_hi)
            rows.append(
                {"eta": [e_lo, e_hi], "gen_pt": [p_lo, p_hi]}
                | response_stats(response[sel], n_bootstrap, rng)
            )
    return rows


def _flavours(
    table: CalibrationTable, name: str, n_bootstrap: int, seed: int
) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    response = table.pt[name] / table.gen_pt
    in_range = (table.gen_pt >= FLAVOUR_PT[0]) & (table.gen_pt < FLAVOUR_PT[1])
    return {
        f: response_stats(response[in_range & (table.flavour == f)], n_bootstrap, rng)
        for f in FLAVOURS
    }


def calibration_report(
    table: CalibrationTable,
    shifted: CalibrationTable | None = None,
    *,
    n_bootstrap: int = 200,
    seed: int = 1,
) -> dict[str, Any]:
    """Per-bin and per-flavour statistics and the summary of every calibrator (and ``raw``)."""
    out: dict[str, Any] = {"calibrators": {}, "summary": []}
    rng = np.random.default_rng(seed)
    for name in table.pt:
        bins = _bins(table, name, n_bootstrap, seed)
        flavours = _flavours(table, name, n_bootstrap, seed)
        above = table.gen_pt >= 500.0
        high = response_stats(table.pt[name][above] / table.gen_pt[above], n_bootstrap, rng)
        closure = [abs(b["median"] - 1) for b in bins if b["n"] >= MIN_JETS]
        medians = [f["median"] for f in flavours.values() if f["n"] >= MIN_JETS]
        shift = None
        if shifted is not None and name in shifted.pt:
            nominal = np.median(table.pt[name] / table.gen_pt)
            shift = float(np.median(shifted.pt[name] / shifted.gen_pt) / nominal - 1)
        summary = CalibrationSummary(
            name,
            max(closure) if closure else float("nan"),
            high.get("resolution", float("nan")),
            high.get("resolution_err", float("nan")),
            max(medians) - min(medians) if medians else float("nan"),
            shift,
        )
        out["calibrators"][name] = {"bins": bins, "flavours": flavours, "above_500": high}
        out["summary"].append(asdict(summary))
    return out


def calibration_markdown(report: dict[str, Any], reference: str = "calib_ni") -> str:
    """The summary table, and the resolution per gen-pT bin (|η| < 1.3) of each calibrator."""
    summary = report["summary"]
    ref = next((s for s in summary if s["name"] == reference), None)
    raw = next((s for s in summary if s["name"] == RAW), None)
    lines = [
        "| calibrator | max \\|median − 1\\| (bins ≥ "
        f"{MIN_JETS} jets) | resolution, gen pT > 500 GeV | vs {reference} | "
        f"flavour spread ({FLAVOUR_PT[0]:.0f}–{FLAVOUR_PT[1]:.0f} GeV) | vs {reference} | "
        "shift on the shifted sample | absorbed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        res_ratio = f"{s['resolution_above_500'] / ref['resolution_above_500']:.3f}" if ref else ""
        fl_ratio = f"{s['flavour_spread'] / ref['flavour_spread']:.2f}" if ref else ""
        shift = "" if s["shift"] is None else f"{100 * s['shift']:+.2f} %"
        absorbed = ""
        if s["shift"] is not None and raw is not None and raw["shift"]:
            absorbed = f"{100 * (1 - s['shift'] / raw['shift']):.0f} %"
        lines.append(
            f"| {s['name']} | {100 * s['max_nonclosure']:.2f} % | "
            f"{100 * s['resolution_above_500']:.2f} ± "
            f"{100 * s['resolution_above_500_err']:.2f} % | "
            f"{res_ratio} | {100 * s['flavour_spread']:.2f} % | {fl_ratio} | {shift} | {absorbed} |"
        )
    lines += [
        "",
        "Median response per flavour (gen pT "
        f"{FLAVOUR_PT[0]:.0f}–{FLAVOUR_PT[1]:.0f} GeV, bootstrap errors):",
        "",
    ]
    names = list(report["calibrators"])
    lines += ["| flavour | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for flavour in FLAVOURS:
        cells = []
        for name in names:
            st = report["calibrators"][name]["flavours"][flavour]
            cells.append(
                f"{st['median']:.3f} ± {st.get('median_err', 0):.3f} ({st['n']})"
                if st["n"] >= MIN_JETS
                else f"({st['n']} jets)"
            )
        lines.append(f"| {flavour} | " + " | ".join(cells) + " |")
    lines += ["", "Median response / resolution per gen-pT bin, |η| < 1.3:", ""]
    lines += ["| gen pT [GeV] | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    first = report["calibrators"][names[0]]["bins"]
    for i, b in enumerate(first):
        if b["eta"][0] != 0.0:
            continue
        cells = []
        for name in names:
            st = report["calibrators"][name]["bins"][i]
            cells.append(
                f"{st['median']:.3f} / {100 * st['resolution']:.2f} %"
                if st["n"] >= MIN_JETS
                else f"({st['n']} jets)"
            )
        lines.append(f"| {b['gen_pt'][0]:.0f}–{b['gen_pt'][1]:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_calibration(
    output: Path, report: dict[str, Any], info: dict[str, Any]
) -> tuple[Path, Path]:
    """``calibration.md`` and ``calibration.json`` in ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    md = output / "calibration.md"
    js = output / "calibration.json"
    head = [
        "# Calibration validation",
        "",
        f"Command: `{info['command']}`",
        "",
        f"{info['jets']} gen-matched FatJets of {info['files']} files; resolution = half the "
        "16–84 % range of pT/pT_gen over its median; bootstrap errors "
        f"({info['n_bootstrap']} resamples).",
        "",
    ]
    md.write_text("\n".join(head) + calibration_markdown(report))
    js.write_text(json.dumps({"info": info, **report}, indent=1, default=float) + "\n")
    return md, js
