"""Trigger latency: time per jet of each plugin's model at batch 1 and batch 1024, on CPU.

What a trigger pays per decision: the model call on tensors already prepared
(``backend.infer``), locally (the plugin's in-process backend, ``--threads``
threads) and through a real Triton server over gRPC on 127.0.0.1 (the repository
``jetplug triton export`` writes: python backend, CPU, one instance; the gRPC
round trip included). Inputs are the prepared tensors of real FatJets from
generated ttbar events (``--data``, else 2000 events generated in a temporary
directory), so the constituent networks see realistic padding. Batch 1 calls
are timed one by one, ``--calls`` times, batch 1024 calls ``--calls // 10``
times (at least 3); rounds interleave the plugins and backends so that load
drifts hit all alike; the table gives medians, and the per-jet time of a batch
is its call time divided by its size.

    python benchmarks/bench_trigger_latency.py [--plugins top_bdt,top_mlp,top_cnn,pfn,part] \
        [--data data/calib/test/ttbar] [--markdown docs/validation/trigger/latency.md]

Adding a plugin (an anomaly score, say) is ``--plugins ...,its_name``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from jetplug import PluginHost
from jetplug.backends.base import Backend
from jetplug.chain import PluginChain
from jetplug.config import PluginConfig
from jetplug.generation import generate
from jetplug.spec import ModelSpec
from jetplug.triton import ExportSettings, TritonServer, export_repository
from jetplug.validation.collect import read_events

DEFAULT_PLUGINS = "top_bdt,top_mlp,top_cnn,pfn,part"
BATCHES = (1, 1024)


def prepared_tensors(
    host: PluginHost, name: str, files: list[Path], n: int
) -> tuple[ModelSpec, dict[str, np.ndarray]]:
    """The first ``n`` jets' tensors as the plugin's ``prepare`` makes them (cycled if fewer)."""
    chain = PluginChain([PluginConfig(name)], host)
    step = chain.steps[0]
    parts: list[Mapping[str, np.ndarray]] = []
    got = 0
    for path in files:
        events = read_events(str(path))

        def record(stage: str, value: object) -> None:
            if stage == "prepare":
                parts.append(value)  # type: ignore[arg-type]

        step.run(events, host, None, record)
        got = sum(len(next(iter(p.values()))) for p in parts)
        if got >= n:
            break
    tensors = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    index = np.arange(n) % got
    chain.close()
    return step.spec, {k: np.ascontiguousarray(v[index]) for k, v in tensors.items()}


def time_calls(
    backend: Backend, spec: ModelSpec, tensors: Mapping[str, np.ndarray], batch: int, calls: int
) -> list[float]:
    """Seconds per call of ``calls`` calls at ``batch`` jets (a different slice each call)."""
    n = len(next(iter(tensors.values())))
    out = []
    for i in range(calls):
        start = (i * batch) % max(1, n - batch + 1)
        x = {k: v[start : start + batch] for k, v in tensors.items()}
        t0 = time.perf_counter()
        backend.infer(spec, x)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plugins", default=DEFAULT_PLUGINS, help="Comma-separated plugins.")
    parser.add_argument("--data", type=Path, default=None, help="Directory of ttbar files.")
    parser.add_argument("--calls", type=int, default=200, help="Batch-1 calls per round.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="Local torch/xgboost threads.")
    parser.add_argument("--no-triton", action="store_true", help="Local backends only.")
    parser.add_argument("--markdown", type=Path, default=None, help="Also write the table here.")
    args = parser.parse_args()
    names = [n.strip() for n in args.plugins.split(",") if n.strip()]
    load = os.getloadavg()[0]

    tmp = Path(tempfile.mkdtemp(prefix="jetplug-trigger-latency-"))
    files = sorted(args.data.glob("*.root")) if args.data else []
    if not files:
        files = generate(
            "ttbar", 2000, tmp / "ttbar", seed=79, pt_hat_min=500, pt_hat_max=750, progress=False
        )
    host = PluginHost()
    n_jets = max(BATCHES) + 512
    inputs = {name: prepared_tensors(host, name, files, n_jets) for name in names}
    local = {
        name: host.create_backend(spec, "local", {"threads": args.threads})
        for name, (spec, _) in inputs.items()
    }
    contenders: dict[tuple[str, str], Backend] = {(n, "local"): b for n, b in local.items()}
    calls = {1: args.calls, max(BATCHES): max(3, args.calls // 10)}
    times: dict[tuple[str, str, int], list[float]] = {}
    with contextlib.ExitStack() as stack:
        if not args.no_triton:
            repo = tmp / "model_repository"
            export_repository(host, names, repo, ExportSettings(max_batch_size=max(BATCHES)))
            server = stack.enter_context(TritonServer(repo, log_path=tmp / "triton.log"))
            for name, (spec, _) in inputs.items():
                options = {"url": server.grpc_url, "protocol": "grpc", "in_flight": 1}
                contenders[(name, "triton")] = host.create_backend(spec, "triton", options)
        for backend in contenders.values():
            stack.callback(backend.close)
        for (name, _kind), backend in contenders.items():  # warm-up: loads, compiles, connects
            spec, tensors = inputs[name]
            for batch in BATCHES:
                time_calls(backend, spec, tensors, batch, 3)
        for _ in range(args.rounds):
            for (name, kind), backend in contenders.items():
                spec, tensors = inputs[name]
                for batch in BATCHES:
                    t = time_calls(backend, spec, tensors, batch, calls[batch])
                    times.setdefault((name, kind, batch), []).extend(t)

    def per_jet(name: str, kind: str, batch: int) -> float:
        return statistics.median(times[(name, kind, batch)]) / batch

    big = max(BATCHES)
    kinds = ["local"] + ([] if args.no_triton else ["triton"])
    header = "| plugin | version |"
    rule = "|---|---|"
    for kind in kinds:
        where = "local" if kind == "local" else "Triton gRPC"
        header += f" {where} batch 1 [ms/jet] | {where} batch {big} [µs/jet] |"
        rule += "---:|---:|"
    if not args.no_triton:
        header += " Triton / local at 1 | at 1024 |"
        rule += "---:|---:|"
    lines = [
        "Model call per jet (`backend.infer` on the prepared tensors of generated ttbar FatJets), "
        f"median of {args.rounds} interleaved rounds ({calls[1]} calls at batch 1, "
        f"{calls[big]} at batch {big}); local backends {args.threads} thread(s); Triton "
        "2.51 python backend on 127.0.0.1, one CPU instance, 1 request in flight; "
        f"{platform.processor() or platform.machine()}, one process; load average "
        f"{load:.1f} at the start ({os.cpu_count()} CPUs).",
        "",
        header,
        rule,
    ]
    for name in names:
        row = f"| {name} | {inputs[name][0].version} |"
        for kind in kinds:
            row += f" {1e3 * per_jet(name, kind, 1):.3g} | {1e6 * per_jet(name, kind, big):.3g} |"
        if not args.no_triton:
            r1 = per_jet(name, "triton", 1) / per_jet(name, "local", 1)
            rb = per_jet(name, "triton", big) / per_jet(name, "local", big)
            row += f" {r1:.1f}× | {rb:.1f}× |"
        lines.append(row)
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
