"""Jet clustering and substructure with FastJet, vectorised over a batch.

* Jets: anti-kT (R = 0.8 FatJets, R = 0.4 Jets, R = 0.8 GenJetAK8), sorted by
  pT (FastJet returns them unsorted), with their constituents' indices.
* Substructure per FatJet, each jet's constituents reclustered with
  Cambridge/Aachen as its own "event" (one C++ call for all jets):

  - ``msoftdrop``: soft drop with β = 0, z_cut = 0.1, R0 = 0.8;
  - ``tau1..tau4``: N-subjettiness with β = 1, R0 = 0.8 (unnormalised, as in
    NanoAOD; ratios such as τ21 = τ2/τ1 are formed by the plugins);
  - ``n2b1``, ``n3b1``: the N-series of generalised energy correlators with
    β = 1 on the soft-drop groomed constituents,
    N2 = e₃^(2)/(e₂^(1))², N3 = e₄^(2)/(e₃^(1))² (Moult, Necib, Thaler,
    arXiv:1609.07483; CMS's ``n2b1``/``n3b1``), via FastJet-contrib's
    ``EnergyCorrelatorNseries``; N3 on the hardest :data:`N3_MAX_CONSTITUENTS`
    groomed constituents. Jets with fewer than 3 groomed constituents get 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import fastjet
import numpy as np
import vector

__all__ = ["N3_MAX_CONSTITUENTS", "ClusteredJets", "cluster", "substructure"]

N3_MAX_CONSTITUENTS = 30
"""N3 (4-point correlators, O(n^4)) uses the hardest 30 groomed constituents:
~10x faster on top jets (~55 groomed constituents), soft particles carry
little weight in the z-weighted sums."""

vector.register_awkward()


@dataclass
class ClusteredJets:
    """Jets (jagged records ``pt, eta, phi, mass``) and, per jet, constituent indices."""

    jets: ak.Array
    constituent_index: ak.Array


def _momenta(cands: ak.Array) -> ak.Array:
    """Momentum4D records (px, py, pz, E) with the candidate's index as an extra field."""
    vec = ak.zip(
        {"pt": cands.pt, "eta": cands.eta, "phi": cands.phi, "mass": cands.mass},
        with_name="Momentum4D",
    )
    return ak.zip(
        {
            "px": vec.px,
            "py": vec.py,
            "pz": vec.pz,
            "E": vec.E,
            "idx": ak.values_astype(ak.local_index(cands.pt), np.float64),
        },
        with_name="Momentum4D",
    )


def _kinematics(jets: ak.Array) -> ak.Array:
    vec = ak.zip({"px": jets.px, "py": jets.py, "pz": jets.pz, "E": jets.E}, with_name="Momentum4D")
    return ak.zip(
        {
            "pt": ak.values_astype(vec.pt, np.float32),
            "eta": ak.values_astype(vec.eta, np.float32),
            "phi": ak.values_astype(vec.phi, np.float32),
            "mass": ak.values_astype(np.sqrt(np.maximum(vec.tau2, 0.0)), np.float32),
        }
    )


def cluster(cands: ak.Array, radius: float, pt_min: float, eta_max: float) -> ClusteredJets:
    """Anti-kT jets of ``cands`` (records with pt, eta, phi, mass), sorted by pT, with cuts."""
    n_events = len(cands)
    if ak.sum(ak.num(cands, axis=1)) == 0:
        none = np.zeros(n_events, dtype=np.int64)
        empty = np.zeros(0, dtype=np.float32)
        jets = ak.zip(dict.fromkeys(("pt", "eta", "phi", "mass"), empty))
        index = ak.unflatten(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        return ClusteredJets(ak.unflatten(jets, none), ak.unflatten(index, none))
    seq = fastjet.ClusterSequence(
        _momenta(cands), fastjet.JetDefinition(fastjet.antikt_algorithm, radius)
    )
    jets = _kinematics(seq.inclusive_jets(min_pt=pt_min))
    constituents = seq.constituents(min_pt=pt_min)
    order = ak.argsort(jets.pt, axis=1, ascending=False)
    jets, constituents = jets[order], constituents[order]
    keep = (jets.pt > pt_min) & (abs(jets.eta) < eta_max)
    index = ak.values_astype(constituents.idx[keep], np.int64)
    return ClusteredJets(jets[keep], index)


def _groomable(flat: ak.Array) -> ak.Array:
    return ak.zip(
        {"px": flat.px, "py": flat.py, "pz": flat.pz, "E": flat.E}, with_name="Momentum4D"
    )


def substructure(constituents: ak.Array) -> dict[str, np.ndarray]:
    """Soft-drop mass, τ1..τ4, N2, N3 for each jet of ``constituents`` (one list per jet).

    ``constituents``: jagged (jets x particles) records with pt, eta, phi, mass.
    """
    n = len(constituents)
    names = ("msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1")
    if n == 0:
        return {k: np.zeros(0, dtype=np.float32) for k in names}
    vec = ak.zip(
        {
            "pt": constituents.pt,
            "eta": constituents.eta,
            "phi": constituents.phi,
            "mass": constituents.mass,
        },
        with_name="Momentum4D",
    )
    parts = _groomable(ak.zip({"px": vec.px, "py": vec.py, "pz": vec.pz, "E": vec.E}))
    ca = fastjet.JetDefinition(fastjet.cambridge_algorithm, 0.8)
    seq = fastjet.ClusterSequence(parts, ca)
    sd = seq.exclusive_jets_softdrop_grooming(njets=1, beta=0.0, symmetry_cut=0.1, R0=0.8)
    tau = ak.to_numpy(seq.njettiness(njets=[1, 2, 3, 4], R0=0.8, beta=1.0)).reshape(n, 4)
    out = {"msoftdrop": ak.to_numpy(sd.msoftdrop)}
    for i in range(4):
        out[f"tau{i + 1}"] = tau[:, i]
    groomed = sd.constituents
    enough = ak.to_numpy(ak.num(groomed, axis=1)) >= 3
    n2 = np.zeros(n)
    n3 = np.zeros(n)
    if enough.any():
        kept = groomed[enough]
        gseq = fastjet.ClusterSequence(_groomable(kept), ca)
        n2[enough] = ak.to_numpy(
            gseq.exclusive_jets_energy_correlator(njets=1, func="nseries", npoint=2, beta=1.0)
        )
        # N3 needs 4-point correlators, O(n^4): use the hardest N3_MAX_CONSTITUENTS
        hardest = kept[ak.argsort(np.hypot(kept.px, kept.py), axis=1, ascending=False)]
        gseq3 = fastjet.ClusterSequence(_groomable(hardest[:, :N3_MAX_CONSTITUENTS]), ca)
        n3[enough] = ak.to_numpy(
            gseq3.exclusive_jets_energy_correlator(njets=1, func="nseries", npoint=3, beta=1.0)
        )
    out["n2b1"], out["n3b1"] = n2, n3
    return {
        k: np.nan_to_num(np.asarray(v, dtype=np.float64), nan=0.0).astype(np.float32)
        for k, v in out.items()
    }
