"""Inference throughput: jetplug vs coffea.ml_tools, locally and on Triton.

One process, one generated file, one model (the shipped ``top_bdt``), one
chunk of events held in memory. Each contender takes the chunk's FatJets,
builds the same six features, runs the BDT and attaches one score per jet
to the events. Timings are medians of ``--repeat`` runs; ratios are taken
within this run against coffea's wrapper of the same kind (the machine is
noisy, absolute numbers are not comparable between runs).

    python benchmarks/bench_inference.py --events 5000 [--markdown docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from coffea.ml_tools.triton_wrapper import triton_wrapper
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema
from coffea_bdt import CoffeaXGB, bdt_features

from jetplug import PluginHost, Plugins
from jetplug.generation import generate
from jetplug.triton import ExportSettings, TritonServer, export_repository


class CoffeaTriton(triton_wrapper):  # type: ignore[misc]
    """coffea.ml_tools.triton_wrapper used as documented."""

    def prepare_awkward(self, events: ak.Array) -> tuple[list[Any], dict[str, Any]]:
        return [], {
            "output_list": ["score"],
            "input_dict": {"features": bdt_features(events.FatJet)},
        }

    def postprocess_awkward(self, ret: Any, events: ak.Array) -> ak.Array:
        return ak.unflatten(ak.flatten(ret["score"]), ak.num(events.FatJet))


Contender = tuple[str, str, Callable[[ak.Array], ak.Array], str]
"""(name, setting, per-chunk function, baseline name)."""


def _measure(contenders: list[Contender], chunks: list[ak.Array], repeat: int) -> dict[str, float]:
    """Median seconds per contender; rounds interleave contenders so load drifts hit all alike."""
    reference = None
    for name, _, fn, _ in contenders:  # warm-up (loads models, opens connections) and check
        out = ak.to_numpy(ak.flatten(ak.concatenate([fn(c) for c in chunks])))
        if reference is None:
            reference = out
        np.testing.assert_allclose(out, reference, rtol=1e-5, err_msg=name)
    times: dict[str, list[float]] = {f"{n} | {s}": [] for n, s, _, _ in contenders}
    for _ in range(repeat):
        for name, setting, fn, _ in contenders:
            start = time.perf_counter()
            for c in chunks:
                fn(c)
            times[f"{name} | {setting}"].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--data", type=Path, default=None, help="Directory with generated ttbar files."
    )
    parser.add_argument("--markdown", type=Path, default=None, help="Also write the table here.")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="jetplug-bench-"))
    files = sorted(args.data.glob("*.root")) if args.data else []
    if not files:
        files = generate(
            "ttbar", args.events, tmp / "ttbar", seed=77, pt_hat_min=400, workers=2, progress=False
        )
    # chunks of 1000 events (one generated file each), as a processor would see them
    chunks = [
        NanoEventsFactory.from_root(
            {str(f): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
        ).events()
        for f in files[: max(1, args.events // 1000)]
    ]
    for c in chunks:  # materialise the columns every contender reads
        for name in ("msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1"):
            ak.materialize(c.FatJet[name])
    n_events = sum(len(c) for c in chunks)
    n_jets = sum(int(ak.sum(ak.num(c.FatJet))) for c in chunks)
    host = PluginHost()
    spec = host.spec("top_bdt")
    threads = 2  # xgboost's predict uses every core by default: give jetplug the same

    def chain(backend: str = "local", **options: Any) -> Callable[[ak.Array], ak.Array]:
        # the public object a user's processor calls: checks, chunk context and all
        plugins = Plugins([{"name": "top_bdt", "backend": backend, "backend_options": options}])
        return lambda e: plugins(e).FatJet.top_bdt.score

    local: list[Contender] = [
        (
            "coffea.ml_tools.xgboost_wrapper",
            "DMatrix + predict",
            CoffeaXGB(str(spec.artifact.path)),
            "",
        ),
        (
            "jetplug local (xgboost)",
            f"inplace_predict, {threads} threads",
            chain(threads=threads),
            "coffea.ml_tools.xgboost_wrapper | DMatrix + predict",
        ),
    ]
    repo = tmp / "model_repository"
    export_repository(host, ["top_bdt"], repo, ExportSettings(max_batch_size=65536, instances=2))
    with TritonServer(repo, log_path=tmp / "triton.log") as server:
        remote: list[Contender] = []
        for batch in (256, 4096):
            base = ("coffea.ml_tools.triton_wrapper (gRPC)", f"batch {batch}, padded, 1 in flight")
            wrapper = CoffeaTriton(
                f"triton+grpc://{server.grpc_url}/top_bdt/1",
                client_args={"ssl": False},
                batch_size=batch,
            )
            remote.append((*base, wrapper, ""))
            for in_flight in (1, 4):
                remote.append(
                    (
                        "jetplug Triton (gRPC)",
                        f"batch ≤ {batch}, {in_flight} in flight",
                        chain(
                            "triton", url=server.grpc_url, max_batch_size=batch, in_flight=in_flight
                        ),
                        " | ".join(base),
                    )
                )
        contenders = local + remote
        medians = _measure(contenders, chunks, args.repeat)
    rows = []
    for name, setting, _, baseline in contenders:
        key = f"{name} | {setting}"
        rows.append((name, setting, medians[key], medians[baseline or key]))

    lines = [
        f"{n_events} events, {n_jets} FatJets, model `top_bdt` ({spec.artifact.sha256[:12]}), "
        f"median of {args.repeat} runs, one process; Triton on 127.0.0.1 (same 2 cores), "
        "python backend, 2 instances, dynamic batching.",
        "",
        "| contender | setting | events/s | jets/s | ratio vs coffea (same kind, same batch) |",
        "|---|---|---:|---:|---:|",
    ]
    for name, setting, t, base in rows:
        lines.append(
            f"| {name} | {setting} | {n_events / t:,.0f} | {n_jets / t:,.0f} | {base / t:.2f}× |"
        )
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
