"""Cost of each tagger plugin in the processor: local inference through the plugin chain.

One process, chunks of 1000 generated ttbar events (pT-hat 500-750 GeV) held in
memory. Each contender is a :class:`jetplug.chain.PluginChain` of one tagger
(inputs gathered from the events, ``prepare``, the model, outputs attached), run
on the same chunks; rounds interleave the contenders so that load drifts hit
all alike. Times are medians of ``--repeat`` rounds; the cost is given relative
to ``top_bdt`` in the same run (absolute numbers are not comparable between runs).

    python benchmarks/bench_taggers.py --data data/train/ttbar --events 3000 \
        [--markdown docs/benchmarks-taggers.md]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import awkward as ak
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

from jetplug import PluginHost
from jetplug.chain import PluginChain
from jetplug.config import PluginConfig
from jetplug.generation import generate

TAGGERS = ("top_bdt", "top_mlp", "top_cnn", "pfn", "part")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch and xgboost threads.")
    parser.add_argument("--data", type=Path, default=None, help="Directory of ttbar files.")
    parser.add_argument("--markdown", type=Path, default=None, help="Also write the table here.")
    args = parser.parse_args()

    files = sorted(args.data.glob("*.root")) if args.data else []
    if not files:
        tmp = Path(tempfile.mkdtemp(prefix="jetplug-bench-"))
        files = generate(
            "ttbar", args.events, tmp, seed=78, pt_hat_min=500, pt_hat_max=750, workers=2
        )
    chunks = [
        NanoEventsFactory.from_root(
            {str(f): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
        ).events()
        for f in files[: max(1, args.events // 1000)]
    ]
    host = PluginHost()
    chains = {
        name: PluginChain([PluginConfig(name, backend_options={"threads": args.threads})], host)
        for name in TAGGERS
    }
    for name, chain in chains.items():  # warm-up: loads models, materialises columns
        for c in chunks:
            ak.materialize(chain.apply(c).FatJet[name])
    times: dict[str, list[float]] = {n: [] for n in TAGGERS}
    for _ in range(args.repeat):
        for name, chain in chains.items():
            start = time.perf_counter()
            for c in chunks:
                ak.materialize(chain.apply(c).FatJet[name])
            times[name].append(time.perf_counter() - start)
    median = {n: statistics.median(t) for n, t in times.items()}
    n_events = sum(len(c) for c in chunks)
    n_jets = sum(int(ak.sum(ak.num(c.FatJet))) for c in chunks)
    lines = [
        f"{n_events} ttbar events, {n_jets} FatJets, local backend, {args.threads} threads, "
        f"median of {args.repeat} interleaved rounds, one process.",
        "",
        "| tagger | version | jets/s | cost vs top_bdt |",
        "|---|---|---:|---:|",
    ]
    for name in TAGGERS:
        version = host.spec(name).version
        lines.append(
            f"| `{name}` | {version} | {n_jets / median[name]:,.0f} "
            f"| {median[name] / median['top_bdt']:.1f}× |"
        )
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
