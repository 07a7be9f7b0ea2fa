"""The CUDA path of local torch inference: same outputs as on CPU, and throughput.

For every torch plugin (taggers, the constituent calibrator, the GAN fast
simulation), input tensors shaped as the spec declares (particles with a
realistic mask: 20–64 real candidates per jet) go through jetplug's
``TorchBackend`` on ``cpu`` and on ``cuda``; the outputs must agree
(rtol 1e-3, atol 1e-4: TF32/cuDNN kernels differ from CPU ones), then each is
timed (median of ``--repeat``) at the backend's batch size. Throughput is in
jets per second; the ratio is CUDA over CPU in the same run.

    python benchmarks/bench_cuda.py --jets 65536 --cpu-jets 8192 [--markdown FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jetplug.backends.torch import TorchBackend


def _plugins() -> list[Any]:
    from jetplug.errors import ArtifactError
    from jetplug_calibration.constituent import ConstituentCalibrator
    from jetplug_fastsim.gan import GanFastSim
    from jetplug_taggers.part import ParticleTransformerTagger
    from jetplug_taggers.pfn import ParticleFlowTagger
    from jetplug_taggers.top_cnn import TopCNN
    from jetplug_taggers.top_mlp import TopMLP

    classes = (TopMLP, TopCNN, ParticleFlowTagger, ParticleTransformerTagger,
               ConstituentCalibrator, GanFastSim)  # fmt: skip
    models = []
    for cls in classes:
        try:
            model = cls()
            _ = model.spec
        except ArtifactError as e:  # a model not trained yet
            print(f"skipped: {e}")
            continue
        models.append(model)
    return models


def _tensors(spec: Any, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for t in spec.tensors_in:
        if t.name == "mask":
            real = rng.integers(20, t.shape[0] + 1, n)
            out[t.name] = (np.arange(t.shape[0])[None, :] < real[:, None]).astype(np.float32)
        else:
            out[t.name] = rng.standard_normal((n, *t.shape)).astype(np.float32)
    if "mask" in out and "particles" in out:
        out["particles"] *= out["mask"][..., None]
    return out


def _time(backend: TorchBackend, spec: Any, x: dict[str, np.ndarray], repeat: int) -> float:
    backend.infer(spec, {k: v[:256] for k, v in x.items()})  # load, warm up
    times = []
    for _ in range(repeat):
        if backend.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        backend.infer(spec, x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jets", type=int, default=65536, help="Rows timed on CUDA.")
    parser.add_argument("--cpu-jets", type=int, default=8192, help="Rows timed on CPU.")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    name = torch.cuda.get_device_name(0)
    lines = [
        f"{name}, torch {torch.__version__}; CPU: {args.threads} threads. Batch 8192 rows.",
        "",
        "| plugin | max \\|cuda − cpu\\| | CPU jets/s | CUDA jets/s | CUDA / CPU |",
        "|---|---:|---:|---:|---:|",
    ]
    for model in _plugins():
        spec = model.spec
        backends = {}
        for device in ("cpu", "cuda"):
            backend = TorchBackend({"device": device, "threads": args.threads})
            backend.bind(model)
            backends[device] = backend
        x = _tensors(spec, args.jets, rng)
        small = {k: v[: args.cpu_jets] for k, v in x.items()}
        cpu_out = backends["cpu"].infer(spec, small)
        gpu_out = backends["cuda"].infer(spec, small)
        diff = 0.0
        for key, value in cpu_out.items():
            np.testing.assert_allclose(gpu_out[key], value, rtol=1e-3, atol=1e-4, err_msg=key)
            diff = max(diff, float(np.max(np.abs(gpu_out[key] - value))))
        cpu_rate = args.cpu_jets / _time(backends["cpu"], spec, small, args.repeat)
        gpu_rate = args.jets / _time(backends["cuda"], spec, x, args.repeat)
        lines.append(
            f"| {spec.name} | {diff:.1e} | {cpu_rate:,.0f} | {gpu_rate:,.0f} | "
            f"{gpu_rate / cpu_rate:.1f}× |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
