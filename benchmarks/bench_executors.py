"""Executor scaling: one run of the Particle Transformer on 1 and on 2 workers.

``jetplug.run`` (preflight, plugins, histograms: the whole run) over the
same generated ttbar files with ``part`` (torch, 1 thread per worker) and a
histogram of its top-vs-QCD score, on the iterative executor, on coffea's
futures executor with 1 and 2 worker processes, and on a Dask LocalCluster
(127.0.0.1) with 1 and 2 workers. Rounds interleave the settings (median of
``--repeat``); the speed-up is 1 worker's time over 2 workers' on the same
executor, in the same run. ``--warm`` measures instead (beside the
iterative reference) Dask clusters kept open across the rounds (``jetplug
run --scheduler ADDRESS``, as a facility's cluster outlives each run): their
workers start, import and build the plugins once, in the first round, so the
median shows what a run costs on a warm cluster.

    python benchmarks/bench_executors.py --data DIR --events 12000 [--warm] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

from jetplug.config import parse_config
from jetplug.runner import local_cluster, run

SETTINGS = (("iterative", 1), ("futures", 1), ("futures", 2), ("dask", 1), ("dask", 2))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--events", type=int, default=12000)
    parser.add_argument("--chunksize", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--warm", action="store_true", help="add clusters kept open")
    args = parser.parse_args()
    files = sorted(args.data.glob("*.root"))[: max(1, args.events // 1000)]
    raw = {
        "fileset": {"ttbar": [str(f) for f in files]},
        "schema": "pfnano",
        "chunksize": args.chunksize,
        "plugins": [{"name": "part", "backend_options": {"threads": 1}}],
        "histograms": {
            "tvq": {
                "axes": [{"field": "FatJet.part.top_vs_qcd", "bins": 50, "start": 0, "stop": 1}]
            }
        },
    }
    config = parse_config(raw, base=Path.cwd())
    # idle warm clusters would slow the other settings' runs: measured on their own
    settings = [("iterative", 1), ("dask-warm", 1), ("dask-warm", 2)] if args.warm else SETTINGS
    times: dict[tuple[str, int], list[float]] = {s: [] for s in settings}
    reference = None
    with contextlib.ExitStack() as stack:
        warm = {n: stack.enter_context(local_cluster(n)) for n in (1, 2) if args.warm}
        for _ in range(args.repeat):
            for executor, workers in settings:
                scheduler = warm[workers].scheduler.address if executor == "dask-warm" else None
                start = time.perf_counter()
                result = run(
                    config,
                    None,
                    executor="dask" if scheduler else executor,
                    workers=workers,
                    scheduler=scheduler,
                )
                times[executor, workers].append(time.perf_counter() - start)
                values = result.hists["ttbar"]["tvq"].values(flow=True).tolist()
                reference = reference or values
                assert values == reference, f"{executor} x{workers} filled other histograms"
    med = {k: statistics.median(v) for k, v in times.items()}
    lines = [
        f"{len(files) * 1000} ttbar events ({len(files)} files), `part` (torch, 1 thread per "
        f"worker), chunksize {args.chunksize}, median of {args.repeat} interleaved rounds.",
        "",
        "| executor | workers | s | speed-up over 1 worker |",
        "|---|---:|---:|---:|",
    ]
    for executor, workers in settings:
        one = med.get((executor, 1), med[executor, workers])
        lines.append(
            f"| {executor} | {workers} | {med[executor, workers]:.1f} | "
            f"{one / med[executor, workers]:.2f}× |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
