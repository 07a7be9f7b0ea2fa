"""Train the shipped decorrelators: tau21_ddt, the DDT maps and the decorrelated networks.

    python scripts/train_decorrelation.py [DATA_DIR] [--seeds 21 22 ...] [--only NAME ...]
        [--map NAME=FIELD[:low]] [--max-jets N] [--threads 1]

DATA_DIR (default data/train) holds what scripts/generate_samples.sh makes;
training reads DATA_DIR/{qcd,wjets,ttbar}/*_s<SEED>_*.root for the given
seeds (default 21-25: keep other seeds for the independent validation),
and writes each model and its metadata (version, sha256, training files,
seeds, settings, validation metrics) into plugins/jetplug-decorrelation.

* ``tau21_ddt``: slope of QCD's mean τ21 against ρ′ in the linear region;
* ``ddt_<name>``: a DDT map of a score (``--map ddt_pfn_w=pfn.w_vs_qcd``
  re-targets: a tagger output ``<plugin>.<output>`` or a FatJet field,
  ``:low`` where low values are signal-like), fitted on QCD jets;
* ``adv_w``, ``adv_top``, ``disco_w``, ``disco_top``: a λ scan each.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jetplug import untrained_spec, write_model_metadata
from jetplug.artifacts import relative_path
from jetplug.generation import detectors_of
from jetplug.spec import sha256_file
from jetplug.training import training_inputs
from jetplug.validation.collect import collect
from jetplug.validation.decorrelation import decorrelation_metrics
from jetplug_decorrelation.common import MODELS, rho
from jetplug_decorrelation.ddt import (
    PT_EDGES,
    QUANTILES,
    RHO_EDGES,
    TAU21_MODEL,
    fit_quantile_map,
    fit_tau21_slope,
    tau21_inputs,
)
from jetplug_decorrelation.networks import (
    NETWORKS,
    SIGNALS,
    model_path,
    network_spec,
    point_name,
)
from jetplug_decorrelation.train import FitSettings, fit_network
from jetplug_taggers.features import FEATURES, substructure_features

VERSION = "1.0.0"
NETWORK_VERSIONS = {"adv_w": "2.0.0", "adv_top": "2.0.0"}
"""2.0.0: the adversary's reward is capped, top's adversary reads the log-odds."""
MAPS = {"ddt_n2": "n2b1:low", "ddt_part_w": "part.w_vs_qcd"}
"""The shipped DDT maps: name -> score field (``:low``: low values are signal-like)."""
LAMBDAS = {
    "disco_w": (0.0, 3.0, 10.0, 15.0, 20.0, 30.0),
    "disco_top": (0.0, 1.0, 3.0, 10.0, 30.0),
    "adv_w": (0.0, 1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0, 500.0, 1000.0),
    "adv_top": (0.0, 10.0, 30.0, 100.0),
}
"""The λ scan of each network (λ = 0: the plain network, working point ``raw``)."""
ADVERSARY_READS = {"adv_w": "score", "adv_top": "logit"}
"""What each adversarial network's adversary reads (``FitSettings.adversary_reads``):
top's plain network is so confident that QCD scores pile up at ~0, hiding the mass."""
MIN_R50_FRACTION = 0.1
"""The default working point keeps at least this fraction of the raw network's R50."""
TAU21_FIT_RANGE = (1.5, 4.5)
"""ρ′ range of the τ21-DDT fit (QCD's mean τ21 is linear there, 500-700 GeV jets)."""
PT_WINDOW = (450.0, 750.0)
"""pT range of the networks' training jets [GeV]; |η| < 2."""
SAMPLES = {2: "wjets", 1: "ttbar"}


def _files(data: Path, samples: Sequence[str], seeds: Sequence[int]) -> list[Path]:
    return sorted(
        f for s in samples for seed in seeds for f in (data / s).glob(f"*_s{seed}_*.root")
    )


