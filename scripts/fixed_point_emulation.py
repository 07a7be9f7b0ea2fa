"""Fixed-point emulation of a small tagger network with hls4ml: AUC in floating and fixed point.

Converts a plugin's MLP (default ``top_mlp``: 6 substructure features, 2x64
ReLU, one logit) with hls4ml, compiles its bit-accurate C++ emulation and
compares it with the floating-point network on held-out jets, for a few
``ap_fixed<W,I>`` precisions (:mod:`jetplug.validation.fixed_point`).

    python scripts/fixed_point_emulation.py data/calib/test/ttbar/*.root data/calib/test/qcd/*.root \
        [--plugin top_mlp] [--precisions 16,6 12,5 10,4 8,3] \
        [--markdown docs/validation/trigger/fixed_point.md]

Needs the ``hls`` extra (``pip install -e ".[hls]"``: hls4ml) and g++.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from jetplug import PluginHost
from jetplug.training.data import TrainSettings, load_jets
from jetplug.validation.fixed_point import compare, fixed_point_markdown, float_network


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", type=Path, help="Held-out ttbar and QCD files.")
    parser.add_argument("--plugin", default="top_mlp")
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["16,6", "12,5", "10,4", "8,3"],
        help="W,I pairs: ap_fixed<W,I> (W bits, I integer bits with the sign).",
    )
    parser.add_argument("--pt-min", type=float, default=500.0)
    parser.add_argument("--pt-max", type=float, default=700.0)
    parser.add_argument("--max-jets", type=int, default=20000)
    parser.add_argument("--markdown", type=Path, default=None, help="Also write the table here.")
    args = parser.parse_args()
    torch.set_num_threads(1)

    host = PluginHost()
    net, mean, std = float_network(host, args.plugin)
    model = host.create_model(args.plugin)
    sample = load_jets(args.files, model, TrainSettings(pt_min=args.pt_min, pt_max=args.pt_max))
    x = next(iter(model.prepare(sample.inputs).values())).astype(np.float32)
    x = ((x - mean) / std).astype(np.float32)
    labels = sample.label
    if len(x) > args.max_jets:
        keep = np.random.default_rng(1).choice(len(x), args.max_jets, replace=False)
        x, labels = x[keep], labels[keep]
    rows = compare(net, x, labels, [f"ap_fixed<{p.strip()}>" for p in args.precisions])
    n_s, n_b = int((labels == 1).sum()), int((labels == 0).sum())
    text = (
        f"`{args.plugin}` {model.spec.version} on {n_s} top and {n_b} QCD jets "
        f"({args.pt_min:g} < pT < {args.pt_max:g} GeV, |η| < 2) of {len(args.files)} files; "
        "hls4ml C++ emulation (Vivado backend, io_parallel), one precision for weights, "
        "biases, activations and accumulators; Δ is on the logit.\n\n" + fixed_point_markdown(rows)
    )
    print(text, end="")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
