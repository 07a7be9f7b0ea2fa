"""From a batch of Pythia events to NanoAOD/PFNano-layout collections."""

from __future__ import annotations

import awkward as ak
import numpy as np

from ..derivations import energy_fractions
from .detector import DetectorResponse
from .jets import cluster, substructure
from .processes import Process
from .truth import delta_r, label_jets, resonance_partons

__all__ = ["FATJET_PT_MIN", "GENJET_PT_MIN", "JET_PT_MIN", "reconstruct"]

FATJET_PT_MIN = 170.0
GENJET_PT_MIN = 100.0
JET_PT_MIN = 15.0
FATJET_ETA_MAX = 2.5
_NEUTRINOS = (12, 14, 16)
_GEN_MATCH_R = 0.4


def _charge(pid: ak.Array) -> ak.Array:
    """Electric charge of stable visible particles from their pdgId (sign convention of PDG)."""
    apid = abs(pid)
    sign = np.sign(pid)
    lepton = (apid == 11) | (apid == 13)
    hadron = (
        (apid == 211)
        | (apid == 321)
        | (apid == 2212)
        | (apid == 3222)
        | (apid == 3112)
        | (apid == 3312)
        | (apid == 3334)
    )
    neg_baryon = (apid == 3112) | (apid == 3312) | (apid == 3334)
    charge = ak.where(lepton, -sign, ak.where(hadron, ak.where(neg_baryon, -sign, sign), 0))
    return ak.values_astype(charge, np.int32)


def _gen_visible(prt: ak.Array) -> ak.Array:
    final = prt[
        (prt.status > 0) & ~((abs(prt.id) == 12) | (abs(prt.id) == 14) | (abs(prt.id) == 16))
    ]
    pt = np.hypot(final.p.px, final.p.py)
    safe = ak.where(pt > 0, pt, 1e-9)
    return ak.zip(
        {
            "pt": pt,
            "eta": np.arcsinh(final.p.pz / safe),
            "phi": np.arctan2(final.p.py, final.p.px),
            "mass": ak.where(final.m > 0, final.m, 0.0),
            "pdgId": ak.values_astype(final.id, np.int32),
            "charge": _charge(final.id),
        }
    )


