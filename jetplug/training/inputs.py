"""Training inputs for every plugin kind: exactly what ``prepare()`` sees, plus truth.

:func:`training_inputs` reads files and returns, one row per object of the
plugin's collection, the :class:`~jetplug.ModelInputs` the processor would
hand to the plugin (the same gathering code: derivations, padded
constituents), the generator truth label, the object's reconstructed
kinematics and its **gen-matched target** (the matched ``GenJetAK8`` of a
``FatJet``, ``GenJet`` of a ``Jet``: by the file's index branch when present,
else the nearest gen jet within ΔR < 0.4), and the event-based
train/validation/test split. A regression (calibration), an unsupervised
(anomaly) or a generative (fast simulation) training uses it as a tagger
training does, through the plugin's own input path::

    data = training_inputs(files, MyCalibrator.spec)
    x = MyCalibrator().prepare(data.inputs)["features"]
    y = np.log(data.gen["pt"] / data.reco["pt"])          # NaN where unmatched
    train = (data.split == "train") & data.matched
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from ..chunk import ChunkContext
from ..errors import InputFileError, JetplugError
from ..model import ModelInputs
from ..plan import Plan, branch_of
from ..registry import DerivationRegistry
from ..spec import ModelSpec

__all__ = ["GEN_MATCH", "TrainingData", "split_of", "training_inputs"]

GEN_MATCH = {"FatJet": ("GenJetAK8", "genJetAK8Idx"), "Jet": ("GenJet", "genJetIdx")}
"""Reco collection -> (gen collection, index branch of the reco collection)."""
MATCH_DR = 0.4
KINEMATICS = ("pt", "eta", "phi", "mass")
SPLITS = {"train": (0, 60), "val": (60, 80), "test": (80, 100)}


def split_of(event: np.ndarray, run: np.ndarray) -> np.ndarray:
    """Deterministic split per event: 60 % train, 20 % val, 20 % test."""
    key = event.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ run.astype(np.uint64)
    bucket = (key >> np.uint64(33)) % np.uint64(100)
    out = np.empty(len(event), dtype="<U5")
    for name, (lo, hi) in SPLITS.items():
        out[(bucket >= lo) & (bucket < hi)] = name
    return out


def select_inputs(inputs: ModelInputs, keep: np.ndarray) -> ModelInputs:
    """The rows of ``inputs`` where ``keep`` is true."""
    return ModelInputs(
        {k: v[keep] for k, v in inputs.fields.items()},
        None if inputs.constituents is None else inputs.constituents[keep],
        None if inputs.mask is None else inputs.mask[keep],
        incomplete=None if inputs.incomplete is None else inputs.incomplete[keep],
    )


@dataclass
class TrainingData:
    """One row per object: inputs as ``prepare()`` sees them, truth, targets, split."""

    inputs: ModelInputs
    truth: np.ndarray
    """Generator truth label (``truthLabel``), -1 where the file has none."""
    reco: dict[str, np.ndarray]
    """The object's ``pt``, ``eta``, ``phi``, ``mass``."""
    gen: dict[str, np.ndarray]
    """The matched gen jet's ``pt``, ``eta``, ``phi``, ``mass``; NaN where unmatched."""
    matched: np.ndarray
    event: np.ndarray
    run: np.ndarray
    split: np.ndarray
    """``train``, ``val`` or ``test``, by a hash of the event (never within an event)."""

    def __len__(self) -> int:
        return len(self.truth)

    def select(self, keep: np.ndarray) -> TrainingData:
        """The rows where ``keep`` is true."""
        return TrainingData(
            inputs=select_inputs(self.inputs, keep),
            truth=self.truth[keep],
            reco={k: v[keep] for k, v in self.reco.items()},
            gen={k: v[keep] for k, v in self.gen.items()},
            matched=self.matched[keep],
            event=self.event[keep],
            run=self.run[keep],
            split=self.split[keep],
        )

    @staticmethod
    def concatenate(parts: Sequence[TrainingData]) -> TrainingData:
        """Rows of ``parts`` one after the other."""
        first = parts[0]
        cat = np.concatenate

        def opt(get: str) -> np.ndarray | None:
            values = [getattr(p.inputs, get) for p in parts]
            return None if values[0] is None else cat(values)

        incomplete = None
        if any(p.inputs.incomplete is not None for p in parts):  # None: every object complete
            incomplete = cat(
                [
                    np.zeros(len(p), bool) if p.inputs.incomplete is None else p.inputs.incomplete
                    for p in parts
                ]
            )

        return TrainingData(
            inputs=ModelInputs(
                {k: cat([p.inputs.fields[k] for p in parts]) for k in first.inputs.fields},
                opt("constituents"),
                opt("mask"),
                incomplete=incomplete,
            ),
            truth=cat([p.truth for p in parts]),
            reco={k: cat([p.reco[k] for p in parts]) for k in first.reco},
            gen={k: cat([p.gen[k] for p in parts]) for k in first.gen},
            matched=cat([p.matched for p in parts]),
            event=cat([p.event for p in parts]),
            run=cat([p.run for p in parts]),
            split=cat([p.split for p in parts]),
        )


