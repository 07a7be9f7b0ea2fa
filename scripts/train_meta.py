"""Train the few-shot taggers' starting points: the MAML initialisation and the pooled one.

    python scripts/train_meta.py [DATA_DIR] [--seeds 21 22 24 25] [--algorithm maml]
        [--meta-steps 3000] [--max-jets 20000] [--seed 7] [--threads 1] [-o MODELS_DIR]

Tasks: top (ttbar), Z→qq (zjets) and H→bb (hbb) against QCD, FatJets
500-700 GeV, |η| < 2, ``train`` split of DATA_DIR/<sample>/*_s<SEED>_*.root;
W (wjets) is **held out** (the new signal of docs/meta.md). Writes into
plugins/jetplug-meta/jetplug_meta/models:

* ``init_<algorithm>.pt``: meta-learned with :func:`jetplug.training.meta.meta_train`;
* ``init_pooled.pt``: the same network trained on the pooled tasks (every
  signal against QCD, each task weighted equally), Adam, early stopping on
  the ``val`` split.

Both share the input standardisation (mean and std of the pooled training
jets, label-free). Each JSON records files (sha256), seeds, settings, jets.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jetplug import write_model_metadata
from jetplug.artifacts import relative_path
from jetplug.samples import detectors_of
from jetplug.spec import sha256_file
from jetplug.training.meta import ALGORITHMS, Logits, MetaSettings, Task, meta_train, task_loss
from jetplug_meta.common import MODELS, NETWORK, PT_WINDOW, SAMPLES, build_network, jet_features

VERSION = "1.0.0"
META_SIGNALS = (1, 3, 4)
"""Meta-training tasks: top, Z, H (each against QCD). W (2) is held out."""
NAMES = {1: "top", 3: "Z", 4: "H"}


def _files(data: Path, seeds: Sequence[int]) -> list[Path]:
    samples = [SAMPLES[t] for t in (0, *META_SIGNALS)]
    return sorted(
        f for s in samples for seed in seeds for f in (data / s).glob(f"*_s{seed}_*.root")
    )


def _tasks(x: np.ndarray, truth: np.ndarray, max_jets: int, rng: np.random.Generator) -> list[Task]:
    qcd = x[truth == 0]
    tasks = []
    for t in META_SIGNALS:
        sig = x[truth == t]
        sig = sig[rng.permutation(len(sig))[:max_jets]]
        bkg = qcd[rng.permutation(len(qcd))[:max_jets]]
        y = np.concatenate([np.ones(len(sig)), np.zeros(len(bkg))]).astype(np.float32)
        tasks.append(Task(NAMES[t], np.concatenate([sig, bkg]), y))
    return tasks


def _mean_loss(module: torch.nn.Module, tasks: Sequence[Task]) -> float:
    params = {k: v.detach() for k, v in module.named_parameters()}
    buffers = {k: v.detach() for k, v in module.named_buffers()}
    with torch.no_grad():
        return float(
            np.mean(
                [
                    float(
                        task_loss(
                            module, params, buffers, torch.as_tensor(t.x), torch.as_tensor(t.y)
                        )
                    )
                    for t in tasks
                ]
            )
        )


def train_pooled(
    net: Any, train: Sequence[Task], val: Sequence[Task], *, epochs: int, seed: int
) -> tuple[Any, list[dict[str, float]]]:
    """Pooled pre-training: minibatches mixing all tasks, each task's loss weighted equally."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Logits(net)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    best, best_loss, history = copy.deepcopy(model), np.inf, []
    n_batches = max(len(t.y) for t in train) // 256
    for epoch in range(epochs):
        orders = [rng.permutation(len(t.y)) for t in train]
        for b in range(n_batches):
            opt.zero_grad()
            params = dict(model.named_parameters())
            buffers = dict(model.named_buffers())
            loss = sum(
                task_loss(
                    model,
                    params,
                    buffers,
                    torch.as_tensor(t.x[o[b * 256 % len(o) :][:256]]),
                    torch.as_tensor(t.y[o[b * 256 % len(o) :][:256]]),
                )
                for t, o in zip(train, orders, strict=True)
            ) / len(train)
            loss.backward()  # type: ignore[union-attr]
            opt.step()
        val_loss = _mean_loss(model, val)
        history.append({"epoch": epoch + 1, "val_loss": val_loss})
        print(f"pooled epoch {epoch + 1}: val loss {val_loss:.4f}")
        if val_loss < best_loss:
            best, best_loss = copy.deepcopy(model), val_loss
    return best.module, history


