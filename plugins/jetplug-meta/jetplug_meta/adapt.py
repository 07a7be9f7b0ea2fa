"""Few-shot adaptation: a shipped initialisation + K labelled jets -> a tagger plugin.

    python -m jetplug_meta.adapt NAME --signal W -k 100 \\
        --signal-files data/train/wjets/*.root --background-files data/train/qcd/*.root

draws K/2 signal and K/2 QCD jets (pT 500-700 GeV, |η| < 2) from the
``train`` split of the files (the ``val``/``test`` splits stay free for
evaluating the result), runs the fine-tuning of the study (full-batch
gradient descent, :func:`jetplug.training.meta.fine_tune`) from the
meta-learned start (``--init maml``, default) or the pooled pre-trained one
(``--init pooled``), and writes ``meta_<NAME>.pt`` and its metadata: a plugin
called ``meta_<NAME>`` at the next start (``jetplug plugins``), run like any
tagger, locally or on Triton. In Python::

    from jetplug_meta.adapt import adapt_network
    net = adapt_network(INITS["maml"], x, y)   # x: (n, 6) substructure features, y: 0/1
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jetplug import load_model_metadata, write_model_metadata
from jetplug.artifacts import relative_path
from jetplug.samples import detectors_of
from jetplug.spec import sha256_file

from .common import MODELS, NETWORK, PT_WINDOW, SIGNALS, build_network, jet_features

__all__ = [
    "FINE_TUNE_LR",
    "FINE_TUNE_STEPS",
    "INITS",
    "adapt_files",
    "adapt_network",
    "load_init",
    "main",
]

INITS = {name: MODELS / f"init_{name}.pt" for name in ("maml", "pooled", "fomaml", "reptile")}
"""The shipped starting points: MAML (the default), pooled pre-training, first-order MAML,
Reptile (scripts/train_meta.py)."""
FINE_TUNE_STEPS = 100
"""Full-batch gradient-descent steps of the adaptation (fixed a priori, the same for every
starting point in the study of docs/meta.md)."""
FINE_TUNE_LR = 0.1
VERSION = "1.0.0"


def load_init(path: Path) -> Any:
    """The StandardizedMLP of a starting point (state dict read with ``weights_only=True``)."""
    import torch

    net = build_network(load_model_metadata(path))
    net.load_state_dict(torch.load(path, weights_only=True))
    return net


def adapt_network(
    init: Path | Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    steps: int = FINE_TUNE_STEPS,
    lr: float = FINE_TUNE_LR,
) -> Any:
    """A new StandardizedMLP: ``init`` (path or module) fine-tuned on ``x``, labels ``y``."""
    from jetplug.training.meta import Logits, fine_tune

    start = load_init(init) if isinstance(init, Path) else init
    tuned: Any = fine_tune(Logits(start), x, y, steps=int(steps), lr=float(lr))
    return tuned.module


def adapt_files(
    name: str,
    signal_files: Sequence[Path],
    background_files: Sequence[Path],
    *,
    signal: str,
    k: int,
    init: str = "maml",
    steps: int = FINE_TUNE_STEPS,
    lr: float = FINE_TUNE_LR,
    seed: int = 0,
    output_dir: Path = MODELS,
) -> Path:
    """Adapt ``init`` with K jets of ``signal`` and QCD from the files; write ``meta_<name>.pt``."""
    import torch

    from jetplug.training.meta import support_sets

    truth = SIGNALS[signal]
    sig = jet_features(signal_files).of(truth, "train")
    bkg = jet_features(background_files).of(0, "train")
    x = np.concatenate([sig, bkg])
    y = np.concatenate([np.ones(len(sig)), np.zeros(len(bkg))]).astype(np.float32)
    rows = support_sets(y, k, 1, np.random.default_rng(seed))[0]
    torch.manual_seed(seed)
    net = adapt_network(INITS[init], x[rows], y[rows], steps=steps, lr=lr)
    output_dir.mkdir(parents=True, exist_ok=True)
    out = output_dir / f"meta_{name}.pt"
    torch.save(net.state_dict(), out)
    files = [*signal_files, *background_files]
    write_model_metadata(
        out,
        VERSION,
        plugin=f"meta_{name}",
        signal=signal,
        signal_truth=truth,
        k=k,
        init={"name": init, "file": INITS[init].name, "sha256": sha256_file(INITS[init])},
        fine_tune={"steps": steps, "lr": lr, "optimiser": "full-batch gradient descent"},
        seed=seed,
        network=NETWORK,
        selection={"pt": PT_WINDOW, "eta_max": 2.0, "split": "train"},
        support_files={relative_path(Path(f)): sha256_file(Path(f))[:16] for f in files},
        detector=detectors_of(files),
        command="python -m jetplug_meta.adapt " + " ".join(_argv_without_files()),
    )
    return out


def _argv_without_files() -> list[str]:
    out, skipping = [], False
    for arg in sys.argv[1:]:
        if arg in ("--signal-files", "--background-files"):
            out.append(arg + " FILES")
            skipping = True
        elif arg.startswith("-"):
            skipping = False
            out.append(arg)
        elif not skipping:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: adapt a shipped initialisation to a new signal with K jets."""
    parser = argparse.ArgumentParser(
        prog="python -m jetplug_meta.adapt",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="the plugin becomes meta_NAME")
    parser.add_argument("--signal", choices=sorted(SIGNALS), required=True)
    parser.add_argument(
        "-k", type=int, default=100, help="labelled jets, half signal (default 100)"
    )
    parser.add_argument("--signal-files", type=Path, nargs="+", required=True)
    parser.add_argument("--background-files", type=Path, nargs="+", required=True)
    parser.add_argument("--init", choices=sorted(INITS), default="maml")
    parser.add_argument("--steps", type=int, default=FINE_TUNE_STEPS)
    parser.add_argument("--lr", type=float, default=FINE_TUNE_LR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output-dir", type=Path, default=MODELS)
    args = parser.parse_args(argv)
    out = adapt_files(
        args.name,
        args.signal_files,
        args.background_files,
        signal=args.signal,
        k=args.k,
        init=args.init,
        steps=args.steps,
        lr=args.lr,
        seed=args.seed,
        output_dir=args.output_dir,
    )
    print(f"wrote {out} (plugin meta_{args.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