def _record(files: Sequence[Path]) -> dict[str, Any]:
    return {
        "training_files": {relative_path(f): sha256_file(f)[:16] for f in files},
        "detector": detectors_of(files),
    }


def train_tau21(files: list[Path], command: str) -> None:
    """Fit M on QCD jets of the training split, 500-700 GeV, |η| < 2."""
    import torch

    from jetplug_decorrelation.nets import SlopeDDT

    data = training_inputs(files, untrained_spec(TAU21_MODEL, "torch-state-dict", _tau21_spec()))
    pt, eta = data.reco["pt"], data.reco["eta"]
    qcd = (data.truth == 0) & (pt > 500) & (pt < 700) & (np.abs(eta) < 2) & (data.split != "test")
    x = tau21_inputs(data.inputs.fields)[qcd]
    slope, intercept, profile = fit_tau21_slope(x[:, 0], x[:, 1], TAU21_FIT_RANGE)
    print(f"tau21_ddt: M = {slope:.4f}, intercept {intercept:.4f} from {int(qcd.sum())} QCD jets")
    module = SlopeDDT()
    module.slope.fill_(slope)
    torch.save(module.state_dict(), TAU21_MODEL)
    write_model_metadata(
        TAU21_MODEL,
        VERSION,
        plugin="tau21_ddt",
        slope=round(slope, 6),
        intercept=round(intercept, 6),
        fit_range_rho_prime=list(TAU21_FIT_RANGE),
        profile_rho_prime_mean_tau21_n=profile,
        qcd_jets=int(qcd.sum()),
        selection="QCD FatJets 500-700 GeV, |eta| < 2, train+val splits",
        command=command,
        **_record(files),
    )


def _tau21_spec() -> Any:
    from jetplug_decorrelation.ddt import tau21_spec

    return tau21_spec


def train_map(name: str, target: str, files: list[Path], command: str) -> None:
    """Fit the DDT map ``name`` of ``target`` (``FIELD[:low]``) on QCD; default X from W jets."""
    import torch

    from jetplug_decorrelation.nets import QuantileMap

    field, _, low = target.partition(":")
    plugin = field.split(".")[0] if "." in field else None
    table = collect(
        files,
        [plugin] if plugin else [],
        split=None,
        pt_range=(PT_EDGES[0], PT_EDGES[-1]),
        eta_max=2.0,
        extra=() if plugin else (field,),
    )
    c = table.columns
    score = table.outputs[field] if plugin else c[field]
    score = np.asarray(score, np.float64)
    qcd = c["truthLabel"] == 0
    r = rho(c["msoftdrop"], c["pt"])
    quantiles, counts = fit_quantile_map(score[qcd], r[qcd], c["pt"][qcd])
    signal = (c["truthLabel"] == 2) & (c["pt"] > 500) & (c["pt"] < 700)
    in_window = qcd & (c["pt"] > 500) & (c["pt"] < 700)
    # X such that the cut at 0 keeps as much QCD as the raw cut at εS = 0.5
    cut = np.quantile(score[signal], 0.5)
    qcd_pass = float(np.mean(score[in_window] < cut if low else score[in_window] > cut))
    default = int(np.clip(round(100 * (qcd_pass if low else 1 - qcd_pass)), 1, 99))
    print(f"{name}: map of {field} from {int(qcd.sum())} QCD jets; default quantile {default} %")
    module = QuantileMap(len(PT_EDGES) - 1, len(RHO_EDGES) - 1, len(QUANTILES))
    module.rho_edges.copy_(torch.as_tensor(RHO_EDGES[1:-1], dtype=torch.float32))
    module.pt_edges.copy_(torch.as_tensor(PT_EDGES[1:-1], dtype=torch.float32))
    module.table.copy_(torch.as_tensor(quantiles, dtype=torch.float32))
    tagger: dict[str, Any] = {}
    if plugin:
        from jetplug import PluginHost

        spec = PluginHost().spec(plugin)
        tagger = {
            "tagger": plugin,
            "tagger_version": spec.version,
            "tagger_sha256": spec.artifact.sha256,
        }
    path = MODELS / f"{name}.pt"
    torch.save(module.state_dict(), path)
    write_model_metadata(
        path,
        VERSION,
        plugin=name,
        score_field=field,
        higher_is_signal=not low,
        signal_truth=2,
        default_quantile=default,
        quantiles=list(QUANTILES),
        rho_edges=list(RHO_EDGES),
        pt_edges=list(PT_EDGES),
        qcd_jets_per_bin=counts.tolist(),
        selection=f"QCD FatJets {PT_EDGES[0]:g}-{PT_EDGES[-1]:g} GeV, |eta| < 2, all events",
        command=command,
        **tagger,
        **_record(files),
    )


