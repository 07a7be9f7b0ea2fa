"""Study (issue 11): a direct per-class W1 penalty and augmentation against the fsr_up shift.

    python scripts/study_domain_penalty.py [--data data] [--seeds 7 8 9] [--threads 1]
        [--out docs/validation/domain/penalty_study.json]

Reads the jets that scripts/train_adaptation.py trains on (its source files of
DATA/train and DATA/domain/fsr_up/train, through its own jet selection), trains
the raw network as it does (``fit_adapted``, λ = 0, seed ``--raw-seed``: with
the default seed, the shipped ``sysadv_top[raw]`` bit for bit) and,
per seed, each variant below: a fine-tune of the raw network for 10 epochs (or a
network trained from scratch for 20) whose loss adds λ·ramp·W1(source, target)
of the scores of each class (the sorted-sample W1 of 512 training jets a side per
class per step: the distance the benchmark reports, penalised directly with the
target's labels), and/or the labelled target jets mixed into the classification
loss (augmentation). Training uses the splits the shipped training uses (source
``train``; the target part's ``train`` and ``test``). Evaluation reads only the
source's ``val`` split and the ``val`` split of the fsr_up **train** part: never
DATA/domain/fsr_up/test nor DATA/independent, which the benchmark
(scripts/validate_domain.sh) keeps for the shipped taggers.

Per variant (mean and standard deviation over the seeds): the source R50 lost
against the raw network (and the paired-bootstrap error of one seed), the
fraction of the mean W1 of the two classes closed (in score units and in units
of the source's score percentiles), W1 per class and SF(top). Prints a markdown
table and writes the JSON ``--out``. About three minutes on one core.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from jetplug.artifacts import relative_path
from jetplug.metrics import rejection
from jetplug.validation.distances import w1
from jetplug.validation.domain import _floor, paired_ratio
from jetplug.validation.report import cut_at
from jetplug_adaptation.common import NETWORKS
from jetplug_adaptation.train import Domains, FitSettings, fit_adapted, ramp
from jetplug_decorrelation.train import balanced_weights
from jetplug_taggers.features import FEATURES
from jetplug_taggers.nets import StandardizedMLP

SETTINGS = FitSettings()
PER_CLASS = 512
"""Jets per domain and class in each step's W1 penalty."""
CLASSES = {1: "top", 0: "qcd"}


@dataclass(frozen=True)
class Variant:
    """One training recipe; fine-tunes the raw network unless ``scratch``."""

    lam: float = 0.0
    classes: tuple[int, ...] = (1, 0)
    """Classes whose W1 is penalised."""
    aug: float = 0.0
    """Labelled target jets per source jet mixed into the classification loss."""
    scratch: bool = False
    hidden: int = SETTINGS.hidden
    ramp: bool = True
    drop: tuple[str, ...] = ()
    """Features zeroed (source and target) before training and evaluation."""


VARIANTS = {
    "continued, λ = 0 (10 more epochs)": Variant(),
    **{f"W1 both classes, λ = {lam:g}": Variant(lam=lam) for lam in (0.5, 0.7, 1.0, 2.0)},
    **{f"W1 top only, λ = {lam:g}": Variant(lam=lam, classes=(1,)) for lam in (0.5, 0.7, 1.0, 2.0)},
    "augmentation, fine-tuned": Variant(aug=1.0),
    "augmentation, from scratch": Variant(aug=1.0, scratch=True),
    "augmentation (0.15 per source jet), from scratch": Variant(aug=0.15, scratch=True),
    **{f"augmentation + W1 both, λ = {lam:g}": Variant(lam=lam, aug=1.0) for lam in (0.5, 1.0)},
    "W1 both, λ = 1, 128 units, from scratch, no ramp": Variant(
        lam=1.0, hidden=128, scratch=True, ramp=False
    ),
    "τ32 dropped, from scratch, λ = 0": Variant(scratch=True, drop=("tau32",)),
}


def load_jets(data: Path) -> tuple[Domains, np.ndarray]:
    """The jets of scripts/train_adaptation.py (its files, its selection) and the target's val mask."""
    path = Path(__file__).with_name("train_adaptation.py")
    spec = importlib.util.spec_from_file_location("train_adaptation", path)
    if spec is None or spec.loader is None:
        raise ImportError(str(path))
    trainer: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trainer)
    source = [
        f
        for proc, seeds in trainer.SOURCE_SEEDS.items()
        for f in [
            f for s in seeds for f in sorted((data / "train" / proc).glob(f"{proc}_s{s}_*.root"))
        ][:90]
    ]
    target = sorted((data / "domain" / "fsr_up" / "train").glob("*/*.root"))
    if not source or not target:
        msg = f"no source ({data}/train) or target ({data}/domain/fsr_up/train) files"
        raise SystemExit(msg)
    xs, ys, ss = trainer._jets(source, NETWORKS[0])
    xt, yt, st = trainer._jets(target, NETWORKS[0])
    return Domains(xs, ys, ss == "train", ss == "val", xt, yt, st != "val"), st == "val"


