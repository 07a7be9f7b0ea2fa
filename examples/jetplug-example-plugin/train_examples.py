"""Train the example plugins' models on synthetic events, in seconds, and ship them with metadata.

    python examples/jetplug-example-plugin/train_examples.py [--out DIR]

Each model is fitted on its plugin's own features (``features()`` in the
plugin module, on the inputs jetplug gathers: ``jetplug.harness.model_inputs``)
and saved without pickle, as xgboost JSON or a torch ``state_dict``, next to
its metadata (``jetplug.write_model_metadata``: version, sha256, seed, data,
what was measured). The tagger ``example_multiplicity`` is trained on
generated samples with ``jetplug train`` instead (README.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import torch
import xgboost as xgb
from jetplug_example import anomaly, calibrator, decorrelator, fastsim, representation

from jetplug import Plugins, untrained_spec, write_model_metadata
from jetplug.harness import model_inputs
from jetplug.synthetic import synthetic_events

VERSION, SEED, EVENTS = "1.0.0", 7, 3000


def flat(array: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array, axis=1))


def fit_xgboost(x: np.ndarray, y: np.ndarray, path: Path) -> dict[str, Any]:
    params = {
        "objective": "reg:squarederror",
        "max_depth": 3,
        "eta": 0.3,
        "nthread": 1,
        "seed": SEED,
    }
    xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=30).save_model(str(path))
    return {"trainer": f"xgboost {xgb.__version__}", "params": params, "rounds": 30}


def fit_torch(net: Any, x: np.ndarray, y: np.ndarray, path: Path) -> dict[str, Any]:
    torch.manual_seed(SEED)
    for p in net.parameters():  # re-initialise from the seed
        torch.nn.init.normal_(p, std=0.3)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(300):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(net(xt), yt)
        loss.backward()
        optimiser.step()
    torch.save(net.state_dict(), path)
    return {"trainer": f"torch {torch.__version__}", "steps": 300, "loss": loss.item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=calibrator.MODEL.parent, help="model directory")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    events = synthetic_events(EVENTS, seed=SEED)
    fat, gen = events.FatJet, events.GenJetAK8
    qcd = flat(fat["truthLabel"]) == 0
    trained: dict[Path, tuple[str, dict[str, Any]]] = {}

    # calibrator: log(pT_gen / pT) of FatJets with a gen jet
    spec = untrained_spec(calibrator.MODEL, "xgboost-json", calibrator.build_spec)
    gen_pt = flat(ak.fill_none(fat.matched_gen.pt, np.nan))
    ok = np.isfinite(gen_pt)
    x = calibrator.features(model_inputs(events, spec))[ok]
    record = fit_xgboost(x, np.log(gen_pt / flat(fat["pt"]))[ok], out / calibrator.MODEL.name)
    trained[calibrator.MODEL] = ("example_calibrator", record)

    # anomaly: an autoencoder of QCD jets' substructure, inputs with noise (denoising)
    spec = untrained_spec(anomaly.MODEL, "torch-state-dict", anomaly.build_spec)
    y = anomaly.features(model_inputs(events, spec))[qcd]
    noisy = (y + 0.1 * np.random.default_rng(SEED).standard_normal(y.shape)).astype(np.float32)
    trained[anomaly.MODEL] = (
        "example_anomaly",
        fit_torch(anomaly.network(), noisy, y, out / anomaly.MODEL.name),
    )

    # fastsim: log(pT_reco / pT_gen) of gen jets a FatJet matches; resolution and efficiency
    spec = untrained_spec(fastsim.MODEL, "xgboost-json", fastsim.build_spec)
    offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(gen)))[:-1]])
    idx = flat(fat["genJetAK8Idx"])
    event = np.repeat(np.arange(len(events)), ak.to_numpy(ak.num(fat)))
    reco = np.full(int(ak.sum(ak.num(gen))), np.nan)
    reco[offsets[event[idx >= 0]] + idx[idx >= 0]] = flat(fat["pt"])[idx >= 0]
    inputs = model_inputs(events, spec)
    found = np.isfinite(reco)
    response = np.log(reco[found] / inputs.fields["pt"][found])
    record = fit_xgboost(fastsim.features(inputs)[found], response, out / fastsim.MODEL.name)
    record |= {
        "resolution": float(np.std(response)),
        "efficiency": float(found[inputs.fields["pt"] > 200].mean()),
    }
    trained[fastsim.MODEL] = ("example_fastsim", record)

    # decorrelator: the QCD mean of example_multiplicity's score at each mass and pT
    scored = Plugins(["example_multiplicity"])(events)
    spec = untrained_spec(decorrelator.MODEL, "xgboost-json", decorrelator.build_spec)
    inputs = model_inputs(scored, spec)
    x, y = decorrelator.features(inputs)[qcd], inputs.fields[decorrelator.SCORE][qcd]
    trained[decorrelator.MODEL] = (
        "example_decorrelator",
        fit_xgboost(x, y, out / decorrelator.MODEL.name),
    )

    # representation: particles -> the jet's substructure, one embedding entry per label
    spec = untrained_spec(representation.MODEL, "torch-state-dict", representation.build_spec)
    x = representation.features(model_inputs(events, spec))
    eps = 1e-6
    targets = {
        "msd_over_pt": fat["msoftdrop"] / fat["pt"],
        "tau21": fat["tau2"] / (fat["tau1"] + eps),
        "tau32": fat["tau3"] / (fat["tau2"] + eps),
        "n2b1": fat["n2b1"],
    }
    y = np.stack([flat(targets[k]) for k in representation.LABELS], 1).astype(np.float32)
    trained[representation.MODEL] = (
        "example_representation",
        fit_torch(representation.network(), x, y, out / representation.MODEL.name),
    )

    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    data = {"synthetic": "jetplug.synthetic", "events": EVENTS, "seed": SEED}
    for model, (plugin, record) in trained.items():
        measured = {k: record.pop(k) for k in ("resolution", "efficiency") if k in record}
        meta = write_model_metadata(
            out / model.name,
            VERSION,
            plugin=plugin,
            trained=when,
            command=" ".join(["train_examples.py", *sys.argv[1:]]),
            seed=SEED,
            data=[data],
            training=record,
            **measured,
        )
        print(f"{plugin}: {out / model.name} ({meta['sha256'][:12]})")


if __name__ == "__main__":
    main()
