"""The Particle Transformer in a processor: jetplug beside coffea.ml_tools.torch_wrapper.

Both contenders run the shipped ``part`` model on every FatJet of the same
generated ttbar chunks (PFNano, held in memory), with the same particle
features (jetplug's gathering and ``prepare``, 64 padded candidates with a
mask) and the same number of torch threads:

* ``coffea.ml_tools.torch_wrapper`` on the TorchScript export of the model
  (the file ``jetplug triton export`` serves), as its documentation shows:
  ``prepare_awkward`` hands the padded features to the model, which runs on
  all the chunk's jets at once;
* ``jetplug.Plugins(["part"])`` with the torch backend (torch eager; jets
  sorted by constituent count, each batch's padding trimmed to its longest
  jet, ``JetModel.padding_invariant``), and with ``runtime: onnxruntime``
  (the verified module exported to ONNX once per process, checked against
  torch, run by ONNX Runtime).

The outputs are checked equal first (rtol 1e-3, atol 1e-4: ONNX Runtime and
torch round differently). Rounds interleave the contenders (median of
``--repeat``); the ratio is within one run.

    python benchmarks/bench_part.py --data DIR --events 8000 --threads 1 2 [--markdown FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import torch
from coffea.ml_tools.torch_wrapper import torch_wrapper
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

from jetplug import PluginHost, Plugins
from jetplug.columns import gather_inputs
from jetplug.triton.repository import _torchscript


class PartWrapper(torch_wrapper):  # type: ignore[misc]
    """coffea's wrapper around the TorchScript ParT: padded features in, probabilities out."""

    def __init__(self, path: str, host: PluginHost) -> None:
        super().__init__(path)
        self.host = host
        self.plugin = host.create_model("part")

    def prepare_awkward(self, events: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        inputs, _ = gather_inputs(events, self.plugin.spec, self.host.derivations)
        t = self.plugin.prepare(inputs)
        return (ak.Array(t["particles"]), ak.Array(t["mask"])), {}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="Directory of ttbar files.")
    parser.add_argument("--events", type=int, default=8000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    files = sorted(args.data.glob("*.root"))[: max(1, args.events // 1000)]
    chunks = [
        NanoEventsFactory.from_root({str(f): "Events"}, schemaclass=PFNanoAODSchema,
                                    mode="eager").events()
        for f in files
    ]  # fmt: skip
    n_jets = sum(int(ak.sum(ak.num(c.FatJet))) for c in chunks)
    host = PluginHost()
    script = Path(tempfile.mkdtemp(prefix="jetplug-bench-part-")) / "part.pt"
    _torchscript(host, "part", script)
    wrapper = PartWrapper(str(script), host)
    lines = [
        f"{sum(len(c) for c in chunks)} ttbar events, {n_jets} FatJets, {len(chunks)} chunks; "
        f"median of {args.repeat} interleaved rounds.",
        "",
        "| threads | coffea torch_wrapper (TorchScript) | jetplug, torch | ratio | "
        "jetplug, onnxruntime | ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for threads in args.threads:
        torch.set_num_threads(threads)
        runs = {
            runtime: Plugins(
                [{"name": "part", "backend_options": {"threads": threads, "runtime": runtime}}],
                host=host,
            )
            for runtime in ("torch", "onnxruntime")
        }
        theirs = np.concatenate([np.asarray(wrapper(c)) for c in chunks])
        for plugins in runs.values():
            ours = [ak.to_numpy(ak.flatten(plugins(c).FatJet.part.probs)) for c in chunks]
            np.testing.assert_allclose(np.concatenate(ours), theirs, rtol=1e-3, atol=1e-4)
        times: dict[str, list[float]] = {"coffea": [], "torch": [], "onnxruntime": []}
        for _ in range(args.repeat):
            torch.set_num_threads(threads)
            start = time.perf_counter()
            for c in chunks:
                wrapper(c)
            times["coffea"].append(time.perf_counter() - start)
            for runtime, plugins in runs.items():
                torch.set_num_threads(threads)
                start = time.perf_counter()
                for c in chunks:
                    plugins(c)
                times[runtime].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in times.items()}
        lines.append(
            f"| {threads} | {n_jets / med['coffea']:,.0f} jets/s | "
            f"{n_jets / med['torch']:,.0f} jets/s | {med['coffea'] / med['torch']:.2f}× | "
            f"{n_jets / med['onnxruntime']:,.0f} jets/s | "
            f"{med['coffea'] / med['onnxruntime']:.2f}× |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