def train_network(
    name: str,
    files: list[Path],
    command: str,
    lambdas: Sequence[float],
    max_jets: int,
    seed: int,
    settings: FitSettings,
) -> None:
    """The λ scan of network ``name`` (``<method>_<signal>``)."""
    import torch

    from jetplug_decorrelation.nets import WorkingPoints

    method, target = name.split("_")
    signal = SIGNALS[target]
    spec = untrained_spec(
        model_path(name), "torch-state-dict", lambda a, m: network_spec(name, a, m)
    )
    data = training_inputs(files, spec)
    pt, eta = data.reco["pt"], data.reco["eta"]
    keep = (
        (pt > PT_WINDOW[0])
        & (pt < PT_WINDOW[1])
        & (np.abs(eta) < 2)
        & np.isin(data.truth, [0, signal])
    )
    rng = np.random.default_rng(seed)
    for label in (0, signal):  # at most max_jets per class (the rest is not read further)
        rows = np.flatnonzero(keep & (data.truth == label))
        if len(rows) > max_jets:
            keep[rng.choice(rows, len(rows) - max_jets, replace=False)] = False
    data = data.select(keep)
    x = substructure_features(data.inputs)
    y = (data.truth == signal).astype(np.float32)
    mass = np.asarray(data.inputs.fields["msoftdrop"], np.float64)
    train, val = data.split == "train", data.split == "val"
    print(
        f"== {name}: {int(train.sum())} train, {int(val.sum())} val jets "
        f"({int(y[train].sum())}/{int(y[val].sum())} signal)",
        flush=True,
    )
    if lambdas[0] != 0:
        sys.exit(f"{name}: the λ scan starts at 0 (the plain network), got {list(lambdas)}")
    nets, points = [], []
    raw = None
    for lam in lambdas:
        start = time.perf_counter()
        net, record = fit_network(
            x,
            y,
            mass,
            train,
            val,
            method=method,
            lam=lam,
            seed=seed,
            settings=settings,
            start=raw if method == "adv" else None,
            log=lambda m: print(m, flush=True),
        )
        if lam == 0:
            raw = net
        with torch.no_grad():
            s = net(torch.as_tensor(x[val])).numpy()
        res = decorrelation_metrics(y[val], s, mass[val], n_bootstrap=50, seed=seed)
        print(
            f"  {point_name(lam)}: val R50 {res.r50:.1f}, 1/JSD50 {res.inv_jsd50:.1f}", flush=True
        )
        nets.append(net)
        points.append(
            {
                "name": point_name(lam),
                "lambda": lam,
                "val_r50": round(res.r50, 2),
                "val_inv_jsd50": round(res.inv_jsd50, 2),
                "train_seconds": round(time.perf_counter() - start, 1),
                "history": record["history"],
            }
        )
    module = WorkingPoints(len(FEATURES), len(nets), settings.hidden, settings.layers)
    for slot, net in zip(module.nets, nets, strict=True):
        slot.load_state_dict(net.state_dict())
    torch.save(module.state_dict(), model_path(name))
    floor = MIN_R50_FRACTION * points[0]["val_r50"]
    default = max((p for p in points if p["val_r50"] >= floor), key=lambda p: p["val_inv_jsd50"])
    write_model_metadata(
        model_path(name),
        NETWORK_VERSIONS.get(name, VERSION),
        plugin=name,
        method=method,
        signal_truth=signal,
        features=list(FEATURES),
        mass_enters=True,
        working_points=points,
        default_working_point=default["name"],
        default_rule=f"largest validation 1/JSD50 among points keeping R50 >= {MIN_R50_FRACTION} x raw's",
        selection=f"FatJets {PT_WINDOW[0]:g}-{PT_WINDOW[1]:g} GeV, |eta| < 2, truth {signal} vs 0",
        jets={
            "train": int(train.sum()),
            "val": int(val.sum()),
            "signal_train": int(y[train].sum()),
        },
        max_jets_per_class=max_jets,
        seed=seed,
        settings=vars(settings),
        command=command,
        **_record(files),
    )
    print(f"wrote {model_path(name)} (default working point {default['name']})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=Path("data/train"))
    parser.add_argument("--seeds", nargs="+", type=int, default=[21, 22, 23, 24, 25])
    names = ["tau21_ddt", *MAPS, *NETWORKS]
    parser.add_argument("--only", nargs="*", default=names, help=f"of {names} and --map names")
    parser.add_argument(
        "--map", action="append", default=[], help="NAME=FIELD[:low], a new DDT map"
    )
    parser.add_argument("--max-jets", type=int, default=60000, help="per class, networks")
    parser.add_argument(
        "--map-files", type=int, default=0, help="DDT maps: at most this many files per sample"
    )
    parser.add_argument("--epochs", type=int, default=FitSettings.epochs)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--lambdas", nargs="+", type=float, help="networks: the λ scan (default: LAMBDAS[name])"
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    maps = dict(MAPS)
    for spec in args.map:
        name, _, field = spec.partition("=")
        if not name.startswith("ddt_") or not field:
            sys.exit(f"--map {spec!r}: give ddt_<name>=FIELD[:low]")
        maps[name] = field
        args.only.append(name)
    seeds = " ".join(map(str, args.seeds))
    base = f"python scripts/train_decorrelation.py {relative_path(args.data)} --seeds {seeds}"
    settings = FitSettings(epochs=args.epochs)
    for name in dict.fromkeys(args.only):
        start = time.perf_counter()
        if name == "tau21_ddt":
            files = _files(args.data, ["qcd"], args.seeds)
            train_tau21(files, f"{base} --only {name}")
        elif name in maps:
            files = [
                f
                for sample in ("qcd", "wjets")
                for f in _files(args.data, [sample], args.seeds)[: args.map_files or None]
            ]
            extra = f" --map {name}={maps[name]}" if name not in MAPS else ""
            extra += f" --map-files {args.map_files}" if args.map_files else ""
            train_map(name, maps[name], files, f"{base} --only {name}{extra}")
        elif name in NETWORKS:
            files = _files(args.data, ["qcd", SAMPLES[SIGNALS[name.split("_")[1]]]], args.seeds)
            lambdas = tuple(args.lambdas) if args.lambdas else LAMBDAS[name]
            cmd = f"{base} --only {name} --max-jets {args.max_jets} --epochs {args.epochs} --seed {args.seed}"
            if args.lambdas:
                cmd += " --lambdas " + " ".join(f"{lam:g}" for lam in lambdas)
            reads = ADVERSARY_READS.get(name, settings.adversary_reads)
            train_network(
                name,
                files,
                cmd,
                lambdas,
                args.max_jets,
                args.seed,
                dataclasses.replace(settings, adversary_reads=reads),
            )
        else:
            sys.exit(f"unknown model {name!r}; known: {names} and --map names")
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