def _branches(spec: ModelSpec, available: set[str], derivations: DerivationRegistry) -> list[str]:
    coll = spec.inputs.collection
    wanted = {"event", "run"}
    wanted |= {branch_of(coll, n) for n in (*KINEMATICS, "truthLabel")}
    gen, index = GEN_MATCH.get(coll, ("", ""))
    wanted |= {branch_of(gen, n) for n in KINEMATICS} | {branch_of(coll, index)}
    needed = {b for b in Plan(spec).branches(available, derivations) if "_" in b}
    optional = {b for b in wanted - needed if b not in available}
    return sorted((wanted | needed) - optional)


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


def _flat(objects: ak.Array, name: str, fill: float) -> np.ndarray:
    if name not in ak.fields(objects):
        return np.full(int(ak.sum(ak.num(objects, axis=1))), fill)
    values: np.ndarray = ak.to_numpy(ak.flatten(objects[name], axis=1)).astype(np.float64)
    return values


def _gen_match(events: ak.Array, coll: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    objects = events[coll]
    n = int(ak.sum(ak.num(objects, axis=1)))
    gen_name, index = GEN_MATCH.get(coll, ("", ""))
    if gen_name not in ak.fields(events) or not set(KINEMATICS) <= set(ak.fields(events[gen_name])):
        return {k: np.full(n, np.nan) for k in KINEMATICS}, np.zeros(n, bool)
    gen = events[gen_name]
    if index in ak.fields(objects):
        idx = objects[index]
        valid = (idx >= 0) & (idx < ak.num(gen, axis=1))
    else:  # nearest gen jet within MATCH_DR
        pairs = ak.cartesian({"o": objects, "g": gen}, axis=1, nested=True)
        dphi = (pairs.o.phi - pairs.g.phi + np.pi) % (2 * np.pi) - np.pi
        dr = np.sqrt((pairs.o.eta - pairs.g.eta) ** 2 + dphi**2)
        idx = ak.fill_none(ak.argmin(dr, axis=2), -1)
        valid = ak.fill_none(ak.min(dr, axis=2), np.inf) < MATCH_DR
    safe = ak.where(valid, idx, 0)
    padded = ak.pad_none(gen, 1, axis=1)
    matched = ak.to_numpy(ak.flatten(valid, axis=1)).astype(bool)
    out = {}
    for k in KINEMATICS:
        values = ak.to_numpy(ak.flatten(ak.fill_none(padded[k][safe], np.nan), axis=1))
        out[k] = np.where(matched, values.astype(np.float64), np.nan)
    return out, matched


def training_inputs(
    files: Sequence[Path], spec: ModelSpec, derivations: DerivationRegistry | None = None
) -> TrainingData:
    """Read ``files`` (``Events`` trees) into :class:`TrainingData` for ``spec``'s plugin.

    Objects whose constituents a file does not store (official NanoAOD v15 has
    none for some FatJets: :attr:`ModelInputs.incomplete`) are left out: they
    are no example of a jet.
    """
    from ..columns import gather_inputs
    from ..fileset import refuse_repeated
    from ..host import PluginHost

    refuse_repeated(files, "the training files")
    derivations = derivations or PluginHost(autoload=False).derivations
    coll = spec.inputs.collection
    parts = []
    for path in files:
        try:
            with uproot.open(path) as f:
                tree = f["Events"]
                branches = _branches(spec, set(tree.keys()), derivations)
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
        inputs, counts = gather_inputs(events, spec, derivations, chunk=chunk)
        objects = events[coll]
        gen, matched = _gen_match(events, coll)
        event = np.repeat(ak.to_numpy(events["event"]), counts)
        run = np.repeat(ak.to_numpy(events["run"]), counts)
        part = TrainingData(
            inputs=inputs,
            truth=_flat(objects, "truthLabel", -1).astype(int),
            reco={k: _flat(objects, k, np.nan) for k in KINEMATICS},
            gen=gen,
            matched=matched,
            event=event,
            run=run,
            split=split_of(event, run),
        )
        if inputs.incomplete is not None:
            part = part.select(~inputs.incomplete)
        parts.append(part)
    if not parts:
        msg = "no files to read training inputs from"
        raise JetplugError(msg)
    return TrainingData.concatenate(parts)
