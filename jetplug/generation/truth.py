"""Truth labels of jets by parton matching on the Pythia event record.

A resonance is matched to a jet when the resonance (its last copy, i.e. its
momentum when it decays) and all its decay quarks lie within ΔR < 0.8 of the
jet axis:

* top (1): a hadronically decaying top, its b and both quarks of its W;
* W (2), Z (3): the boson and both its quarks;
* H (4): the Higgs and both b quarks.

A jet matched to nothing is QCD (0) in a QCD sample and unmatched (-1)
otherwise; when several resonances match, the order top > H > Z > W wins (a
fully contained top also contains its W).

Everything is vectorised over the batch: copies are followed with a fixed
number of whole-array steps, never per event.
"""

from __future__ import annotations

import enum

import awkward as ak
import numpy as np

__all__ = ["TruthLabel", "delta_r", "label_jets", "resonance_partons"]

MATCH_R = 0.8
_MAX_COPIES = 64


class TruthLabel(enum.IntEnum):
    """Per-jet truth label written as ``FatJet_truthLabel`` / ``GenJetAK8_truthLabel``."""

    UNMATCHED = -1
    QCD = 0
    TOP = 1
    W = 2
    Z = 3
    H = 4


_PRIORITY = (TruthLabel.TOP, TruthLabel.H, TruthLabel.Z, TruthLabel.W)
_RESONANCE = {6: TruthLabel.TOP, 24: TruthLabel.W, 23: TruthLabel.Z, 25: TruthLabel.H}


def _follow_copies(prt: ak.Array) -> ak.Array:
    """Index of each particle's last copy (following ``daughter1 == daughter2`` same-id links)."""
    idx = ak.local_index(prt.id)
    for _ in range(_MAX_COPIES):
        d1 = prt.daughter1[idx]
        d2 = prt.daughter2[idx]
        safe = ak.where(d1 > 0, d1, 0)
        same = (d1 > 0) & (d1 == d2) & (prt.id[safe] == prt.id[idx])
        if not ak.any(same):
            break
        idx = ak.where(same, safe, idx)
    return idx


def _eta_phi(prt: ak.Array, idx: ak.Array) -> tuple[ak.Array, ak.Array]:
    p = prt.p[idx]
    pt = np.hypot(p.px, p.py)
    eta = np.arcsinh(p.pz / ak.where(pt > 0, pt, 1e-9))
    return eta, np.arctan2(p.py, p.px)


def resonance_partons(prt: ak.Array) -> dict[TruthLabel, list[tuple[ak.Array, ak.Array]]]:
    """(η, φ) of each resonance and of its decay quarks, per label.

    Returns ``{label: [(eta, phi) of resonance, (eta, phi) of parton 1, ...]}``
    where each entry is jagged (events x resonances of that label); only
    hadronic decays are kept.
    """
    last = _follow_copies(prt)
    first_copy = (prt.status == -22) | (prt.status == 22)
    out: dict[TruthLabel, list[tuple[ak.Array, ak.Array]]] = {}
    for pid, label in _RESONANCE.items():
        res = ak.local_index(prt.id)[first_copy & (abs(prt.id) == pid)]
        end = last[res]
        d1, d2 = prt.daughter1[end], prt.daughter2[end]
        if label is TruthLabel.TOP:
            is_w1 = abs(prt.id[d1]) == 24
            w = ak.where(is_w1, d1, d2)
            bq = ak.where(is_w1, d2, d1)
            w_end = last[w]
            q1, q2 = prt.daughter1[w_end], prt.daughter2[w_end]
            hadronic = (abs(prt.id[q1]) <= 5) & (abs(prt.id[q2]) <= 5) & (abs(prt.id[bq]) == 5)
            members = [end, bq, q1, q2]
        else:
            hadronic = (abs(prt.id[d1]) <= 5) & (abs(prt.id[d2]) <= 5) & (d1 > 0)
            members = [end, d1, d2]
        out[label] = [_eta_phi(prt, m[hadronic]) for m in members]
    return out


def delta_r(eta1: ak.Array, phi1: ak.Array, eta2: ak.Array, phi2: ak.Array) -> ak.Array:
    """ΔR with Δφ wrapped into [-π, π)."""
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def label_jets(
    jets: ak.Array, partons: dict[TruthLabel, list[tuple[ak.Array, ak.Array]]], *, qcd: bool
) -> ak.Array:
    """Truth label per jet (jagged int32), given jets with ``eta`` and ``phi``."""
    label = ak.values_astype(ak.zeros_like(jets.eta), np.int32) + int(
        TruthLabel.QCD if qcd else TruthLabel.UNMATCHED
    )
    for truth in reversed(_PRIORITY):  # lowest priority first, overwritten by higher
        members = partons.get(truth)
        if not members:
            continue
        contained = None
        for eta, phi in members:
            pairs = ak.cartesian(
                {"j": jets[["eta", "phi"]], "p": ak.zip({"eta": eta, "phi": phi})}, nested=True
            )
            inside = delta_r(pairs.j.eta, pairs.j.phi, pairs.p.eta, pairs.p.phi) < MATCH_R
            contained = inside if contained is None else contained & inside
        assert contained is not None
        matched = ak.any(contained, axis=2)
        label = ak.where(matched, np.int32(truth), label)
    return ak.values_astype(label, np.int32)
