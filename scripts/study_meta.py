"""The few-shot study of docs/meta.md: R50 against K for scratch, pooled + fine-tuning, MAML.

    python scripts/study_meta.py [--train data/train] [--independent data/independent]
        [--ks 10 100 1000] [--repeats 10] [--steps 100] [--lr 0.1] [-o docs/validation/meta]
        [--splice docs/meta.md] [--start NAME=PATH ...]

Support jets (the K labelled jets, drawn disjoint per repetition): W and QCD
of the ``train`` split of TRAIN/{wjets,qcd}/*_s{23,33,22,32}_*.root.
Evaluation: every W and QCD jet of INDEPENDENT/{wjets,qcd} (seeds 703, 702),
which no training or adaptation saw. Starts: every shipped ``init_*.pt``
(pooled, MAML, first-order MAML, Reptile: scripts/train_meta.py), and a random
network per draw. Writes OUT/meta.md (the table), OUT/meta.json (every
draw), OUT/plots/r50_vs_k.png, and splices the table into the page.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from jetplug.artifacts import relative_path
from jetplug.validation.splice import splice
from jetplug_meta.adapt import INITS, load_init
from jetplug_meta.common import SIGNALS, jet_features
from jetplug_meta.study import (
    StudySettings,
    paired,
    plot_r50,
    report,
    run_study,
    study_files,
    summarise,
    write_json,
)

W, QCD = SIGNALS["W"], 0


def _labelled(sig: np.ndarray, bkg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.concatenate([np.ones(len(sig)), np.zeros(len(bkg))]).astype(np.float32)
    return np.concatenate([sig, bkg]), y


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=Path, default=Path("data/train"))
    parser.add_argument("--independent", type=Path, default=Path("data/independent"))
    parser.add_argument("--support-seeds", type=int, nargs="+", default=[23, 33, 22, 32])
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=[100, 1000],
        help="adaptation lengths: the first is the main protocol",
    )
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/validation/meta"))
    parser.add_argument("--splice", type=Path, default=None, help="page to splice the table into")
    parser.add_argument(
        "--starts",
        nargs="+",
        default=None,
        help="shipped starts to compare (default: every shipped init_*.pt; pooled always)",
    )
    parser.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument(
        "--start",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="another start to compare (e.g. a start trained with another seed, "
        "scripts/train_meta.py --seed 8 -o DIR); repeat",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    support_files, eval_files = study_files(args.train, args.independent, args.support_seeds)
    pool = jet_features(support_files)
    support = _labelled(pool.of(W, "train"), pool.of(QCD, "train"))
    ev = jet_features(eval_files)
    evaluation = _labelled(ev.of(W), ev.of(QCD))
    print(
        f"support pool: {int(support[1].sum())} W, {int((1 - support[1]).sum())} QCD jets; "
        f"evaluation: {int(evaluation[1].sum())} W, {int((1 - evaluation[1]).sum())} QCD "
        f"({time.time() - t0:.0f} s)"
    )
    settings = StudySettings(tuple(args.ks), args.repeats, tuple(args.steps), args.lr, args.seed)
    wanted = {"pooled", *(args.starts or INITS)}  # pooled: the reference of the paired table
    starts = {n: load_init(p) for n, p in INITS.items() if p.is_file() and n in wanted}
    starts = {"pooled": starts.pop("pooled"), **starts}
    for extra in args.start:
        name, _, path = extra.partition("=")
        starts[name] = load_init(Path(path))
    rows = run_study(starts, support, evaluation, settings)
    summary = summarise(rows)
    command = "python scripts/study_meta.py " + " ".join(
        relative_path(Path(a)) if a.startswith("/") else a for a in sys.argv[1:]
    )
    text = report(
        summary,
        command=command,
        n_signal=int(evaluation[1].sum()),
        n_background=int((1 - evaluation[1]).sum()),
        settings=settings,
        pairs=paired(rows),
    )
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "meta.md").write_text(text)
    write_json(
        args.output / "meta.json",
        rows,
        summary=summary,
        pairs=paired(rows),
        settings=vars(settings),
        support_files=[relative_path(f) for f in support_files],
        evaluation_files=[relative_path(f) for f in eval_files],
    )
    if not args.no_plot:
        plot_r50(
            summary,
            args.output / "plots" / "r50_vs_k.png",
            "W vs QCD, adapted from each start (independent sample)",
            settings.steps,
        )
    print(text)
    if args.splice:
        splice(args.splice, args.output / "meta.md", "W")
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
