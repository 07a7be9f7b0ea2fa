"""Fixed-point emulation of a small network with hls4ml, as a Level-1 trigger would run it.

A Level-1 trigger runs its network on an FPGA in fixed-point arithmetic
(CMS's L1 anomaly triggers are built this way, with hls4ml). :func:`emulate`
converts a plugin's MLP with hls4ml's PyTorch front end and runs hls4ml's
bit-accurate C++ emulation (Vivado backend, ``io_parallel``, compiled with
g++) at one ``ap_fixed<W,I>`` precision for weights, biases, activations
and accumulators alike; :func:`compare` puts its AUC and R50 beside the
floating-point network's on the same jets. The plugin's standardisation
(its module's ``mean``/``std`` buffers) is applied before the network, as a
trigger's input stage would; the final sigmoid is monotonic and left out.

Needs the ``hls`` extra (``pip install -e ".[hls]"``: hls4ml) and g++.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import JetplugError
from ..host import PluginHost
from ..metrics import RejectionResult, tagging_metrics

__all__ = ["FixedPointRow", "compare", "emulate", "fixed_point_markdown", "float_network"]


def float_network(host: PluginHost, name: str) -> tuple[Any, np.ndarray, np.ndarray]:
    """The MLP (``net``, an ``nn.Sequential``) of plugin ``name`` and its standardisation."""
    import torch

    model = host.create_model(name)
    module = model.build_module()
    state = torch.load(model.spec.artifact.path, map_location="cpu", weights_only=True)
    module.load_state_dict(state)
    module.eval()
    net = getattr(module, "net", None)
    if not isinstance(net, torch.nn.Sequential):
        msg = f"{name}: the emulation takes a module with an nn.Sequential 'net' (as top_mlp's)"
        raise JetplugError(msg)
    return net, module.mean.numpy(), module.std.numpy()


def emulate(net: Any, x: np.ndarray, precision: str, workdir: Path | None = None) -> np.ndarray:
    """hls4ml's compiled C++ emulation of ``net`` at ``precision`` (``ap_fixed<16,6>``) on ``x``."""
    try:
        import hls4ml
    except ImportError:
        msg = 'the fixed-point emulation needs hls4ml: pip install -e ".[hls]"'
        raise JetplugError(msg) from None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="jetplug-hls4ml-"))
    config = hls4ml.utils.config_from_pytorch_model(
        net, (None, x.shape[1]), granularity="name", default_precision=precision, backend="Vivado"
    )
    hls_model = hls4ml.converters.convert_from_pytorch_model(
        net, hls_config=config, output_dir=str(workdir), backend="Vivado", io_type="io_parallel"
    )
    hls_model.compile()
    out = np.asarray(hls_model.predict(np.ascontiguousarray(x, dtype=np.float32)))
    return out.reshape(len(x)).astype(np.float64)


@dataclass(frozen=True)
class FixedPointRow:
    """One arithmetic: its AUC/R50 and how far its outputs are from floating point."""

    arithmetic: str
    metrics: RejectionResult
    mean_diff: float
    max_diff: float


def compare(
    net: Any, x: np.ndarray, labels: np.ndarray, precisions: list[str]
) -> list[FixedPointRow]:
    """Floating point (torch) and each fixed-point ``precisions`` on standardised ``x``."""
    import torch

    with torch.no_grad():
        reference = net(torch.from_numpy(np.asarray(x, np.float32))).numpy().reshape(len(x))
    rows = [FixedPointRow("float32 (torch)", tagging_metrics(labels, reference), 0.0, 0.0)]
    for precision in precisions:
        out = emulate(net, x, precision)
        diff = np.abs(out - reference)
        rows.append(
            FixedPointRow(
                precision, tagging_metrics(labels, out), float(diff.mean()), float(diff.max())
            )
        )
    return rows


def fixed_point_markdown(rows: list[FixedPointRow]) -> str:
    """The table: AUC (bootstrap error), its change from floating point, R50, output differences."""
    base = rows[0].metrics.auc
    lines = [
        "| arithmetic | AUC | AUC − float | R50 | mean \\|Δ\\| | max \\|Δ\\| |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        m = r.metrics
        lines.append(
            f"| `{r.arithmetic}` | {m.auc:.4f} ± {m.auc_err:.4f} | {m.auc - base:+.4f} | "
            f"{m.rejection:.1f} ± {m.rejection_err:.1f} | {r.mean_diff:.3g} | {r.max_diff:.3g} |"
        )
    return "\n".join(lines) + "\n"