def _flavours(gen_jets: ak.Array, prt: ak.Array) -> tuple[ak.Array, ak.Array]:
    """(partonFlavour, hadronFlavour) of gen jets.

    hadronFlavour: 5 if a b hadron with pT > 5 GeV lies within ΔR < 0.8, else
    4 for a c hadron, else 0. partonFlavour: pdgId of the hardest quark or
    gluon of the hard process or of resonance decays (|status| 23) within
    ΔR < 0.8, else 0.
    """
    apid = abs(prt.id)
    heavy = (apid // 100) % 10
    heavy_b = ((apid // 1000) % 10 == 5) | (heavy == 5)
    heavy_c = (((apid // 1000) % 10 == 4) | (heavy == 4)) & ~heavy_b
    pt = np.hypot(prt.p.px, prt.p.py)
    eta = np.arcsinh(prt.p.pz / ak.where(pt > 0, pt, 1e-9))
    phi = np.arctan2(prt.p.py, prt.p.px)
    hadron = (apid > 100) & (pt > 5)

    def near(mask: ak.Array) -> ak.Array:
        pairs = ak.cartesian(
            {
                "j": gen_jets[["eta", "phi"]],
                "p": ak.zip(
                    {"eta": eta[mask], "phi": phi[mask], "pt": pt[mask], "id": prt.id[mask]}
                ),
            },
            nested=True,
        )
        return pairs.p[delta_r(pairs.j.eta, pairs.j.phi, pairs.p.eta, pairs.p.phi) < 0.8]

    hadron_flavour = ak.where(
        ak.any(near(hadron & heavy_b).pt > 0, axis=2),
        5,
        ak.where(ak.any(near(hadron & heavy_c).pt > 0, axis=2), 4, 0),
    )
    partons = near((abs(prt.status) == 23) & ((apid <= 5) | (apid == 21)))
    hardest = ak.firsts(partons[ak.argmax(partons.pt, axis=2, keepdims=True)].id, axis=2)
    parton_flavour = ak.fill_none(hardest, 0)
    return ak.values_astype(parton_flavour, np.int32), ak.values_astype(hadron_flavour, np.int32)


def _match_gen(jets: ak.Array, gen: ak.Array) -> ak.Array:
    """Index of the nearest gen jet within ΔR < 0.4, else -1."""
    pairs = ak.cartesian({"j": jets[["eta", "phi"]], "g": gen[["eta", "phi"]]}, nested=True)
    dr = delta_r(pairs.j.eta, pairs.j.phi, pairs.g.eta, pairs.g.phi)
    best = ak.argmin(dr, axis=2, keepdims=True)
    best_dr = ak.fill_none(ak.firsts(dr[best], axis=2), 99.0)
    idx = ak.fill_none(ak.firsts(best, axis=2), -1)
    return ak.values_astype(ak.where(best_dr < _GEN_MATCH_R, idx, -1), np.int32)


def reconstruct(
    batch: ak.Array,
    process: Process,
    detector: DetectorResponse,
    rng: np.random.Generator,
) -> dict[str, ak.Array]:
    """Collections of one batch: FatJet, PFCands, FatJetPFCands, GenJetAK8, Jet, genWeight."""
    prt = batch.prt
    gen = _gen_visible(prt)
    reco = detector.apply(gen, rng)

    fat = cluster(reco, 0.8, FATJET_PT_MIN, FATJET_ETA_MAX)
    ak4 = cluster(reco, 0.4, JET_PT_MIN, 4.7)
    genfat = cluster(gen, 0.8, GENJET_PT_MIN, 5.0)

    n_fat = ak.to_numpy(ak.num(fat.jets, axis=1))
    # constituents of each FatJet, ordered jet by jet
    cands = reco[ak.flatten(fat.constituent_index, axis=2)]
    n_cons = ak.num(fat.constituent_index, axis=2)
    per_jet = ak.unflatten(ak.flatten(cands, axis=1), ak.flatten(n_cons, axis=1))
    sub = substructure(per_jet)

    partons = resonance_partons(prt)
    jets = fat.jets
    fields = {
        "pt": jets.pt,
        "eta": jets.eta,
        "phi": jets.phi,
        "mass": jets.mass,
        **{k: ak.unflatten(v, n_fat) for k, v in sub.items()},
        "nConstituents": ak.values_astype(n_cons, np.int32),
        **{k: ak.unflatten(v, n_fat) for k, v in energy_fractions(per_jet).items()},
        "truthLabel": label_jets(jets, partons, qcd=process.qcd),
        "genJetAK8Idx": _match_gen(jets, genfat.jets),
    }
    parton_flavour, hadron_flavour = _flavours(genfat.jets, prt)
    jet_of_cand = ak.broadcast_arrays(ak.local_index(n_cons, axis=1), fat.constituent_index)[0]
    jet_idx = ak.values_astype(ak.flatten(jet_of_cand, axis=2), np.int32)
    weights = batch.info.weights
    gen_weight = ak.to_numpy(ak.fill_none(ak.firsts(weights), 1.0)).astype(np.float32)
    return {
        "genWeight": gen_weight,
        "FatJet": ak.zip(fields),
        "PFCands": cands,
        "FatJetPFCands": ak.zip(
            {"jetIdx": jet_idx, "pFCandsIdx": ak.values_astype(ak.local_index(cands.pt), np.int32)}
        ),
        "GenJetAK8": ak.zip(
            {
                **{k: genfat.jets[k] for k in ("pt", "eta", "phi", "mass")},
                "partonFlavour": parton_flavour,
                "hadronFlavour": hadron_flavour,
                "truthLabel": label_jets(genfat.jets, partons, qcd=process.qcd),
            }
        ),
        "Jet": ak.zip(
            {
                **{k: ak4.jets[k] for k in ("pt", "eta", "phi", "mass")},
                "nConstituents": ak.values_astype(ak.num(ak4.constituent_index, axis=2), np.int32),
            }
        ),
    }