def without(data: Domains, names: tuple[str, ...]) -> Domains:
    """``data`` with the features ``names`` set to 0 in both domains."""
    cols = [FEATURES.index(n) for n in names]
    xs, xt = data.x_src.copy(), data.x_tgt.copy()
    xs[:, cols], xt[:, cols] = 0, 0
    return replace(data, x_src=xs, x_tgt=xt)


def train(start: Any, data: Domains, v: Variant, seed: int) -> Any:
    """One network of variant ``v`` (a ``StandardizedMLP``)."""
    import torch

    epochs = SETTINGS.epochs if v.scratch else SETTINGS.finetune_epochs
    lr = SETTINGS.lr if v.scratch else SETTINGS.finetune_lr
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    lab = data.y_src >= 0
    xs, xt = torch.as_tensor(data.x_src), torch.as_tensor(data.x_tgt)
    ys = torch.as_tensor(np.clip(data.y_src, 0, 1), dtype=torch.float32)
    yt = torch.as_tensor(np.clip(data.y_tgt, 0, 1), dtype=torch.float32)
    ws = torch.as_tensor(balanced_weights(np.where(lab, data.y_src, -1)) * lab, dtype=torch.float32)
    tl = data.tgt_train & (data.y_tgt >= 0)
    wt = torch.as_tensor(balanced_weights(np.where(tl, data.y_tgt, -1)) * tl, dtype=torch.float32)
    src_idx = torch.as_tensor(np.flatnonzero(data.src_train & lab))
    pools = {
        c: (
            torch.as_tensor(np.flatnonzero(data.src_train & (data.y_src == c))),
            torch.as_tensor(np.flatnonzero(data.tgt_train & (data.y_tgt == c))),
        )
        for c in v.classes
    }
    tgt_idx = torch.as_tensor(np.flatnonzero(tl))
    if v.scratch:
        net = StandardizedMLP(xs.shape[1], v.hidden, SETTINGS.layers)
        net.standardize_from(xs[src_idx])
    else:
        net = copy.deepcopy(start)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=SETTINGS.weight_decay)
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")
    batch = SETTINGS.batch_size
    nb = math.ceil(len(src_idx) / batch)

    def draw(pool: torch.Tensor, n: int) -> torch.Tensor:
        return pool[torch.randint(len(pool), (n,), generator=g)]

    for ep in range(epochs):
        net.train()
        order = src_idx[torch.randperm(len(src_idx), generator=g)]
        for b in range(nb):
            idx = order[b * batch : (b + 1) * batch]
            loss = (bce(net.logits(xs[idx]), ys[idx]) * ws[idx]).mean()
            if v.aug > 0:
                it = draw(tgt_idx, max(1, int(len(idx) * v.aug)))
                aug = (bce(net.logits(xt[it]), yt[it]) * wt[it]).mean()
                loss = (loss * len(idx) + aug * len(it)) / (len(idx) + len(it))
            if v.lam > 0:
                coeff = v.lam * (ramp((ep * nb + b) / (epochs * nb)) if v.ramp else 1.0)
                pen: Any = 0.0
                for c in v.classes:
                    a = net(xs[draw(pools[c][0], PER_CLASS)])
                    t = net(xt[draw(pools[c][1], PER_CLASS)])
                    pen = pen + (torch.sort(a).values - torch.sort(t).values).abs().mean()
                loss = loss + coeff * pen
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    return net


