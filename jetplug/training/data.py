"""Training data: generated FatJets, selected and split by event."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from ..artifacts import write_model_metadata
from ..chunk import ChunkContext
from ..errors import InputFileError, JetplugError
from ..metrics import tagging_metrics
from ..model import JetModel, ModelInputs
from ..plan import Plan, branch_of
from ..registry import DerivationRegistry
from ..spec import sha256_file

__all__ = [
    "SPLITS",
    "JetSample",
    "TrainSettings",
    "check_splits",
    "load_jets",
    "record_training",
    "split_of",
]


@dataclass(frozen=True)
class TrainSettings:
    """Selection and hyper-parameters; all recorded in the model metadata."""

    signal: int = 1
    background: int = 0
    pt_min: float = 550.0
    pt_max: float = 650.0
    eta_max: float = 2.0
    seed: int = 42
    threads: int = 2
    n_bootstrap: int = 200
    # xgboost
    max_depth: int = 6
    learning_rate: float = 0.1
    max_rounds: int = 2000
    early_stopping: int = 50
    subsample: float = 0.8
    # torch
    epochs: int = 60
    batch_size: int = 512
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 8


SPLITS = {"train": (0, 60), "val": (60, 80), "test": (80, 100)}


@dataclass
class JetSample:
    """Selected jets: the plugin's inputs, class labels, truth labels, pt, event-based split.

    ``label`` is 1/0 (signal/background) for a binary tagger, or the class
    index for a multi-class one (see :attr:`jetplug.JetModel.truth_classes`).
    """

    inputs: ModelInputs
    label: np.ndarray
    truth: np.ndarray
    pt: np.ndarray
    split: np.ndarray

    def subset(self, name: str) -> tuple[ModelInputs, np.ndarray]:
        """Inputs and labels of the ``train``/``val``/``test`` split."""
        return _select(self.inputs, self.split == name), self.label[self.split == name]


def _select(inputs: ModelInputs, keep: np.ndarray) -> ModelInputs:
    return ModelInputs(
        {k: v[keep] for k, v in inputs.fields.items()},
        None if inputs.constituents is None else inputs.constituents[keep],
        None if inputs.mask is None else inputs.mask[keep],
    )


def split_of(event: np.ndarray, run: np.ndarray) -> np.ndarray:
    """Deterministic split per event: 60 % train, 20 % val, 20 % test."""
    key = event.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ run.astype(np.uint64)
    bucket = (key >> np.uint64(33)) % np.uint64(100)
    out = np.empty(len(event), dtype="<U5")
    for name, (lo, hi) in SPLITS.items():
        out[(bucket >= lo) & (bucket < hi)] = name
    return out


def _branches(model: JetModel, available: set[str], derivations: DerivationRegistry) -> list[str]:
    coll = model.spec.inputs.collection
    wanted = {branch_of(coll, n) for n in ("pt", "eta", "truthLabel")} | {"event", "run"}
    wanted.update(b for b in Plan(model.spec).branches(available, derivations) if "_" in b)
    return sorted(wanted)


def _as_events(arrays: ak.Array) -> ak.Array:
    """Group ``X_field`` branches into ``X`` records, as NanoEvents would."""
    groups: dict[str, dict[str, ak.Array]] = {}
    top: dict[str, ak.Array] = {}
    for name in ak.fields(arrays):
        head, sep, field = name.partition("_")
        if sep:
            groups.setdefault(head, {})[field] = arrays[name]
        else:
            top[name] = arrays[name]
    return ak.zip({**top, **{k: ak.zip(v) for k, v in groups.items()}}, depth_limit=1)


def load_jets(
    files: Sequence[Path],
    model: JetModel,
    settings: TrainSettings,
    derivations: DerivationRegistry | None = None,
) -> JetSample:
    """Read the FatJets of ``files`` that pass the selection and carry a wanted label.

    The plugin's inputs are gathered with :func:`jetplug.columns.gather_inputs`,
    the same code the processor runs (derivations and padded constituents included).
    """
    from ..columns import gather_inputs
    from ..host import PluginHost

    derivations = derivations or PluginHost(autoload=False).derivations
    coll = model.spec.inputs.collection
    classes = model.truth_classes
    wanted = list(classes) if classes else [settings.signal, settings.background]
    pieces: list[tuple[ModelInputs, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for path in files:
        try:
            with uproot.open(path) as f:
                tree = f["Events"]
                branches = _branches(model, set(tree.keys()), derivations)
                missing = [b for b in branches if b not in tree]
                if missing:
                    raise InputFileError(str(path), f"lacks branches {missing} needed for training")
                arrays = tree.arrays(branches, library="ak")
        except InputFileError:
            raise
        except Exception as e:
            raise InputFileError(str(path), f"cannot be read: {type(e).__name__}: {e}") from None
        events = _as_events(arrays)
        chunk = ChunkContext(file=str(path), entrystop=len(events))
        inputs, counts = gather_inputs(events, model.spec, derivations, chunk=chunk)
        objects = events[coll]
        pt = ak.to_numpy(ak.flatten(objects["pt"]))
        eta = ak.to_numpy(ak.flatten(objects["eta"]))
        truth = ak.to_numpy(ak.flatten(objects["truthLabel"])).astype(int)
        keep = (
            (pt > settings.pt_min)
            & (pt < settings.pt_max)
            & (np.abs(eta) < settings.eta_max)
            & np.isin(truth, wanted)
        )
        event = np.repeat(ak.to_numpy(events["event"]), counts)
        run = np.repeat(ak.to_numpy(events["run"]), counts)
        pieces.append((_select(inputs, keep), truth[keep], pt[keep], event[keep], run[keep]))
    merged = ModelInputs(
        {k: np.concatenate([p[0].fields[k] for p in pieces]) for k in pieces[0][0].fields},
        None
        if pieces[0][0].constituents is None
        else np.concatenate([p[0].constituents for p in pieces]),
        None if pieces[0][0].mask is None else np.concatenate([p[0].mask for p in pieces]),
    )
    truth = np.concatenate([p[1] for p in pieces])
    if classes:
        lookup = {t: i for i, t in enumerate(classes)}
        label = np.asarray([lookup[t] for t in truth], dtype=np.int64)
    else:
        label = (truth == settings.signal).astype(np.int32)
    return JetSample(
        inputs=merged,
        label=label,
        truth=truth,
        pt=np.concatenate([p[2] for p in pieces]),
        split=split_of(
            np.concatenate([p[3] for p in pieces]), np.concatenate([p[4] for p in pieces])
        ),
    )


Split = dict[str, tuple[ModelInputs, np.ndarray]]


def check_splits(sample: JetSample, log: Callable[[str], None], n_classes: int = 2) -> Split:
    """The three splits; each must hold jets of every class (signal and background)."""
    data = {name: sample.subset(name) for name in SPLITS}
    for name, (_, y) in data.items():
        counts = np.bincount(y.astype(np.int64), minlength=n_classes)
        if n_classes == 2:
            log(f"{name}: {counts[1]} signal, {counts[0]} background jets")
        else:
            log(f"{name}: jets per class {counts.tolist()}")
        if counts.min() == 0:
            msg = f"the {name} split lacks jets of a class ({counts.tolist()}); generate more"
            raise JetplugError(msg)
    return data


def _counts(y: np.ndarray, model: JetModel) -> dict[str, int]:
    if model.truth_classes:
        labels = model.spec.outputs[0].labels
        return {str(labels[i]): int((y == i).sum()) for i in range(len(labels))}
    return {"signal": int(y.sum()), "background": int(len(y) - y.sum())}


def record_training(
    model: JetModel,
    output: Path,
    *,
    version: str,
    settings: TrainSettings,
    files: Sequence[Path],
    data: Split,
    test_scores: np.ndarray,
    log: Callable[[str], None],
    test_labels: np.ndarray | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Test metrics (AUC, R50 with bootstrap) and ``<output>.json`` metadata for a saved model.

    ``test_scores`` are compared with ``test_labels`` (default: the test split's
    binary labels); a multi-class trainer passes its top-vs-QCD subset.
    """
    metrics = tagging_metrics(
        data["test"][1] if test_labels is None else test_labels,
        test_scores,
        eff_s=0.5,
        n_bootstrap=settings.n_bootstrap,
        seed=settings.seed,
    )
    log(
        f"test: AUC = {metrics.auc:.4f} ± {metrics.auc_err:.4f}, "
        f"R50 = {metrics.rejection:.1f} ± {metrics.rejection_err:.1f} "
        f"({metrics.n_signal} signal, {metrics.n_background} background jets)"
    )
    return write_model_metadata(
        output,
        version,
        plugin=model.spec.name,
        trained=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        command=" ".join(sys.argv),
        settings=vars(settings),
        features=list(model.spec.inputs.field_names()),
        data=[{"file": Path(f).name, "sha256": sha256_file(Path(f))} for f in files],
        jets={name: _counts(y, model) for name, (_, y) in data.items()},
        test_metrics=metrics.as_dict(),
        **extra,
    )
