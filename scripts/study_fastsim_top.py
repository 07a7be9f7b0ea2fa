"""Where the fast simulation's top R50 falls short: top jets' soft-drop mass peak and top-likeness.

    python scripts/study_fastsim_top.py [--data DIR] [--output DIR]

Runs ``fastsim_gan`` and ``top_bdt`` (on FatJet and on FastSimFatJet) over a
tuning sample that neither the generator nor the validation used (default
``data/tune_fastsim``: ``jetplug generate ttbar -n 20000 --seed 972`` and
``qcd -n 60000 --seed 971``, pT-hat 500-750 GeV, realistic response; the
commands are run when the files are missing) and writes, for jets with
500 < pT < 700 GeV and |eta| < 2, to ``OUTPUT/top_study.md`` and ``.json``:

* the cut keeping half of full simulation's top jets, and at it each
  simulation's top and QCD efficiency;
* per bin of the jet's reconstructed soft-drop mass: the fraction of top
  (and QCD) jets in the bin and the fraction of them passing that cut;
* quantiles of the BDT's six inputs for top jets of 140 < m_SD < 210 GeV.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from jetplug.artifacts import relative_path
from jetplug.validation.fastsim import FastSimSample, at_full_cut, collect_fastsim

SAMPLES = (("ttbar", 20_000, 972), ("qcd", 60_000, 971))
MSD_EDGES = (0, 100, 130, 140, 150, 155, 160, 165, 170, 175, 180, 190, 210, 300, 1000)
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
WINDOW = (140.0, 210.0)
PT_WINDOW = (500.0, 700.0)


def _ensure(data: Path) -> list[Path]:
    for process, events, seed in SAMPLES:
        out = data / process
        if not list(out.glob(f"{process}_s{seed}_*.root")):
            cmd = [
                "jetplug", "generate", process, "-n", str(events), "--seed", str(seed),
                "--pt-hat-min", "500", "--pt-hat-max", "750", "-o", str(out), "-j", "2",
                "--detector", "realistic",
            ]  # fmt: skip
            subprocess.run(cmd, check=True)
    return sorted(data.glob("*/*.root"))


def _jets(sample: FastSimSample) -> dict[str, np.ndarray]:
    f = dict(sample.features)
    sel = sample.in_window(PT_WINDOW)
    with np.errstate(divide="ignore", invalid="ignore"):
        f["tau21"] = f["tau2"] / f["tau1"]
        f["tau32"] = f["tau3"] / f["tau2"]
        f["tau43"] = f["tau4"] / f["tau3"]
    out = {k: v[sel] for k, v in f.items()}
    out["truth"], out["score"] = sample.truth[sel], sample.score[sel]
    return out


def study(full_sample: FastSimSample, fast_sample: FastSimSample) -> dict[str, Any]:
    """The numbers of the module doc, from the jets of both simulations in the window."""
    full, fast = _jets(full_sample), _jets(fast_sample)
    cut = float(np.median(full["score"][full["truth"] == 1]))
    at_cut = at_full_cut(full_sample, fast_sample, 1, PT_WINDOW)
    result: dict[str, Any] = {"cut": cut, "efficiency": {}, "msd_bins": [], "window": {}}
    for name, jets in (("full", full), ("fast", fast)):
        result["efficiency"][name] = {
            "top": at_cut[f"signal_{name}"],
            "qcd": at_cut[f"background_{name}"],
            "top_jets": int((jets["truth"] == 1).sum()),
            "qcd_jets": int((jets["truth"] == 0).sum()),
        }
    for lo, hi in itertools.pairwise(MSD_EDGES):
        row: dict[str, Any] = {"msd": [lo, hi]}
        for name, jets in (("full", full), ("fast", fast)):
            inside = (jets["msoftdrop"] >= lo) & (jets["msoftdrop"] < hi)
            for label, truth in (("top", 1), ("qcd", 0)):
                of = jets["truth"] == truth
                passed = jets["score"][of & inside] > cut
                row[f"{label}_fraction_{name}"] = float((of & inside).sum() / of.sum())
                row[f"{label}_pass_{name}"] = float(passed.mean()) if passed.size else None
        result["msd_bins"].append(row)
    for feature in ("msoftdrop", "tau21", "tau32", "tau43", "n2b1", "n3b1"):
        result["window"][feature] = {}
        for name, jets in (("full", full), ("fast", fast)):
            top = (jets["truth"] == 1) & (jets["msoftdrop"] > WINDOW[0])
            top &= jets["msoftdrop"] < WINDOW[1]
            quantiles = np.quantile(jets[feature][top], QUANTILES)
            result["window"][feature][name] = [round(float(q), 4) for q in quantiles]
    return result


def markdown(result: dict[str, Any], command: str) -> str:
    """The tables of ``OUTPUT/top_study.md``."""
    eff = result["efficiency"]
    lines = [
        "# Fast simulation: top jets at the BDT's cut",
        "",
        f"Command: `{command}`",
        "",
        f"FatJets 500 < pT < 700 GeV, |η| < 2 ({eff['full']['top_jets']} top and "
        f"{eff['full']['qcd_jets']} QCD jets in full simulation). At the cut keeping half of "
        f"full simulation's top jets (top_bdt > {result['cut']:.4f}): top efficiency full "
        f"{eff['full']['top']:.3f}, fast {eff['fast']['top']:.3f}; QCD efficiency full "
        f"{eff['full']['qcd']:.5f}, fast {eff['fast']['qcd']:.5f}.",
        "",
        "| m_SD [GeV] | top jets full | fast | passing full | fast | QCD jets full | fast |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def pct(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    for row in result["msd_bins"]:
        lines.append(
            f"| {row['msd'][0]}–{row['msd'][1]} | {pct(row['top_fraction_full'])} | "
            f"{pct(row['top_fraction_fast'])} | {pct(row['top_pass_full'])} | "
            f"{pct(row['top_pass_fast'])} | {row['qcd_fraction_full']:.4f} | "
            f"{row['qcd_fraction_fast']:.4f} |"
        )
    lines += [
        "",
        f"Top jets of {WINDOW[0]:.0f} < m_SD < {WINDOW[1]:.0f} GeV, quantiles "
        f"{', '.join(f'{q:g}' for q in QUANTILES)} (full / fast):",
        "",
        "| input | " + " | ".join(f"q{q:g}" for q in QUANTILES) + " |",
        "|---|" + "---:|" * len(QUANTILES),
    ]
    for feature, q in result["window"].items():
        cells = " | ".join(f"{a:.3f} / {b:.3f}" for a, b in zip(q["full"], q["fast"], strict=True))
        lines.append(f"| {feature} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/tune_fastsim"))
    parser.add_argument("--output", type=Path, default=Path("docs/validation/fastsim"))
    args = parser.parse_args()
    files = _ensure(args.data)
    full, fast, _ = collect_fastsim(files, "fastsim_gan", "top_bdt")
    result = study(full, fast)
    result["files"] = len(files)
    result["data"] = relative_path(args.data)
    command = " ".join(["python", "scripts/study_fastsim_top.py", *sys.argv[1:]])
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "top_study.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.output / "top_study.md").write_text(markdown(result, command))
    print(f"wrote {args.output / 'top_study.md'}")


if __name__ == "__main__":
    main()