def scores(net: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        out: np.ndarray = net(torch.as_tensor(x)).numpy().astype(np.float64)
    return out


def evaluate(
    net: Any, data: Domains, tgt_val: np.ndarray, raw: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Validation metrics of ``net``; against the raw network's (``raw``) where given."""
    s, y = scores(net, data.x_src[data.src_val]), data.y_src[data.src_val]
    t, yv = scores(net, data.x_tgt[tgt_val]), data.y_tgt[tgt_val]
    ls, lt = y >= 0, yv >= 0
    m: dict[str, Any] = {
        "r50_src": rejection((y[ls] == 1).astype(int), s[ls]),
        "r50_tgt": rejection((yv[lt] == 1).astype(int), t[lt]),
    }
    m["gap"] = m["r50_tgt"] / m["r50_src"] - 1
    cut = cut_at(s[y == 1], 0.5)
    ref = np.sort(s[ls])  # percentile units: the source val ECDF of this network's scores
    for c, name in CLASSES.items():
        a, b = s[y == c], t[yv == c]
        m[f"w1_{name}"] = w1(a, b)
        m[f"w1p_{name}"] = w1(
            np.searchsorted(ref, a) / len(ref), np.searchsorted(ref, b) / len(ref)
        )
        m[f"sf_{name}"] = float(np.mean(b > cut) / np.mean(a > cut))
        m[f"n_{name}_tgt"], m[f"n_{name}_tgt_pass"] = len(b), int((b > cut).sum())
        m[f"w1_{name}_floor"] = _floor(a, len(b), seed=0)
    m["w1"] = 0.5 * (m["w1_top"] + m["w1_qcd"])
    m["w1p"] = 0.5 * (m["w1p_top"] + m["w1p_qcd"])
    if raw is not None:
        ratio, err = paired_ratio((y[ls] == 1).astype(int), s[ls], raw["_scores"], seed=0)
        m["lost"], m["lost_err"] = 1 - ratio, err
        m["w1_closed"] = 1 - m["w1"] / raw["w1"]
        m["w1p_closed"] = 1 - m["w1p"] / raw["w1p"]
    else:
        m["_scores"] = s[ls]
    return m


COLUMNS = ("lost", "lost_err", "w1_closed", "w1p_closed", "w1_top", "w1_qcd", "sf_top")


def markdown(rows: dict[str, dict[str, list[float]]], n_seeds: int) -> str:
    """The table: means over the seeds, ± their standard deviation."""
    lines = [
        f"| variant ({n_seeds} seeds) | source R50 lost [%] (± seeds, ± bootstrap) "
        "| W1 closed [%] | W1 closed, percentile units [%] | W1 top [10⁻³] | W1 QCD [10⁻³] | SF top |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in rows.items():
        lines.append(
            f"| {label} | {100 * r['lost'][0]:+.0f} ± {100 * r['lost'][1]:.0f} ± "
            f"{100 * r['lost_err'][0]:.0f} | {100 * r['w1_closed'][0]:.0f} ± "
            f"{100 * r['w1_closed'][1]:.0f} | {100 * r['w1p_closed'][0]:.0f} | "
            f"{1e3 * r['w1_top'][0]:.1f} | {1e3 * r['w1_qcd'][0]:.1f} | {r['sf_top'][0]:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--raw-seed", type=int, default=7, help="seed of the raw network")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", choices=list(VARIANTS), help="a subset of variants")
    parser.add_argument(
        "--out", type=Path, default=Path("docs/validation/domain/penalty_study.json")
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    data, tgt_val = load_jets(args.data)
    raw_net, _ = fit_adapted(
        data, method="sysadv", lam=0.0, seed=args.raw_seed, settings=SETTINGS, log=lambda m: None
    )
    raw = evaluate(raw_net, data, tgt_val)
    print(
        f"source: {len(data.x_src)} jets, target fsr_up/train: {len(data.x_tgt)}; raw network "
        f"(validation): R50 source {raw['r50_src']:.0f}, target {raw['r50_tgt']:.0f} "
        f"(gap {100 * raw['gap']:+.0f} %; {raw['n_qcd_tgt_pass']} of {raw['n_qcd_tgt']} target "
        f"QCD jets pass the source's εS = 0.5 cut), W1 top {1e3 * raw['w1_top']:.1f} (floor "
        f"{1e3 * raw['w1_top_floor']:.1f}), QCD {1e3 * raw['w1_qcd']:.1f} (floor "
        f"{1e3 * raw['w1_qcd_floor']:.1f}) ×10⁻³, SF top {raw['sf_top']:.3f} "
        f"({time.perf_counter() - began:.0f} s)",
        flush=True,
    )
    rows: dict[str, dict[str, list[float]]] = {}
    per_seed: dict[str, list[dict[str, float]]] = {}
    for label in args.only or VARIANTS:
        v = VARIANTS[label]
        d = without(data, v.drop)
        ms = [evaluate(train(raw_net, d, v, seed), d, tgt_val, raw) for seed in args.seeds]
        rows[label] = {
            k: [float(np.mean([m[k] for m in ms])), float(np.std([m[k] for m in ms]))]
            for k in COLUMNS
        }
        per_seed[label] = [{k: round(float(m[k]), 6) for k in COLUMNS} for m in ms]
        print(f"{label}: {rows[label]} ({time.perf_counter() - began:.0f} s)", flush=True)
    table = markdown(rows, len(args.seeds))
    print(table)
    command = (
        f"python scripts/study_domain_penalty.py --data {relative_path(args.data)} "
        f"--seeds {' '.join(map(str, args.seeds))} --raw-seed {args.raw_seed} "
        f"--threads {args.threads}"
    ) + "".join(f" --only '{label}'" for label in args.only or ())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "command": command,
        "raw": {k: round(x, 6) for k, x in raw.items() if not k.startswith("_")},
        "variants": {
            label: {
                "recipe": asdict(VARIANTS[label]),
                "mean_std": rows[label],
                "seeds": per_seed[label],
            }
            for label in rows
        },
        "seeds": args.seeds,
        "table": table,
    }
    args.out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {relative_path(args.out)} ({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
