"""Gen jets and the FatJets they became, read from generated files (training and validation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import awkward as ak
import numpy as np
import uproot

from jetplug.errors import InputFileError
from jetplug.training import split_of

from .gan import FIELDS, GEN_FIELDS

__all__ = ["GenRecoPairs", "gen_reco_pairs"]


@dataclass
class GenRecoPairs:
    """One row per ``GenJetAK8``: its fields, the matched FatJet's fields, the split."""

    gen: dict[str, np.ndarray]
    reco: dict[str, np.ndarray]
    """FatJet :data:`~jetplug_fastsim.gan.FIELDS`; NaN where not reconstructed."""
    reconstructed: np.ndarray
    split: np.ndarray
    event: np.ndarray

    def __len__(self) -> int:
        return len(self.reconstructed)

    def save(self, path: Path, **info: str) -> None:
        """Write to an ``.npz`` (plain arrays, no pickle); ``info``: strings kept beside them."""
        arrays = {f"gen_{k}": v for k, v in self.gen.items()}
        arrays |= {f"reco_{k}": v.astype(np.float32) for k, v in self.reco.items()}
        arrays |= {"reconstructed": self.reconstructed, "event": self.event}
        arrays |= {"split": self.split.astype("U5")}
        arrays |= {f"info_{k}": np.array(v) for k, v in info.items()}
        np.savez_compressed(path, **cast("dict[str, Any]", arrays))

    @classmethod
    def load(cls, path: Path) -> tuple[GenRecoPairs, dict[str, str]]:
        """What :meth:`save` wrote, and its ``info``."""
        with np.load(path, allow_pickle=False) as z:
            pairs = cls(
                {k[4:]: z[k] for k in z.files if k.startswith("gen_")},
                {k[5:]: z[k].astype(np.float64) for k in z.files if k.startswith("reco_")},
                z["reconstructed"],
                z["split"],
                z["event"],
            )
            info = {k[5:]: str(z[k]) for k in z.files if k.startswith("info_")}
        return pairs, info

    def select(self, keep: np.ndarray) -> GenRecoPairs:
        """The rows where ``keep`` is true."""
        return GenRecoPairs(
            {k: v[keep] for k, v in self.gen.items()},
            {k: v[keep] for k, v in self.reco.items()},
            self.reconstructed[keep],
            self.split[keep],
            self.event[keep],
        )


def _pairs_of(path: Path) -> GenRecoPairs:
    gen_branches = [f"GenJetAK8_{f}" for f in (*GEN_FIELDS, "truthLabel")]
    reco_branches = [f"FatJet_{f}" for f in (*FIELDS, "genJetAK8Idx")]
    with uproot.open(path) as f:
        tree = f["Events"]
        missing = [b for b in (*gen_branches, *reco_branches) if b not in tree]
        if missing:
            raise InputFileError(str(path), f"lacks {missing} (a file made by jetplug generate?)")
        a = tree.arrays([*gen_branches, *reco_branches, "event", "run"], library="ak")
    n_gen = ak.to_numpy(ak.num(a["GenJetAK8_pt"]))
    offsets = np.concatenate([[0], np.cumsum(n_gen)[:-1]])
    idx = a["FatJet_genJetAK8Idx"]
    n_reco = ak.to_numpy(ak.num(idx))
    flat_idx = ak.to_numpy(ak.flatten(idx))
    flat_event = np.repeat(np.arange(len(n_reco)), n_reco)
    ok = flat_idx >= 0
    target = (offsets[flat_event] + flat_idx)[ok]
    source = np.flatnonzero(ok)
    reco_of_gen = np.full(int(n_gen.sum()), -1)
    reco_of_gen[target[::-1]] = source[::-1]  # the leading FatJet wins a shared gen jet
    has = reco_of_gen >= 0
    reco = {}
    for name in FIELDS:
        values = ak.to_numpy(ak.flatten(a[f"FatJet_{name}"])).astype(np.float64)
        reco[name] = np.where(has, values[np.maximum(reco_of_gen, 0)], np.nan)
    gen = {f: ak.to_numpy(ak.flatten(a[f"GenJetAK8_{f}"])) for f in (*GEN_FIELDS, "truthLabel")}
    event = np.repeat(ak.to_numpy(a["event"]), n_gen)
    run = np.repeat(ak.to_numpy(a["run"]), n_gen)
    return GenRecoPairs(gen, reco, has, split_of(event, run), event)


def gen_reco_pairs(files: Sequence[Path]) -> GenRecoPairs:
    """Every ``GenJetAK8`` of ``files`` with the FatJet matched to it (``genJetAK8Idx``)."""
    parts = [_pairs_of(Path(f)) for f in files]
    if not parts:
        msg = "no files given"
        raise ValueError(msg)
    return GenRecoPairs(
        {k: np.concatenate([p.gen[k] for p in parts]) for k in parts[0].gen},
        {k: np.concatenate([p.reco[k] for p in parts]) for k in parts[0].reco},
        np.concatenate([p.reconstructed for p in parts]),
        np.concatenate([p.split for p in parts]),
        np.concatenate([p.event for p in parts]),
    )