def _save(folder: Path, net: Any, name: str, **info: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}.pt"
    torch.save(net.state_dict(), out)
    write_model_metadata(out, VERSION, network=NETWORK, **info)
    print(f"wrote {relative_path(out)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, nargs="?", default=Path("data/train"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[21, 22, 24, 25])
    parser.add_argument("--algorithm", choices=ALGORITHMS, default="maml")
    parser.add_argument("--only", choices=("meta", "pooled"), nargs="+", default=["meta", "pooled"])
    parser.add_argument("--meta-steps", type=int, default=3000)
    parser.add_argument("--inner-steps", type=int, default=5)
    parser.add_argument("--inner-lr", type=float, default=0.1)
    parser.add_argument("--shots", type=int, default=25)
    parser.add_argument("--meta-batch", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=20, help="pooled pre-training epochs")
    parser.add_argument("--max-jets", type=int, default=20000, help="per class and task")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "-o", "--output-dir", type=Path, default=MODELS, help="default: the shipped models"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    files = _files(args.data, args.seeds)
    t0 = time.time()
    jets = jet_features(files)
    print(f"{len(jets.x)} jets from {len(files)} files in {time.time() - t0:.0f} s")
    rng = np.random.default_rng(args.seed)
    split = {
        s: _tasks(jets.x[jets.split == s], jets.truth[jets.split == s], args.max_jets, rng)
        for s in ("train", "val")
    }
    torch.manual_seed(args.seed)
    start = build_network()
    start.standardize_from(torch.as_tensor(np.concatenate([t.x for t in split["train"]])))
    record = {
        "training_files": {relative_path(f): sha256_file(f)[:16] for f in files},
        "detector": detectors_of(files),
        "seeds": args.seeds,
        "tasks": {
            t.name: {"signal": int(t.y.sum()), "qcd": int(len(t.y) - t.y.sum())}
            for t in split["train"]
        },
        "held_out": "W",
        "selection": {"pt": PT_WINDOW, "eta_max": 2.0, "split": "train"},
        "command": "python scripts/train_meta.py "
        + " ".join(a for a in __import__("sys").argv[1:]),
    }
    if "meta" in args.only:
        settings = MetaSettings(
            args.algorithm,
            args.inner_steps,
            args.inner_lr,
            meta_lr=1e-3,
            meta_batch=args.meta_batch,
            shots=args.shots,
            meta_steps=args.meta_steps,
            seed=args.seed,
        )
        net = copy.deepcopy(start)
        t0 = time.time()
        history = meta_train(Logits(net), split["train"], settings)
        _save(
            args.output_dir,
            net,
            f"init_{args.algorithm}",
            kind="initialisation",
            settings=vars(settings),
            history=history,
            seconds=round(time.time() - t0),
            **record,
        )
    if "pooled" in args.only:
        t0 = time.time()
        net, history = train_pooled(
            copy.deepcopy(start), split["train"], split["val"], epochs=args.epochs, seed=args.seed
        )
        _save(
            args.output_dir,
            net,
            "init_pooled",
            kind="initialisation",
            settings={
                "optimiser": "Adam",
                "lr": 2e-3,
                "batch_per_task": 256,
                "epochs": args.epochs,
                "seed": args.seed,
            },
            history=history,
            seconds=round(time.time() - t0),
            **record,
        )


if __name__ == "__main__":
    main()
