"""Fast simulation against the chain it replaces, per jet, side by side in one process.

The full chain (what ``jetplug generate`` does after Pythia): the detector
response on the gen particles, anti-kT R = 0.8 clustering of the PF
candidates, and the substructure of each FatJet (soft drop, τ1–τ4, N2, N3).
The fast simulation: the ``fastsim_gan`` plugin through ``jetplug.Plugins``
on the same events (gen-jet inputs gathered, conditions and noise prepared,
the GAN, outputs decoded and the ``FastSimFatJet`` collection attached).
Pythia runs once, outside the timing; both contenders run on the same
batches in interleaved rounds (median of ``--repeat``), and the cost is per
FatJet each produces (pT > 170 GeV). Only the ratio is meaningful.

    python benchmarks/bench_fastsim.py --events 1000 --repeat 5 [--markdown FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np
import torch
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

from jetplug import Plugins
from jetplug.generation import DetectorResponse, generate
from jetplug.generation.events import FATJET_ETA_MAX, FATJET_PT_MIN, _gen_visible
from jetplug.generation.jets import cluster, substructure


def _pythia_batches(n_events: int, batch: int) -> list[ak.Array]:
    import pythia8mc

    from jetplug.generation.processes import PROCESSES, pythia_settings

    pythia = pythia8mc.Pythia("", False)
    for line in pythia_settings(
        PROCESSES["qcd"], seed=77, pt_hat_min=500, pt_hat_max=750, mpi=False, isr=True
    ):
        pythia.readString(line)
    pythia.init()
    return [_gen_visible(pythia.nextBatch(batch).prt) for _ in range(n_events // batch)]


def _full_chain(particles: list[ak.Array], detector: DetectorResponse) -> int:
    rng = np.random.default_rng(1)
    jets = 0
    for gen in particles:
        reco = detector.apply(gen, rng)
        fat = cluster(reco, 0.8, FATJET_PT_MIN, FATJET_ETA_MAX)
        cands = reco[ak.flatten(fat.constituent_index, axis=2)]
        n_cons = ak.num(fat.constituent_index, axis=2)
        per_jet = ak.unflatten(ak.flatten(cands, axis=1), ak.flatten(n_cons, axis=1))
        substructure(per_jet)
        jets += int(ak.sum(ak.num(fat.jets, axis=1)))
    return jets


def _fast(plugins: Plugins, chunks: list[ak.Array]) -> int:
    return sum(int(ak.sum(ak.num(plugins(events).FastSimFatJet))) for events in chunks)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = DetectorResponse.preset("realistic")
    particles = _pythia_batches(args.events, 250)
    tmp = Path(tempfile.mkdtemp(prefix="jetplug-bench-fastsim-"))
    files = generate("qcd", args.events, tmp, seed=77, pt_hat_min=500, pt_hat_max=750,
                     detector=detector, progress=False)  # fmt: skip
    chunks = [
        NanoEventsFactory.from_root({str(f): "Events"}, schemaclass=PFNanoAODSchema,
                                    mode="eager", metadata={"filename": str(f)}).events()
        for f in files
    ]  # fmt: skip
    plugins = Plugins(["fastsim_gan"])
    _fast(plugins, chunks)  # model built, caches warm
    times: dict[str, list[float]] = {"full": [], "fast": []}
    jets: dict[str, int] = {}
    for _ in range(args.repeat):
        start = time.perf_counter()
        jets["full"] = _full_chain(particles, detector)
        times["full"].append(time.perf_counter() - start)
        start = time.perf_counter()
        jets["fast"] = _fast(plugins, chunks)
        times["fast"].append(time.perf_counter() - start)
    per_jet = {k: statistics.median(v) / jets[k] for k, v in times.items()}
    lines = [
        f"{args.events} QCD events (pT-hat 500–750 GeV), median of {args.repeat} interleaved "
        f"rounds, {args.threads} torch thread(s).",
        "",
        "| contender | FatJets | time [s] | µs per FatJet | speed-up |",
        "|---|---:|---:|---:|---:|",
        f"| detector response + clustering + substructure | {jets['full']} | "
        f"{statistics.median(times['full']):.2f} | {1e6 * per_jet['full']:.0f} | 1× |",
        f"| fastsim_gan (jetplug.Plugins) | {jets['fast']} | "
        f"{statistics.median(times['fast']):.3f} | {1e6 * per_jet['fast']:.1f} | "
        f"{per_jet['full'] / per_jet['fast']:.0f}× |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
