"""Train the shipped GAN fast simulation (fastsim_gan) on the calibration sample.

    python scripts/train_fastsim.py [DATA_DIR] [--threads N] [--steps N] [--device cuda]
    python scripts/train_fastsim.py DATA_DIR --save-pairs pairs.npz   # the inputs, ~10 MB
    python scripts/train_fastsim.py --pairs pairs.npz --device cuda   # train elsewhere (a GPU)

Reads DATA_DIR/train/*/*.root (default data/calib, made by
scripts/generate_calibration.sh with the realistic detector response): every
GenJetAK8 with the FatJet matched to it. The event-based train split trains,
the val split picks the checkpoint (smallest summed 1-D Wasserstein distance).
Writes jetplug_fastsim/models/fastsim_gan.pt (a state dict) and its metadata:
version, sha256, training files with their detector response, seeds,
settings, the validation history. The independent test sample
(DATA_DIR/test, new seeds) is for ``jetplug validate --section fastsim``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

from jetplug import write_model_metadata
from jetplug.artifacts import relative_path
from jetplug.spec import sha256_file
from jetplug_fastsim.data import GenRecoPairs, gen_reco_pairs
from jetplug_fastsim.gan import CONDITIONS, FEATURES, MODEL
from jetplug_fastsim.train import GanSettings, train_gan

VERSION = "1.0.0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=Path("data/calib"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=GanSettings.steps)
    parser.add_argument("--batch-size", type=int, default=GanSettings.batch_size)
    parser.add_argument("--device", default="cpu", help="torch device of the training.")
    parser.add_argument("--save-pairs", type=Path, default=None, help="Write the inputs, stop.")
    parser.add_argument("--pairs", type=Path, default=None, help="Train on saved inputs.")
    args = parser.parse_args()
    if args.pairs is not None:
        pairs, info = GenRecoPairs.load(args.pairs)
        files_info, detector_info = json.loads(info["files"]), json.loads(info["detector"])
        source = info["data"]
    else:
        files = sorted((args.data / "train").glob("*/*.root"))
        if not files:
            sys.exit(f"no files in {args.data / 'train'}: run scripts/generate_calibration.sh")
        from jetplug.generation import detectors_of  # needs the 'generate' extra

        pairs = gen_reco_pairs(files)
        files_info = {relative_path(f): sha256_file(f)[:16] for f in files}
        detector_info = detectors_of(files)
        source = relative_path(args.data)
    if args.save_pairs is not None:
        pairs.save(args.save_pairs, files=json.dumps(files_info), data=source,
                   detector=json.dumps(detector_info))  # fmt: skip
        print(f"wrote {args.save_pairs}")
        return
    settings = dataclasses.replace(
        GanSettings(),
        threads=args.threads,
        steps=args.steps,
        batch_size=args.batch_size,
        device=args.device,
    )
    print(f"{len(pairs)} gen jets, {int(pairs.reconstructed.sum())} reconstructed", flush=True)
    model, record = train_gan(pairs, settings, log=lambda m: print(m, flush=True))
    MODEL.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), MODEL)
    write_model_metadata(
        MODEL,
        VERSION,
        trainer=f"torch {torch.__version__}, conditional WGAN-GP",
        conditions=list(CONDITIONS),
        features=list(FEATURES),
        command=(
            f"python scripts/train_fastsim.py {source} --steps {args.steps} "
            f"--batch-size {args.batch_size} --device {args.device}"
        ),
        training_files=files_info,
        detector=detector_info,
        **record,
    )
    print(f"wrote {MODEL}", flush=True)


if __name__ == "__main__":
    main()
