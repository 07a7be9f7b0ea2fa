"""Train the shipped calibrators (calib_ni, calib_bdt, calib_pfn) on the calibration sample.

    python scripts/train_calibration.py [DATA_DIR] [--threads N] [--only NAME ...]

DATA_DIR (default data/calib) is what scripts/generate_calibration.sh makes;
training reads DATA_DIR/train/*/*.root (the realistic detector response),
uses its event-based train/val split (val for early stopping) and writes each
model and its metadata (version, sha256, training sample with its detector
response, seeds, settings, validation loss) into the calibration package.
Each calibrator's own ``train()`` does the fitting, so ``jetplug train NAME
FILES`` retrains a shipped one the same way. The independent test sample
(DATA_DIR/test, new seeds) is for ``jetplug validate --section calibration``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from jetplug import load_model_metadata, untrained_spec, write_model_metadata
from jetplug.artifacts import relative_path
from jetplug.generation import detectors_of
from jetplug.spec import sha256_file
from jetplug.training import TrainSettings, training_inputs
from jetplug_calibration.constituent import MODEL as PFN_MODEL
from jetplug_calibration.constituent import ConstituentCalibrator
from jetplug_calibration.constituent import build_spec as pfn_spec
from jetplug_calibration.inversion import MODEL as NI_MODEL
from jetplug_calibration.inversion import NumericalInversion
from jetplug_calibration.inversion import build_spec as ni_spec
from jetplug_calibration.regression import MODEL as BDT_MODEL
from jetplug_calibration.regression import JetLevelCalibrator
from jetplug_calibration.regression import build_spec as bdt_spec

# calib_bdt 2.0.0: the energy fractions joined its features
VERSIONS = {"calib_ni": "1.0.0", "calib_bdt": "2.0.0", "calib_pfn": "1.0.0"}
PLUGINS: dict[str, tuple[type, Path, str, Any, TrainSettings]] = {
    "calib_ni": (NumericalInversion, NI_MODEL, "torch-state-dict", ni_spec, TrainSettings()),
    "calib_bdt": (
        JetLevelCalibrator,
        BDT_MODEL,
        "xgboost-ubj",
        bdt_spec,
        TrainSettings(max_depth=6, learning_rate=0.05, max_rounds=3000, early_stopping=100),
    ),
    "calib_pfn": (
        ConstituentCalibrator,
        PFN_MODEL,
        "torch-state-dict",
        pfn_spec,
        TrainSettings(epochs=30, batch_size=256, lr=2e-3, patience=5),
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=Path("data/calib"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="*", choices=sorted(PLUGINS), default=sorted(PLUGINS))
    args = parser.parse_args()
    files = sorted((args.data / "train").glob("*/*.root"))
    if not files:
        sys.exit(f"no files in {args.data / 'train'}: run scripts/generate_calibration.sh first")
    detectors = detectors_of(files)
    for name in args.only:
        cls, model, fmt, build, settings = PLUGINS[name]
        settings = dataclasses.replace(settings, threads=args.threads)
        plugin = type(cls.__name__, (cls,), {"spec": untrained_spec(model, fmt, build)})()
        start = time.perf_counter()
        data = training_inputs(files, plugin.spec)
        print(f"== {name}: {len(data)} FatJets, {int(data.matched.sum())} gen-matched", flush=True)
        plugin.train(
            data,
            model,
            version=VERSIONS[name],
            settings=settings,
            log=lambda m: print(m, flush=True),
        )
        meta = load_model_metadata(model)
        info = {k: v for k, v in meta.items() if k not in ("version", "sha256", "file")}
        write_model_metadata(
            model,
            VERSIONS[name],
            **info,
            command=f"python scripts/train_calibration.py {relative_path(args.data)} --only {name}",
            training_files={relative_path(f): sha256_file(f)[:16] for f in files},
            detector=detectors,
            settings=vars(settings),
            train_seconds=round(time.perf_counter() - start, 1),
        )
        print(f"wrote {model}", flush=True)


if __name__ == "__main__":
    main()
