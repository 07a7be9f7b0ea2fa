"""The demo analysis: generated ttbar + QCD events, taggers, an anomaly score, a
mass-decorrelated W tagger run locally, plots.

``jetplug demo`` generates a small sample once (cached), writes the run
configuration it uses next to the results, and runs it with coffea's futures
executor. It is the embedded default of jetplug: no server, no cluster.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .config import load_config
from .runner import RunResult, run

__all__ = ["DEMO_SAMPLES", "demo_config", "prepare_demo_sample", "run_demo"]

DEMO_SAMPLES: dict[str, dict[str, Any]] = {
    "ttbar": {"process": "ttbar", "pt_hat_min": 450.0, "pt_hat_max": 900.0, "seed": 101},
    "qcd": {"process": "qcd", "pt_hat_min": 450.0, "pt_hat_max": 900.0, "seed": 202},
}


def default_cache() -> Path:
    """``$JETPLUG_CACHE`` or ``~/.cache/jetplug``."""
    return Path(os.environ.get("JETPLUG_CACHE", Path.home() / ".cache" / "jetplug"))


def prepare_demo_sample(
    cache: Path, n_events: int, *, workers: int = 2, log: Callable[[str], None] = print
) -> dict[str, list[Path]]:
    """Generate (or reuse) the demo samples; returns ``{dataset: files}``."""
    from .generation import generate
    from .generation.detector import DEFAULT_PRESET

    out: dict[str, list[Path]] = {}
    for dataset, recipe in DEMO_SAMPLES.items():
        # the detector response is part of the key: a sample cached by an older
        # default (the 'ideal' response) is not reused for today's models
        target = cache / "demo" / f"{dataset}_{n_events}_s{recipe['seed']}_{DEFAULT_PRESET}"
        done = target / "DONE"
        if done.is_file():
            out[dataset] = [target / line for line in done.read_text().split()]
            log(f"reusing {dataset}: {len(out[dataset])} file(s) in {target}")
            continue
        target.mkdir(parents=True, exist_ok=True)
        log(f"generating {n_events} {dataset} events into {target} ...")
        files = generate(
            recipe["process"],
            n_events,
            target,
            seed=recipe["seed"],
            pt_hat_min=recipe["pt_hat_min"],
            pt_hat_max=recipe["pt_hat_max"],
            workers=workers,
        )
        done.write_text("\n".join(str(Path(f).relative_to(target)) for f in files))
        out[dataset] = [Path(f) for f in files]
    return out


def demo_config(files: dict[str, list[Path]], chunksize: int = 1000) -> dict[str, Any]:
    """The demo's run configuration (written to ``<outdir>/demo.yaml``)."""
    kinematics = ["FatJet.pt > 400", "FatJet.eta < 2.0", "FatJet.eta > -2.0"]
    truth = {
        "field": "FatJet.truthLabel",
        "categories": [0, 1, 2, 3, 4, -1],
        "name": "truth",
        "label": "truth (0 QCD, 1 top, 2 W, 3 Z, 4 H, -1 unmatched)",
    }
    score = {
        "field": "FatJet.top_bdt.score",
        "bins": 50,
        "start": 0.0,
        "stop": 1.0,
        "name": "score",
        "label": "top BDT score",
    }
    fine = {**score, "bins": 2000}  # for the ROC
    # the multi-class Particle Transformer's top-vs-QCD discriminant, an expression axis
    part_fine = {
        "expr": "FatJet.part.probs_top / (FatJet.part.probs_top + FatJet.part.probs_QCD)",
        "bins": 2000,
        "start": 0.0,
        "stop": 1.0,
        "name": "part_top_vs_qcd",
        "label": r"ParT $p_t / (p_t + p_{QCD})$",
    }
    names = {0: "QCD", 1: "top", 2: "W", 3: "Z", 4: "H", -1: "unmatched"}
    anomaly = {
        "expr": "log10(FatJet.nae_qcd.score)",
        "bins": 75,
        "start": -6.0,
        "stop": -1.0,
        "name": "anomaly",
        "label": r"NAE (QCD-trained) $\log_{10}$ energy",
    }
    msd = {
        "field": "FatJet.msoftdrop",
        "bins": 40,
        "start": 0.0,
        "stop": 300.0,
        "name": "msd",
        "label": r"$m_{SD}$ [GeV]",
    }
    return {
        "fileset": {d: [str(p) for p in fs] for d, fs in files.items()},
        "schema": "pfnano",
        "chunksize": chunksize,
        "plugins": [
            {"name": "top_bdt", "backend": "local"},
            {"name": "part", "backend": "local"},
            # a QCD-trained normalized autoencoder: anomaly score, no signal seen
            {"name": "nae_qcd", "backend": "local"},
            # an adversarially mass-decorrelated W tagger (its default working point)
            {"name": "adv_w", "backend": "local"},
        ],
        "histograms": {
            "score": {"axes": [score, truth], "weight": "genWeight", "cuts": kinematics},
            "score_fine": {"axes": [fine, truth], "weight": "genWeight", "cuts": kinematics},
            "part_fine": {"axes": [part_fine, truth], "weight": "genWeight", "cuts": kinematics},
            "msd_all": {"axes": [msd, truth], "weight": "genWeight", "cuts": kinematics},
            "msd_tagged": {
                "axes": [msd, truth],
                "weight": "genWeight",
                "cuts": [*kinematics, "FatJet.top_bdt.score > 0.5"],
            },
            "anomaly": {"axes": [anomaly, truth], "weight": "genWeight", "cuts": kinematics},
            # QCD jets a W tagger keeps: a decorrelated tagger leaves their mass shape alone
            "msd_w_tagged": {
                "axes": [msd, truth],
                "weight": "genWeight",
                "cuts": [*kinematics, "FatJet.adv_w.score > 0.5"],
            },
            "pt": {
                "axes": [
                    {
                        "field": "FatJet.pt",
                        "bins": 60,
                        "start": 200,
                        "stop": 1400,
                        "name": "pt",
                        "label": r"FatJet $p_T$ [GeV]",
                    }
                ],
                "weight": "genWeight",
            },
        },
        "plots": [
            {
                "type": "hist1d",
                "hist": "score",
                "overlay": "truth",
                "density": True,
                "log": True,
                "name": "score_by_truth",
                "labels": names,
            },
            {
                "type": "roc",
                "hist": "score_fine",
                "labels": names,
                "axis": "truth",
                "signal": 1,
                "background": 0,
                "name": "roc_top_vs_qcd",
            },
            {
                "type": "roc",
                "hist": "part_fine",
                "labels": names,
                "axis": "truth",
                "signal": 1,
                "background": 0,
                "name": "roc_part_top_vs_qcd",
            },
            {
                "type": "hist1d",
                "hist": "msd_tagged",
                "overlay": "truth",
                "name": "msd_tagged",
                "labels": names,
            },
            {
                "type": "hist1d",
                "hist": "msd_all",
                "overlay": "truth",
                "name": "msd_all",
                "labels": names,
            },
            {
                "type": "hist1d",
                "hist": "anomaly",
                "overlay": "truth",
                "density": True,
                "name": "anomaly_by_truth",
                "labels": names,
            },
            {
                "type": "hist1d",
                "hist": "msd_w_tagged",
                "overlay": "truth",
                "density": True,
                "name": "msd_w_tagged",
                "labels": names,
            },
            {"type": "hist1d", "hist": "pt", "overlay": "dataset", "log": True, "name": "pt"},
        ],
        "skims": {
            "jets": {  # the jets of the score histograms, with both taggers' outputs
                "collection": "FatJet",
                "fields": ["pt", "eta", "msoftdrop", "truthLabel", "top_bdt.score", "part.probs"],
                "event": ["run", "luminosityBlock", "event", "genWeight"],
                "cuts": kinematics,
                "format": "parquet",
            }
        },
    }


def run_demo(
    outdir: Path,
    *,
    n_events: int = 2000,
    cache: Path | None = None,
    executor: str = "futures",
    workers: int = 2,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Generate or reuse the demo sample, run it, write outputs into ``outdir``."""
    files = prepare_demo_sample(cache or default_cache(), n_events, workers=workers, log=log)
    outdir.mkdir(parents=True, exist_ok=True)
    config_path = outdir / "demo.yaml"
    config_path.write_text(yaml.safe_dump(demo_config(files), sort_keys=False))
    log(f"running {config_path} with the {executor} executor ...")
    return run(load_config(config_path), outdir, executor=executor, workers=workers, progress=True)
