"""Fit the quantile refinement of the shipped fast simulation (fastsim_gan) on training pairs.

    python scripts/refine_fastsim.py [--pairs data/fastsim_pairs.npz] [--threads N]
        [--msd-classes CLASS ...]

Reads the gen/reco pairs written by ``scripts/train_fastsim.py --save-pairs``
(the generator's own training jets: its train split), generates features for
every reconstructed gen jet with the shipped generator (its refinement, if
any, switched off; seeded noise), fits
:class:`jetplug_fastsim.refine.QuantileRefinement` and writes the model back
with the tables in its state dict: the generator's weights are unchanged,
so the same command refits from the refined model. The metadata gains
``refinement`` (binning, quantile levels, bins fitted, jets, the pairs file
and its sha256) and the version below.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from jetplug import load_model_metadata, write_model_metadata
from jetplug.artifacts import relative_path
from jetplug.spec import sha256_file
from jetplug_fastsim.data import GenRecoPairs
from jetplug_fastsim.gan import FEATURES, MODEL, N_NOISE, conditions, encode, load_generator
from jetplug_fastsim.refine import QuantileRefinement, RefineSettings, fit_refinement

VERSION = "2.2.0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=Path("data/fastsim_pairs.npz"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--msd-classes",
        nargs="*",
        default=list(RefineSettings().msd_classes),
        metavar="CLASS",
        help="truth classes whose bins also get m_SD itself mapped (default: %(default)s)",
    )
    args = parser.parse_args()
    if not args.pairs.exists():
        sys.exit(f"no {args.pairs}: run scripts/train_fastsim.py DIR ... --save-pairs {args.pairs}")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    settings = RefineSettings(msd_classes=tuple(args.msd_classes))
    pairs, _ = GenRecoPairs.load(args.pairs)
    rows = np.flatnonzero((pairs.split == "train") & pairs.reconstructed.astype(bool))
    gen = {k: v[rows] for k, v in pairs.gen.items()}
    reco = {k: v[rows] for k, v in pairs.reco.items()}
    cond = torch.from_numpy(conditions(gen))
    full = torch.from_numpy(encode(gen, reco))

    meta = load_model_metadata(MODEL)
    model = load_generator(MODEL)
    model.refine = None
    noise = np.random.default_rng(settings.seed).standard_normal((len(rows), N_NOISE))
    with torch.no_grad():
        generated = torch.cat(
            [
                model(cond[s : s + 65536], torch.from_numpy(noise[s : s + 65536]).float())[0]
                for s in range(0, len(rows), 65536)
            ]
        )
    refine = QuantileRefinement(settings.record(), FEATURES)
    record = fit_refinement(refine, cond, generated, full, settings)
    model.refine = refine
    torch.save(model.state_dict(), MODEL)
    kept = {k: v for k, v in meta.items() if k not in ("file", "sha256", "version", "refinement")}
    write_model_metadata(
        MODEL,
        VERSION,
        **kept,
        refinement={
            **record,
            "pairs": relative_path(args.pairs),
            "pairs_sha256": sha256_file(args.pairs),
            "command": " ".join(["python", "scripts/refine_fastsim.py", *sys.argv[1:]]),
            "seconds": round(time.perf_counter() - start),
        },
    )
    print(
        f"fitted {record['fitted']} of {record['bins']} bins on {record['jets']} jets; "
        f"wrote {relative_path(MODEL)} ({VERSION})"
    )


if __name__ == "__main__":
    main()
