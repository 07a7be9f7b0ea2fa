"""End to end: jetplug's processor beside plain coffea processors, through coffea's Runner.

All contenders run the same generated ttbar files through
``coffea.processor.Runner`` (iterative executor, PFNano schema, the same
``--chunksize``) in one process and fill one 2-D histogram of
``FatJet.pt`` against a per-jet value (50 x 50 bins):

* ``plain read``: a coffea processor that reads the columns the tagger reads
  (``FatJet.pt`` and the seven substructure branches) and fills the
  histogram with one of them (N2) instead of a score: the floor.
* ``coffea.ml_tools``: a coffea processor that builds the six features with
  awkward operations and runs the shipped ``top_bdt`` model through
  ``coffea.ml_tools.xgboost_wrapper``, as that wrapper is documented.
* ``jetplug processor``: :class:`jetplug.processor.PluginProcessor` with a
  run config of ``top_bdt`` and the histogram (every per-chunk check on).
* ``jetplug.run()``: :func:`jetplug.runner.run` in-process (preflight of the
  files, normalisation, the same Runner), no output files.

Rounds interleave the contenders so that load drifts hit all alike; times are
medians of ``--repeat`` rounds, ratios are taken within the run (absolute
numbers are not comparable between runs on a shared machine). The histograms
of ``coffea.ml_tools`` and jetplug are checked to agree before timing.
``--cli`` also times ``jetplug run`` as a subprocess (start-up included).

    python benchmarks/bench_end_to_end.py --data DIR [--repeat 5] [--chunksize 100000] \
        [--cli] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import awkward as ak
import hist
import numpy as np
import yaml
from coffea import processor
from coffea.nanoevents import PFNanoAODSchema
from coffea_bdt import CoffeaXGB

from jetplug import PluginHost
from jetplug.config import parse_config
from jetplug.processor import PluginProcessor
from jetplug.runner import run

BINS = {"pt": (50, 0.0, 1500.0), "value": (50, 0.0, 1.0)}
INPUTS = ("msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1")


def _book() -> hist.Hist[Any]:
    h: hist.Hist[Any] = hist.Hist(
        hist.axis.Regular(*BINS["pt"], name="pt"),
        hist.axis.Regular(*BINS["value"], name="value"),
        storage=hist.storage.Double(),
    )
    return h


class PlainProcessor(processor.ProcessorABC):  # type: ignore[misc]
    """Reads the tagger's columns and FatJet.pt, fills pt against N2."""

    def process(self, events: ak.Array) -> dict[str, Any]:
        fj = events.FatJet
        for name in INPUTS:  # read what the tagger reads
            ak.to_numpy(ak.flatten(fj[name]))
        h = _book()
        h.fill(
            pt=ak.to_numpy(ak.flatten(fj.pt)),
            value=ak.to_numpy(ak.flatten(fj.n2b1)),
        )
        return {"h": h, "events": len(events)}

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        return accumulator


class MLToolsProcessor(processor.ProcessorABC):  # type: ignore[misc]
    """The same histogram with the score from ``coffea.ml_tools.xgboost_wrapper``."""

    def __init__(self, model: str) -> None:
        self.tagger = CoffeaXGB(model)  # xgboost's predict uses every core by default

    def process(self, events: ak.Array) -> dict[str, Any]:
        fj = events.FatJet
        score = self.tagger(events)
        h = _book()
        h.fill(pt=ak.to_numpy(ak.flatten(fj.pt)), value=ak.to_numpy(ak.flatten(score)))
        return {"h": h, "events": len(events)}

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        return accumulator


def _raw_config(files: list[Path], chunksize: int, threads: int) -> dict[str, Any]:
    return {
        "fileset": {"ttbar": [str(f) for f in files]},
        "chunksize": chunksize,
        "plugins": [{"name": "top_bdt", "backend_options": {"threads": threads}}],
        "histograms": {
            "score": {
                "axes": [
                    {"field": "FatJet.pt", "name": "pt", "bins": 50, "start": 0, "stop": 1500},
                    {
                        "field": "FatJet.top_bdt.score",
                        "name": "value",
                        "bins": 50,
                        "start": 0,
                        "stop": 1,
                    },
                ]
            }
        },
    }


