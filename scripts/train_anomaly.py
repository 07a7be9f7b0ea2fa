"""Train the shipped anomaly scores (ae_qcd, ae_top, nae_qcd, nae_top) on generated jets.

    python scripts/train_anomaly.py [DATA_DIR] [--seeds 21 22 ...] [--threads N] [--only NAME ...]

Reads the QCD and ttbar files of DATA_DIR (default data/train, what
scripts/generate_samples.sh makes) whose seed is in ``--seeds`` (default
21-25, the first round; the other rounds stay independent for validation),
selects FatJets with 500 < pT < 700 GeV and |η| < 2, and trains each plugin's
own ``train()`` on the jets of its normal class (QCD or top) in the
event-based train split (validation split: early stopping of the
autoencoder, the NAE's label-free monitors). Writes each model and its
metadata (version, sha256, command, files with sha256, detector response,
settings and seeds, jet counts, loss and energy histories, the chosen NAE
epoch and, for the docs only, the AUC of every NAE epoch on the test split)
into the anomaly package. ``jetplug train ae_qcd FILES --pt-min 500
--pt-max 700`` trains one the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import re
import sys
import time
from pathlib import Path

from jetplug import Artifact, load_model_metadata, write_model_metadata
from jetplug.artifacts import relative_path
from jetplug.generation import detectors_of
from jetplug.spec import sha256_file
from jetplug.training import TrainSettings, training_inputs
from jetplug_anomaly.images import MODELS, ImageAnomaly, build_spec
from jetplug_anomaly.plugin import (
    AutoencoderQCD,
    AutoencoderTop,
    NormalizedAutoencoderQCD,
    NormalizedAutoencoderTop,
)
from jetplug_anomaly.train import NAE_SETTINGS, train_anomaly

VERSION = "1.0.0"
VERSIONS = {"nae_qcd": "2.0.0", "nae_top": "2.0.0"}
"""2.0.0: the NAE stage with γ = 0.001 and the learning rate lowered at the crossing."""
PLUGINS: dict[str, type[ImageAnomaly]] = {
    "ae_qcd": AutoencoderQCD,
    "ae_top": AutoencoderTop,
    "nae_qcd": NormalizedAutoencoderQCD,
    "nae_top": NormalizedAutoencoderTop,
}
SETTINGS = TrainSettings(
    pt_min=500.0, pt_max=700.0, epochs=40, batch_size=256, lr=1e-3, patience=5, threads=1
)


def _seed(path: Path) -> int | None:
    match = re.search(r"_s(\d+)_", path.name)
    return int(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=Path("data/train"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[21, 22, 23, 24, 25])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", choices=sorted(PLUGINS), default=sorted(PLUGINS))
    parser.add_argument(
        "--nae-epochs", type=int, default=NAE_SETTINGS.epochs, help="epochs of the NAE stage"
    )
    args = parser.parse_args()
    files = sorted(
        f
        for sample in ("qcd", "ttbar")
        for f in (args.data / sample).glob("*.root")
        if _seed(f) in args.seeds
    )
    if not files:
        sys.exit(f"no qcd/ttbar files of seeds {args.seeds} in {args.data}")
    settings = TrainSettings(**{**vars(SETTINGS), "threads": args.threads})
    detectors = detectors_of(files)
    untrained = Artifact(MODELS / "untrained.pt", "0" * 64, "torch-state-dict")
    start = time.perf_counter()
    data = training_inputs(files, build_spec("reader", "ae", 0, untrained, "0"))
    took = time.perf_counter() - start
    print(f"read {len(data)} FatJets from {len(files)} files in {took:.0f} s", flush=True)
    seeds = " ".join(map(str, args.seeds))
    for name in args.only:
        cls = PLUGINS[name]
        model = MODELS / f"{name}.pt"
        spec = build_spec(name, cls.method, int(cls.normal_truth or 0), untrained, "0")
        plugin = type(cls.__name__, (cls,), {"spec": spec})()
        start = time.perf_counter()
        nae = dataclasses.replace(NAE_SETTINGS, epochs=args.nae_epochs)
        log = functools.partial(print, flush=True)
        version = VERSIONS.get(name, VERSION)
        train_anomaly(plugin, data, model, version=version, settings=settings, log=log, nae=nae)
        meta = load_model_metadata(model)
        info = {k: v for k, v in meta.items() if k not in ("version", "sha256", "file")}
        write_model_metadata(
            model,
            version,
            **info,
            command=f"python scripts/train_anomaly.py {relative_path(args.data)} "
            f"--seeds {seeds} --only {name} --nae-epochs {args.nae_epochs}",
            training_files={relative_path(f): sha256_file(f)[:16] for f in files},
            detector=detectors,
            train_seconds=round(time.perf_counter() - start, 1),
        )
        print(f"wrote {model}", flush=True)


if __name__ == "__main__":
    main()
