"""Train the shipped adapted taggers: dann_top and sysadv_top, a λ scan each.

    python scripts/train_adaptation.py [--source data/train] [--shift fsr_up]
        [--target-dir data/domain] [--files N] [--only NAME ...] [--epochs N] [--seed S]

Source (labelled, nominal simulation): the first N ttbar files of seeds 21, 31
and N QCD files of seeds 22, 32 in SOURCE (the taggers' training seeds; equal
numbers of events of both processes, as the target samples have). Target: TARGET_DIR/SHIFT/train/{ttbar,qcd}
(scripts/generate_domain_samples.sh; never its ``test`` part, which
``jetplug validate --section domain`` keeps for the evaluation). Both read
through top_mlp's inputs (``jetplug.training.training_inputs``); FatJets
500-700 GeV, |η| < 2. Event splits (``jetplug.training.split_of``): training
uses the source's ``train`` split and the target's ``train`` + ``test``
splits, the choice of the default working point the ``val`` splits.

* ``dann_top``: the target's jets enter unlabelled (every jet of the selection);
* ``sysadv_top``: the target is the shifted simulation, its labels tell the
  adversary each jet's class.

Writes each model and its metadata (version, sha256, files, seeds, λ, settings,
validation metrics) into plugins/jetplug-adaptation.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jetplug import untrained_spec, write_model_metadata
from jetplug.artifacts import relative_path
from jetplug.metrics import rejection
from jetplug.samples import detectors_of, read_generator
from jetplug.spec import sha256_file
from jetplug.training import training_inputs
from jetplug.validation.domain import score_distance
from jetplug_adaptation.common import NETWORKS, model_path, point_name
from jetplug_adaptation.networks import adapted_spec
from jetplug_adaptation.train import Domains, FitSettings, fit_adapted
from jetplug_taggers.features import FEATURES, substructure_features

VERSION = "1.0.0"
LAMBDAS = {
    "dann_top": (0.0, 1.0, 3.0, 5.0, 10.0, 30.0),
    "sysadv_top": (0.0, 3.0, 5.0, 7.0, 10.0, 30.0, 100.0),
}
"""The λ scan of each network (λ = 0: trained on the source alone, working point ``raw``)."""
MAX_SOURCE_LOSS = 0.1
"""The default working point keeps at least 1 − this of the raw point's validation R50."""
PT_WINDOW = (500.0, 700.0)
SOURCE_SEEDS = {"ttbar": (21, 31), "qcd": (22, 32)}
"""Seeds of the source files, in the order they are taken (the taggers' training seeds)."""


def _record(files: Sequence[Path], base: Path) -> dict[str, Any]:
    return {
        "dir": relative_path(base),
        "files": {str(f.relative_to(base)): sha256_file(f)[:16] for f in files},
        "detector": detectors_of(files),
        "generator": [  # the distinct generator records (None: written before they existed)
            json.loads(g)
            for g in sorted({json.dumps(read_generator(f), sort_keys=True) for f in files})
        ],
    }