def _runner(chunksize: int) -> processor.Runner:
    return processor.Runner(
        executor=processor.IterativeExecutor(status=False),
        schema=PFNanoAODSchema,
        chunksize=chunksize,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="Directory of ttbar files.")
    parser.add_argument("--events", type=int, default=None, help="Use the first files only.")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chunksize", type=int, default=100_000)
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="jetplug's xgboost threads (give it what xgboost's default takes: every core).",
    )
    parser.add_argument("--cli", action="store_true", help="Also time `jetplug run`.")
    parser.add_argument("--markdown", type=Path, default=None, help="Also write the table here.")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*Missing cross-reference.*")
    warnings.filterwarnings("ignore", message="Branch .* already exists")

    files = sorted(args.data.resolve().glob("*.root"))  # the config lives in a temporary folder
    if args.events is not None:
        files = files[: max(1, args.events // 1000)]
    fileset = {"ttbar": {"files": {str(f): "Events" for f in files}}}
    tmp = Path(tempfile.mkdtemp(prefix="jetplug-e2e-"))
    raw = _raw_config(files, args.chunksize, args.threads)
    config_path = tmp / "run.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    config = parse_config(raw, base=tmp, source=str(config_path))
    host = PluginHost()
    model = str(host.spec("top_bdt").artifact.path)

    jp = PluginProcessor(config, host=host)
    ml = MLToolsProcessor(model)
    plain = PlainProcessor()

    def through_runner(proc: processor.ProcessorABC) -> Callable[[], Any]:
        return lambda: _runner(args.chunksize)(fileset, proc, treename=None)

    def cli() -> Any:
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        cmd = [sys.executable, "-m", "jetplug", "run", str(config_path), "-o", str(tmp / "out")]
        subprocess.run([*cmd, "--no-plots"], check=True, env=env, capture_output=True)

    contenders: dict[str, Callable[[], Any]] = {
        "plain read (coffea processor, no model)": through_runner(plain),
        "coffea.ml_tools.xgboost_wrapper processor": through_runner(ml),
        "jetplug PluginProcessor": through_runner(jp),
        "jetplug.run() in-process (preflight included)": lambda: run(
            config, None, plots=False, host=host
        ),
    }
    if args.cli:
        contenders["`jetplug run` CLI (start-up included)"] = cli

    # warm-up, and the same histogram from both scorers
    out_ml = contenders["coffea.ml_tools.xgboost_wrapper processor"]()
    out_jp = contenders["jetplug PluginProcessor"]()
    assert not out_jp["failed"], out_jp["failed"]
    mine = out_jp["hists"]["ttbar"]["score"].values()
    theirs = out_ml["h"].values()
    np.testing.assert_allclose(mine, theirs, atol=2)  # float32 ties at bin edges
    for name, fn in contenders.items():
        if name not in ("jetplug PluginProcessor", "coffea.ml_tools.xgboost_wrapper processor"):
            fn()
    n_events = int(out_ml["events"])
    n_jets = int(out_ml["h"].values(flow=True).sum())

    times: dict[str, list[float]] = {n: [] for n in contenders}
    for _ in range(args.repeat):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    median = {n: statistics.median(t) for n, t in times.items()}
    plain_t = median["plain read (coffea processor, no model)"]
    ml_t = median["coffea.ml_tools.xgboost_wrapper processor"]
    lines = [
        f"{n_events} ttbar events ({len(files)} files, {n_jets} FatJets), iterative executor, "
        f"chunksize {args.chunksize}, jetplug xgboost threads {args.threads}, "
        f"median of {args.repeat} interleaved rounds, one process.",
        "",
        "| contender | s | events/s | over plain read | speed vs ml_tools |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, t in median.items():
        lines.append(
            f"| {name} | {t:.3f} | {n_events / t:,.0f} | {100 * (t / plain_t - 1):+.0f} % | "
            f"{ml_t / t:.2f}× |"
        )
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()
