"""Train the JetCLR encoder (``jetclr``) and its QCD anomaly score (``jetclr_qcd``).

    python scripts/train_jetclr.py [DATA_DIR] [--files-per-class N] [--max-minutes M] ...

Reads ttbar and QCD FatJets (500 < pT < 700 GeV, |η| < 2) of DATA_DIR
(default data/train: ``ttbar/ttbar_s21_*.root`` and ``qcd/qcd_s22_*.root``,
the first N files of each with ``--files-per-class``), takes the event-based
train split for the self-supervised training (labels are never read) and the
validation split for the loss that picks the epoch
(``jetplug_representation.training``). Then fits the Mahalanobis score on
the QCD jets of the train split. Writes both state dicts and their metadata
(version, sha256, files with their sha256, jets, settings, seeds, loss
history, time) into the package's ``models/``. Without ``--files-per-class``
and with a larger ``--max-minutes`` / ``--epochs``, the same command is the
full training. The independent sample (``data/independent``) is for
``jetplug validate --section representation``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import torch

from jetplug import untrained_spec, write_model_metadata
from jetplug.artifacts import relative_path
from jetplug.samples import detectors_of
from jetplug.spec import sha256_file
from jetplug.training import training_inputs
from jetplug_representation.augment import cloud_of
from jetplug_representation.jetclr import DIM, ENCODER, MODELS, N_CONSTITUENTS, jetclr_spec
from jetplug_representation.nets import MahalanobisScore
from jetplug_representation.training import CLRSettings, embed, train_encoder

VERSION = "1.0.0"
SAMPLES = {"ttbar": "ttbar_s21_*.root", "qcd": "qcd_s22_*.root"}
PT_RANGE = (500.0, 700.0)
ETA_MAX = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=Path("data/train"))
    parser.add_argument("--files-per-class", type=int, default=None)
    parser.add_argument("--max-minutes", type=float, default=CLRSettings.max_minutes)
    parser.add_argument("--epochs", type=int, default=CLRSettings.epochs)
    parser.add_argument("--batch-size", type=int, default=CLRSettings.batch_size)
    parser.add_argument("--lr", type=float, default=CLRSettings.lr)
    parser.add_argument("--temperature", type=float, default=CLRSettings.temperature)
    parser.add_argument("--seed", type=int, default=CLRSettings.seed)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = CLRSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        temperature=args.temperature,
        max_minutes=args.max_minutes,
        seed=args.seed,
    )
    files = []
    for proc, pattern in SAMPLES.items():
        found = sorted((args.data / proc).glob(pattern))[: args.files_per_class]
        if not found:
            sys.exit(f"error: no {args.data / proc / pattern}")
        files += found
    start = time.perf_counter()
    spec = untrained_spec(MODELS / "jetclr.pt", "torch-state-dict", jetclr_spec)
    data = training_inputs(files, spec)
    pt, eta = data.reco["pt"], data.reco["eta"]
    keep = (pt > PT_RANGE[0]) & (pt < PT_RANGE[1]) & (np.abs(eta) < ETA_MAX)
    data = data.select(keep & np.isin(data.truth, [0, 1]))
    cloud = cloud_of(data.inputs)
    jets = {
        split: {
            "top": int(((data.split == split) & (data.truth == 1)).sum()),
            "QCD": int(((data.split == split) & (data.truth == 0)).sum()),
        }
        for split in ("train", "val", "test")
    }
    print(
        f"read {len(data)} jets of {len(files)} files in {time.perf_counter() - start:.0f} s: {jets}"
    )
    train = cloud.take(np.flatnonzero(data.split == "train"))
    val = cloud.take(np.flatnonzero(data.split == "val"))
    result = train_encoder(train, val, settings, print)
    record = {
        "trained": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "scripts/train_jetclr.py", *sys.argv[1:]]),
        "data": [{"file": relative_path(f), "sha256": sha256_file(f)} for f in files],
        "detectors": detectors_of(files),
        "selection": {
            "pt": list(PT_RANGE),
            "eta_max": ETA_MAX,
            "truth": "top and QCD, labels unused",
        },
        "jets": jets,
        "settings": {**dataclasses.asdict(settings), "threads": args.threads},
        "architecture": {**ENCODER, "n_constituents": N_CONSTITUENTS},
        "history": {"train_loss": result.train_loss, "val_loss": result.val_loss},
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "steps": result.steps,
        "seconds": round(result.seconds),
    }
    out = MODELS / "jetclr.pt"
    torch.save(result.encoder.state_dict(), out)
    write_model_metadata(out, VERSION, plugin="jetclr", **record)
    print(f"wrote {relative_path(out)}")

    qcd = train.take(np.flatnonzero(data.truth[data.split == "train"] == 0))
    score = MahalanobisScore(result.encoder, DIM)
    score.fit(torch.from_numpy(embed(result.encoder, qcd)))
    out = MODELS / "jetclr_qcd.pt"
    torch.save(score.state_dict(), out)
    write_model_metadata(
        out,
        VERSION,
        plugin="jetclr_qcd",
        encoder={"file": "jetclr.pt", "sha256": sha256_file(MODELS / "jetclr.pt")},
        normal={"truth": 0, "jets": len(qcd), "split": "train"},
        **{k: v for k, v in record.items() if k != "jets"},
    )
    print(f"wrote {relative_path(out)}")


if __name__ == "__main__":
    main()
