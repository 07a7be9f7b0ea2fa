"""Train the shipped GAN fast simulation (fastsim_gan) on generated gen/reco jet pairs.

    python scripts/train_fastsim.py [DIR ...] [--threads N] [--steps N] [--device cuda]
    python scripts/train_fastsim.py DIR ... --save-pairs pairs.npz [--val-rows N]  # inputs only
    python scripts/train_fastsim.py --pairs pairs.npz --device cuda     # train elsewhere (a GPU)
    python scripts/train_fastsim.py --pairs pairs.npz --distill TEACHER.pt --hidden 256

Reads DIR/*/*.root (default data/calib/train, made by
scripts/generate_calibration.sh; the shipped model also reads the taggers'
sample data/train: both with the realistic detector response): every
GenJetAK8 with the FatJet matched to it. The event-based train split trains,
the val split picks the checkpoint (smallest summed 1-D Wasserstein distance).
``--distill`` instead fits a generator of width ``--hidden`` to a trained
one's map from (conditions, noise) to features (jetplug_fastsim.distill:
the same samples, a fraction of the cost per jet).
Writes jetplug_fastsim/models/fastsim_gan.pt (a state dict) and its metadata:
version, sha256, training files with their detector response, seeds,
settings, the validation history. The independent test sample
(data/calib/test, new seeds) is for ``jetplug validate --section fastsim``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jetplug import load_model_metadata, write_model_metadata
from jetplug.artifacts import relative_path
from jetplug.spec import sha256_file
from jetplug_fastsim.data import GenRecoPairs, gen_reco_pairs
from jetplug_fastsim.distill import DistillSettings, distill_generator
from jetplug_fastsim.gan import CONDITIONS, FEATURES, MODEL, conditions, load_generator
from jetplug_fastsim.train import GanSettings, train_gan

VERSION = "2.0.0"


def _load_pairs(args: argparse.Namespace) -> tuple[GenRecoPairs, dict[str, Any], list[Any], str]:
    """The pairs, their training files' hashes and detector responses, and their source."""
    if args.pairs is not None:
        pairs, info = GenRecoPairs.load(args.pairs)
        return pairs, json.loads(info["files"]), json.loads(info["detector"]), info["data"]
    files = [f for d in args.data for f in sorted(d.glob("*/*.root"))]
    if not files:
        sys.exit(f"no files in {[str(d) for d in args.data]}: run scripts/generate_calibration.sh")
    from jetplug.generation import detectors_of  # needs the 'generate' extra

    files_info = {relative_path(f): sha256_file(f)[:16] for f in files}
    source = " ".join(relative_path(d) for d in args.data)
    return gen_reco_pairs(files), files_info, detectors_of(files), source


def _distill(args: argparse.Namespace, pairs: GenRecoPairs) -> tuple[Any, dict[str, Any]]:
    teacher_meta = load_model_metadata(args.distill)
    t_settings = teacher_meta["settings"]
    teacher = load_generator(args.distill)
    cond = conditions(pairs.gen)
    reco = pairs.reconstructed
    settings = DistillSettings(
        hidden=args.hidden, steps=args.steps, batch_size=args.batch_size, threads=args.threads,
        device=args.device,
    )  # fmt: skip
    model, record = distill_generator(
        teacher,
        cond[reco & (pairs.split == "train")],
        cond[reco & (pairs.split == "val")],
        settings,
        log=lambda m: print(m, flush=True),
    )
    teacher_record = {k: teacher_meta[k] for k in ("sha256", "command", "best_step", "jets")}
    teacher_record["val_sum_w1_history"] = teacher_meta["val_sum_w1_history"][-5:]
    return model, {
        **record,
        "settings": {**t_settings, "hidden": args.hidden},
        "teacher": {**teacher_record, "settings": t_settings},
        "trainer": f"torch {torch.__version__}, generator distilled from a conditional WGAN-GP",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "data", nargs="*", type=Path, default=[Path("data/calib/train")],
        help="Directories of training files, DIR/*/*.root (default data/calib/train).",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=GanSettings.steps)
    parser.add_argument("--batch-size", type=int, default=GanSettings.batch_size)
    parser.add_argument("--hidden", type=int, default=GanSettings.hidden)
    parser.add_argument("--lr", type=float, default=GanSettings.lr)
    parser.add_argument("--max-seconds", type=float, default=0.0, help="Stop training early.")
    parser.add_argument("--device", default="cpu", help="torch device of the training.")
    parser.add_argument("--output", type=Path, default=MODEL, help="Model file to write.")
    parser.add_argument("--save-pairs", type=Path, default=None, help="Write the inputs, stop.")
    parser.add_argument("--pairs", type=Path, default=None, help="Train on saved inputs.")
    parser.add_argument(
        "--val-rows", type=int, default=0,
        help="With --save-pairs: keep this many val rows (a fixed random subset; 0: all) and no "
        "test rows, so that the file travels light (the checkpoint choice compares 50k jets).",
    )  # fmt: skip
    parser.add_argument("--distill", type=Path, default=None, help="Trained generator to imitate.")
    args = parser.parse_args()
    pairs, files_info, detector_info, source = _load_pairs(args)
    if args.save_pairs is not None:
        if args.val_rows:
            keep = pairs.split == "train"
            val = np.flatnonzero(pairs.split == "val")
            keep[np.random.default_rng(5).choice(val, args.val_rows, replace=False)] = True
            pairs = pairs.select(keep)
        pairs.save(args.save_pairs, files=json.dumps(files_info), data=source,
                   detector=json.dumps(detector_info))  # fmt: skip
        print(f"wrote {args.save_pairs}")
        return
    print(f"{len(pairs)} gen jets, {int(pairs.reconstructed.sum())} reconstructed", flush=True)
    if args.distill is not None:
        model, record = _distill(args, pairs)
    else:
        settings = dataclasses.replace(
            GanSettings(), threads=args.threads, steps=args.steps, batch_size=args.batch_size,
            hidden=args.hidden, lr=args.lr, max_seconds=args.max_seconds, device=args.device,
        )  # fmt: skip
        model, record = train_gan(pairs, settings, log=lambda m: print(m, flush=True))
        record["trainer"] = f"torch {torch.__version__}, conditional WGAN-GP"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.output)
    write_model_metadata(
        args.output,
        VERSION,
        conditions=list(CONDITIONS),
        features=list(FEATURES),
        command=shlex.join(["python", "scripts/train_fastsim.py", *sys.argv[1:]]),
        pairs_from=source,
        training_files=files_info,
        detector=detector_info,
        **record,
    )
    print(f"wrote {args.output}", flush=True)


if __name__ == "__main__":
    main()