def _jets(files: Sequence[Path], name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels (1 top, 0 QCD, −1 other) and splits of the selected FatJets."""
    spec = untrained_spec(
        model_path(name), "torch-state-dict", lambda a, m: adapted_spec(name, a, m)
    )
    data = training_inputs(files, spec)
    pt, eta = data.reco["pt"], data.reco["eta"]
    data = data.select((pt > PT_WINDOW[0]) & (pt < PT_WINDOW[1]) & (np.abs(eta) < 2))
    labels = np.where(np.isin(data.truth, [0, 1]), data.truth, -1)
    return substructure_features(data.inputs), labels.astype(np.int64), data.split


def _val_metrics(
    net: Any, data: Domains, src_val: np.ndarray, tgt_val: np.ndarray
) -> dict[str, float]:
    """Source validation R50 and the label-free W1 between the domains' validation scores."""
    import torch

    with torch.no_grad():
        s = net(torch.as_tensor(data.x_src[src_val])).numpy()
        t = net(torch.as_tensor(data.x_tgt[tgt_val])).numpy()
    y = data.y_src[src_val]
    r50 = rejection((y[y >= 0] == 1).astype(int), s[y >= 0])
    return {"val_r50": round(r50, 2), "val_w1": round(score_distance(s, t)[0], 5)}


def train(
    name: str,
    data: Domains,
    tgt_val: np.ndarray,
    settings: FitSettings,
    seed: int,
    info: dict[str, Any],
) -> None:
    """The λ scan of ``name``; writes its state dict and metadata."""
    import torch

    from jetplug_decorrelation.nets import WorkingPoints

    method = name.split("_", maxsplit=1)[0]
    src_val = data.src_val
    nets: list[Any] = []
    points = []
    for lam in LAMBDAS[name]:
        began = time.perf_counter()
        net, record = fit_adapted(
            data,
            method=method,
            lam=lam,
            seed=seed,
            settings=settings,
            start=nets[0] if nets else None,  # adversarial points fine-tune the λ = 0 network
            log=lambda m: print(m, flush=True),
        )
        metrics = _val_metrics(net, data, src_val, tgt_val)
        print(f"  {name}[{point_name(lam)}]: {metrics}", flush=True)
        nets.append(net)
        points.append(
            {
                "name": point_name(lam),
                "lambda": lam,
                **metrics,
                "train_seconds": round(time.perf_counter() - began, 1),
                "history": record["history"],
            }
        )
    module = WorkingPoints(len(FEATURES), len(nets), settings.hidden, settings.layers)
    for slot, net in zip(module.nets, nets, strict=True):
        slot.load_state_dict(net.state_dict())
    torch.save(module.state_dict(), model_path(name))
    floor = (1 - MAX_SOURCE_LOSS) * points[0]["val_r50"]
    default = min((p for p in points if p["val_r50"] >= floor), key=lambda p: p["val_w1"])
    write_model_metadata(
        model_path(name),
        VERSION,
        plugin=name,
        method=method,
        signal_truth=1,
        features=list(FEATURES),
        working_points=points,
        default_working_point=default["name"],
        default_rule=(
            f"smallest validation W1 (source vs target scores, no labels) among points keeping "
            f"R50 >= {1 - MAX_SOURCE_LOSS:g} x raw's"
        ),
        selection=f"FatJets {PT_WINDOW[0]:g}-{PT_WINDOW[1]:g} GeV, |eta| < 2",
        seed=seed,
        settings=vars(settings),
        **info,
    )
    print(f"wrote {model_path(name)} (default working point {default['name']})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("data/train"))
    parser.add_argument("--target-dir", type=Path, default=Path("data/domain"))
    parser.add_argument("--shift", default="fsr_up", help="the target shift (its train part)")
    parser.add_argument("--files", type=int, default=90, help="source files per process")
    parser.add_argument("--only", nargs="*", default=list(NETWORKS), choices=NETWORKS)
    parser.add_argument("--epochs", type=int, default=FitSettings.epochs)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    source = [
        f
        for proc, seeds in SOURCE_SEEDS.items()
        for f in [
            f for seed in seeds for f in sorted((args.source / proc).glob(f"{proc}_s{seed}_*.root"))
        ][: args.files]
    ]
    target = sorted((args.target_dir / args.shift / "train").glob("*/*.root"))
    if not source or not target:
        msg = f"no source ({args.source}) or target ({args.target_dir}/{args.shift}/train) files"
        raise SystemExit(msg)
    x_s, y_s, split_s = _jets(source, NETWORKS[0])
    x_t, y_t, split_t = _jets(target, NETWORKS[0])
    data = Domains(x_s, y_s, split_s == "train", split_s == "val", x_t, y_t, split_t != "val")
    print(
        f"source: {len(x_s)} jets ({int((y_s == 1).sum())} top, {int((y_s == 0).sum())} QCD); "
        f"target {args.shift}: {len(x_t)} jets",
        flush=True,
    )
    command = (
        f"python scripts/train_adaptation.py --source {relative_path(args.source)} "
        f"--target-dir {relative_path(args.target_dir)} --shift {args.shift} --files {args.files} "
        f"--epochs {args.epochs} --seed {args.seed}"
    )
    info = {
        "shift": args.shift,
        "source": _record(source, args.source),
        "target": _record(target, args.target_dir / args.shift / "train"),
        "jets": {
            "source_train": int(data.src_train.sum()),
            "source_val": int(data.src_val.sum()),
            "target_train": int(data.tgt_train.sum()),
            "target_val": int((split_t == "val").sum()),
        },
        "command": command,
    }
    settings = FitSettings(epochs=args.epochs)
    for name in args.only:
        start = time.perf_counter()
        train(
            name,
            data,
            split_t == "val",
            settings,
            args.seed,
            {**info, "command": f"{command} --only {name}"},
        )
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
