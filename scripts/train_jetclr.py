"""Train the JetCLR encoder (``jetclr``) and its QCD anomaly score (``jetclr_qcd``).

    python scripts/train_jetclr.py [DATA_DIR] [--files-per-class N] [--max-minutes M] ...

Reads ttbar and QCD FatJets (500 < pT < 700 GeV, |η| < 2) of DATA_DIR
(default data/train: ``ttbar/ttbar_s21_*.root`` and ``qcd/qcd_s22_*.root``;
with ``--samples all`` every ttbar, QCD and W file; the first N files of
each with ``--files-per-class``), takes the event-based
train split for the self-supervised training (labels are never read) and the
validation split for the loss that picks the epoch
(``jetplug_representation.training``). Then fits the Mahalanobis score on
the QCD jets of the train split. Writes both state dicts and their metadata
(version, sha256, files with their sha256, jets, settings, seeds, loss
history, time) into the package's ``models/``. Without ``--files-per-class``
and with a larger ``--max-minutes`` / ``--epochs``, the same command is the
full training. The independent sample (``data/independent``) is for
``jetplug validate --section representation``.

To train on another machine (a GPU): ``--save-clouds FILE`` writes the
selected jets of the train and validation splits (z, Δη, Δφ as float16)
with the record of the files they came from and stops; ``--clouds FILE
--device cuda --output-dir DIR`` trains on them there. ``--encoder
jetclr.pt`` fits only ``jetclr_qcd`` on a trained encoder.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jetplug import load_model_metadata, untrained_spec, write_model_metadata
from jetplug.artifacts import relative_path
from jetplug.samples import detectors_of
from jetplug.spec import sha256_file
from jetplug.training import training_inputs
from jetplug_representation.augment import Cloud, cloud_of, load_clouds, save_clouds
from jetplug_representation.jetclr import (
    DIM,
    ENCODER,
    MODELS,
    N_CONSTITUENTS,
    build_encoder,
    jetclr_spec,
)
from jetplug_representation.nets import JetCLREncoder, MahalanobisScore
from jetplug_representation.training import CLRSettings, embed, train_encoder

VERSION = "2.0.0"
SAMPLES = {
    "top-qcd": {"ttbar": "ttbar_s21_*.root", "qcd": "qcd_s22_*.root"},
    "all": {"ttbar": "ttbar_*.root", "qcd": "qcd_*.root", "wjets": "wjets_*.root"},
}
TRUTH = {"top-qcd": (0, 1), "all": (0, 1, 2)}
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
    parser.add_argument("--samples", choices=tuple(SAMPLES), default="top-qcd")
    parser.add_argument("--save-clouds", type=Path, help="write the selected jets and stop")
    parser.add_argument(
        "--val-jets", type=int, default=None, help="with --save-clouds: keep this many"
    )
    parser.add_argument("--clouds", type=Path, help="train on jets written by --save-clouds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output-dir", type=Path, default=MODELS)
    parser.add_argument(
        "--encoder", type=Path, help="fit only jetclr_qcd, on this trained jetclr.pt"
    )
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
    if args.clouds is not None:
        train, val, qcd, record = _load(args.clouds)
    else:
        train, val, qcd, record = _read(args.data, args.samples, args.files_per_class)
    print(f"jets per split: {record['jets']}")
    if args.save_clouds is not None:
        _save(args.save_clouds, train, val, qcd, record, args.val_jets)
        print(f"wrote {args.save_clouds}")
        return
    command = " ".join(["python", "scripts/train_jetclr.py", *sys.argv[1:]])
    if args.encoder is not None:  # the score alone, on an encoder trained before
        encoder = build_encoder()
        encoder.load_state_dict(torch.load(args.encoder, weights_only=True))
        meta = load_model_metadata(args.encoder)
        kept = {k: v for k, v in meta.items() if k not in ("file", "sha256", "version", "plugin")}
        _write_score(encoder.eval(), train.take(qcd), {**kept, "score_command": command}, args)
        return
    result = train_encoder(train, val, settings, print, args.device)
    record = {
        "trained": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        **record,
        "settings": {
            **dataclasses.asdict(settings),
            "threads": args.threads,
            "device": args.device,
        },
        "architecture": {**ENCODER, "n_constituents": N_CONSTITUENTS},
        "history": {"train_loss": result.train_loss, "val_loss": result.val_loss},
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "steps": result.steps,
        "seconds": round(result.seconds),
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    out = args.output_dir / "jetclr.pt"
    torch.save(result.encoder.state_dict(), out)
    write_model_metadata(out, VERSION, plugin="jetclr", **record)
    print(f"wrote {relative_path(out)}")

    _write_score(result.encoder, train.take(qcd), record, args)


def _write_score(
    encoder: JetCLREncoder, qcd: Cloud, record: Record, args: argparse.Namespace
) -> None:
    """Fit ``jetclr_qcd`` on the QCD jets' embeddings and write it beside the encoder."""
    score = MahalanobisScore(encoder, DIM)
    score.fit(torch.from_numpy(embed(encoder, qcd)))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    out = args.output_dir / "jetclr_qcd.pt"
    torch.save(score.state_dict(), out)
    encoder_file = args.encoder or args.output_dir / "jetclr.pt"
    write_model_metadata(
        out,
        VERSION,
        plugin="jetclr_qcd",
        encoder={"file": "jetclr.pt", "sha256": sha256_file(encoder_file)},
        normal={"truth": 0, "jets": len(qcd), "split": "train"},
        **{k: v for k, v in record.items() if k != "jets"},
    )
    print(f"wrote {relative_path(out)}")


Record = dict[str, Any]


def _read(
    data_dir: Path, samples: str, per_class: int | None
) -> tuple[Cloud, Cloud, np.ndarray, Record]:
    """The train and validation jets, the rows of the train jets that are QCD, the record."""
    files = []
    for proc, pattern in SAMPLES[samples].items():
        found = sorted((data_dir / proc).glob(pattern))[:per_class]
        if not found:
            sys.exit(f"error: no {data_dir / proc / pattern}")
        files += found
    start = time.perf_counter()
    spec = untrained_spec(MODELS / "jetclr.pt", "torch-state-dict", jetclr_spec)
    data = training_inputs(files, spec)
    pt, eta = data.reco["pt"], data.reco["eta"]
    keep = (pt > PT_RANGE[0]) & (pt < PT_RANGE[1]) & (np.abs(eta) < ETA_MAX)
    data = data.select(keep & np.isin(data.truth, TRUTH[samples]))
    cloud = cloud_of(data.inputs)
    print(f"read {len(data)} jets of {len(files)} files in {time.perf_counter() - start:.0f} s")
    names = {0: "QCD", 1: "top", 2: "W"}
    record: Record = {
        "data": [{"file": relative_path(f), "sha256": sha256_file(f)} for f in files],
        "detectors": detectors_of(files),
        "selection": {
            "pt": list(PT_RANGE),
            "eta_max": ETA_MAX,
            "truth": ", ".join(names[t] for t in TRUTH[samples]) + ", labels unused",
        },
        "jets": {
            split: {
                names[t]: int(((data.split == split) & (data.truth == t)).sum())
                for t in TRUTH[samples]
            }
            for split in ("train", "val", "test")
        },
    }
    train = data.split == "train"
    return (
        cloud.take(np.flatnonzero(train)),
        cloud.take(np.flatnonzero(data.split == "val")),
        np.flatnonzero(data.truth[train] == 0),
        record,
    )


def _save(
    path: Path, train: Cloud, val: Cloud, qcd: np.ndarray, record: Record, val_jets: int | None
) -> None:
    val = val.take(_subset(len(val), val_jets))
    save_clouds(
        path,
        {"train": train, "val": val},
        qcd_rows=qcd.astype(np.int32),
        record=np.array(json.dumps({**record, "val_jets": len(val)})),
    )


def _subset(n: int, size: int | None) -> np.ndarray:
    """``size`` of ``n`` rows drawn at random (seeded), in order; all without ``size``."""
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).permutation(n)[:size])


def _load(path: Path) -> tuple[Cloud, Cloud, np.ndarray, Record]:
    clouds, extra = load_clouds(path)
    record = json.loads(str(extra["record"]))
    return clouds["train"], clouds["val"], extra["qcd_rows"], {**record, "clouds": path.name}


if __name__ == "__main__":
    main()
