"""Synthetic NanoAOD / PFNano events, built in memory (for tests, checks and examples).

:func:`synthetic_collections` draws a small, seeded sample whose values look
like CMS events: AK8 ``FatJet`` with soft-drop mass, N-subjettiness, N2/N3
and a ``truthLabel`` (0 QCD, 1 top, 2 W, 3 Z, 4 H) whose distributions
differ by label, matched ``GenJetAK8`` (``FatJet.genJetAK8Idx``; the reco
response depends on pt and eta), the ``GenPart`` behind each FatJet, AK4 ``Jet``, ``genWeight`` and
``run``/``luminosityBlock``/``event``. The ``pfnano`` layout adds the PF
candidates of each FatJet in the tables named in :mod:`jetplug.plan`
(``FatJetPFCands`` with ``jetIdx``/``pFCandsIdx``, and ``PFCands``) and, as
CMS PFNano files, has no ``FatJet_nConstituents`` (the ``count_constituents``
derivation computes it); the ``nanoaod`` layout has ``FatJet_nConstituents``
and no PF candidates. Some events have no FatJet at all.

:func:`synthetic_events` turns them into coffea NanoEvents (with the schema's
behaviour: four-vectors, ``delta_r``, cross-references) without a file;
:func:`write_synthetic` writes the same events as a ROOT file.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

__all__ = ["LAYOUTS", "synthetic_collections", "synthetic_events", "write_synthetic"]

LAYOUTS = ("pfnano", "nanoaod")
_MSD = {1: (172.0, 12.0), 2: (81.0, 7.0), 3: (91.0, 7.0), 4: (125.0, 9.0)}
_TAU21 = {0: (0.65, 0.12), 1: (0.55, 0.10)}  # two-prong W/Z/H: (0.32, 0.08)
_PRONGS = {0: 1, 1: 3, 2: 2, 3: 2, 4: 2}
_PDG = np.array([211, -211, 22, 130, 11, -11, 13, -13, 321, -321], dtype=np.int32)
_PDG_P = np.array([0.3, 0.3, 0.25, 0.09, 0.01, 0.01, 0.005, 0.005, 0.015, 0.015])
_CHARGE = {211: 1, -211: -1, 11: -1, -11: 1, 13: -1, -13: 1, 321: 1, -321: -1}
_MASS = {211: 0.13957, 22: 0.0, 130: 0.49761, 11: 0.000511, 13: 0.10566, 321: 0.49368}


def _normal(
    rng: np.random.Generator,
    table: dict[int, tuple[float, float]],
    label: np.ndarray,
    default: tuple[float, float],
) -> np.ndarray:
    mean = np.array([table.get(int(t), default)[0] for t in label])
    std = np.array([table.get(int(t), default)[1] for t in label])
    return mean + std * rng.standard_normal(len(label))


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def _fatjets(rng: np.random.Generator, n_events: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-event FatJet counts and flat (unsorted) FatJet fields, gen values included."""
    counts = rng.choice(4, size=n_events, p=[0.1, 0.35, 0.4, 0.15])
    n = int(counts.sum())
    truth = rng.choice(5, size=n, p=[0.5, 0.25, 0.1, 0.075, 0.075]).astype(np.int32)
    gen_pt = 200.0 + rng.exponential(200.0, n)
    eta = rng.uniform(-2.4, 2.4, n)
    mean_response = 0.90 + 0.05 * np.abs(eta) / 2.4 + 10.0 / gen_pt
    response = mean_response * (1 + 0.08 * rng.standard_normal(n))
    pt = gen_pt * response
    qcd_msd = rng.gamma(1.5, 30.0, n) * (pt / 400.0) ** 0.5
    msd = np.where(truth == 0, qcd_msd, _normal(rng, _MSD, truth, (0.0, 1.0)))
    msd = np.clip(msd, 1.0, 0.6 * pt)
    tau21 = np.clip(_normal(rng, _TAU21, truth, (0.32, 0.08)), 0.05, 0.99)
    tau32 = np.clip(np.where(truth == 1, 0.55, 0.78) + 0.09 * rng.standard_normal(n), 0.05, 0.99)
    tau43 = np.clip(0.8 + 0.07 * rng.standard_normal(n), 0.05, 0.99)
    tau1 = rng.uniform(0.1, 0.4, n)
    two_prong = (truth >= 2).astype(float)
    n_cons = np.where(truth == 1, 60, np.where(truth > 1, 45, 40))
    fields = {
        "pt": pt,
        "eta": eta,
        "phi": rng.uniform(-np.pi, np.pi, n),
        "mass": msd + rng.gamma(2.0, 8.0, n),
        "msoftdrop": msd,
        "tau1": tau1,
        "tau2": tau1 * tau21,
        "tau3": tau1 * tau21 * tau32,
        "tau4": tau1 * tau21 * tau32 * tau43,
        "n2b1": np.clip(
            0.3 - 0.1 * two_prong - 0.05 * (truth == 1) + 0.05 * rng.standard_normal(n), 0.01, 0.6
        ),
        "n3b1": np.clip(np.where(truth == 1, 1.2, 2.0) + 0.35 * rng.standard_normal(n), 0.2, 4.0),
        "truthLabel": truth,
        "nConstituents": np.maximum(5, np.round(n_cons + 12 * rng.standard_normal(n))).astype(
            np.int32
        ),
        "gen_pt": gen_pt,
    }
    return counts, fields


def _sorted_by_pt(counts: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Flat indices that sort ``pt`` descending within each event."""
    event = np.repeat(np.arange(len(counts)), counts)
    return np.lexsort((-pt, event))


def _constituents(
    rng: np.random.Generator, fat: dict[str, np.ndarray], counts: np.ndarray
) -> tuple[ak.Array, ak.Array]:
    """PFCands of each FatJet (jet by jet, in prongs) and the FatJetPFCands table."""
    ncons = fat["nConstituents"]
    jet = np.repeat(np.arange(len(ncons)), ncons)
    prongs = np.array([_PRONGS[int(t)] for t in fat["truthLabel"]])
    prong = rng.integers(0, 1 << 30, len(jet)) % prongs[jet]
    # prongs ~2 m/pt apart and particles spread ~m/pt around them: the constituents'
    # mass follows the jet's soft-drop mass
    size = np.clip(fat["msoftdrop"] / fat["pt"], 0.02, 0.4)
    angle = rng.uniform(0.0, 2 * np.pi, (len(ncons), 3))
    offset_eta = size[:, None] * 2.0 * np.cos(angle)
    offset_phi = size[:, None] * 2.0 * np.sin(angle)
    offset_eta[:, 0] = offset_phi[:, 0] = 0.0
    share = rng.gamma(0.6, 1.0, len(jet)) * np.where(prong == 0, 1.5, 1.0)
    total = np.bincount(jet, weights=share, minlength=len(ncons))
    pdg = rng.choice(_PDG, size=len(jet), p=_PDG_P)
    spread = rng.normal(0.0, 1.0, (2, len(jet))) * (0.3 * size[jet] + 0.01)
    cands = {
        "pt": (fat["pt"][jet] * share / total[jet]).astype(np.float32),
        "eta": (fat["eta"][jet] + offset_eta[jet, prong] + spread[0]).astype(np.float32),
        "phi": _wrap(fat["phi"][jet] + offset_phi[jet, prong] + spread[1]).astype(np.float32),
        "mass": np.array([_MASS[abs(int(p))] for p in pdg], dtype=np.float32),
        "pdgId": pdg,
        "charge": np.array([_CHARGE.get(int(p), 0) for p in pdg], dtype=np.int32),
    }
    event_of_jet = np.repeat(np.arange(len(counts)), counts)
    n_cands = np.bincount(event_of_jet, weights=ncons, minlength=len(counts)).astype(np.int64)
    first_jet = np.r_[0, np.cumsum(counts)[:-1]]
    jet_local = (jet - np.repeat(first_jet, n_cands)).astype(np.int32)
    cand_local = ak.local_index(ak.unflatten(jet_local, n_cands))
    table = ak.zip(
        {
            "jetIdx": ak.unflatten(jet_local, n_cands),
            "pFCandsIdx": ak.values_astype(cand_local, np.int32),
        }
    )
    return ak.zip({k: ak.unflatten(v, n_cands) for k, v in cands.items()}), table


def _genjets(
    rng: np.random.Generator, fat: dict[str, np.ndarray], counts: np.ndarray
) -> tuple[ak.Array, np.ndarray]:
    """GenJetAK8 (one per FatJet plus unreconstructed ones) and each FatJet's gen index."""
    n_extra = rng.choice(3, size=len(counts), p=[0.5, 0.35, 0.15])
    n_gen = counts + n_extra
    event_of_fat = np.repeat(np.arange(len(counts)), counts)
    extra_pt = rng.uniform(150.0, 260.0, int(n_extra.sum()))
    truth = fat["truthLabel"]
    gen = {
        "pt": np.concatenate([fat["gen_pt"], extra_pt]),
        "eta": np.concatenate(
            [fat["eta"] + rng.normal(0, 0.02, len(truth)), rng.uniform(-2.5, 2.5, len(extra_pt))]
        ),
        "phi": _wrap(
            np.concatenate(
                [
                    fat["phi"] + rng.normal(0, 0.02, len(truth)),
                    rng.uniform(-3.14, 3.14, len(extra_pt)),
                ]
            )
        ),
        "mass": np.concatenate([fat["mass"] * 0.97, rng.gamma(1.5, 20.0, len(extra_pt))]),
        "partonFlavour": np.concatenate(
            [np.where(truth == 0, 21, np.where(truth == 1, 6, 1)), np.full(len(extra_pt), 21)]
        ).astype(np.int32),
        "hadronFlavour": np.concatenate(
            [np.where((truth == 1) | (truth == 4), 5, 0), np.zeros(len(extra_pt))]
        ).astype(np.int32),
    }
    event = np.concatenate([event_of_fat, np.repeat(np.arange(len(counts)), n_extra)])
    order = np.lexsort((-gen["pt"], event))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    first = np.r_[0, np.cumsum(n_gen)[:-1]]
    gen_idx = (rank[: len(truth)] - first[event_of_fat]).astype(np.int32)
    jets = ak.zip({k: ak.unflatten(_typed(v[order]), n_gen) for k, v in gen.items()})
    return jets, gen_idx


def _partons(fat: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
    """GenPart: the parton or resonance behind each FatJet (t, W, Z, H or a gluon)."""
    pdg = np.array([21, 6, 24, 23, 25], dtype=np.int32)[fat["truthLabel"]]
    mass = np.array([0.0, 172.5, 80.4, 91.2, 125.0], dtype=np.float32)[fat["truthLabel"]]
    parts = {
        "pt": _typed(fat["gen_pt"]),
        "eta": _typed(fat["eta"]),
        "phi": _typed(fat["phi"]),
        "mass": mass,
        "pdgId": pdg,
        "status": np.where(pdg == 21, 23, 62).astype(np.int32),
        "statusFlags": np.full(len(pdg), 8193, dtype=np.int32),  # isPrompt | isLastCopy
        "genPartIdxMother": np.full(len(pdg), -1, dtype=np.int32),
    }
    return ak.zip({k: ak.unflatten(v, counts) for k, v in parts.items()})


@functools.lru_cache(maxsize=16)
def synthetic_collections(
    n_events: int = 64, *, seed: int = 1, layout: str = "pfnano"
) -> dict[str, Any]:
    """Collections of ``n_events`` synthetic events (cached), as ``NanoWriter`` takes them.

    ``genWeight`` (numpy), ``FatJet``, ``GenJetAK8``, ``GenPart``, ``Jet`` and,
    for the ``pfnano`` layout, ``PFCands`` and ``FatJetPFCands`` (jagged records).
    """
    if layout not in LAYOUTS:
        msg = f"layout {layout!r} unknown; use one of {list(LAYOUTS)}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    counts, fat = _fatjets(rng, n_events)
    genjets, gen_idx = _genjets(rng, fat, counts)
    fat["genJetAK8Idx"] = gen_idx
    n_ak4 = rng.integers(1, 7, n_events)
    m = int(n_ak4.sum())
    ak4_pt = 20.0 + rng.exponential(60.0, m)
    ak4: dict[str, np.ndarray] = {
        "pt": ak4_pt,
        "eta": rng.uniform(-4.7, 4.7, m),
        "phi": rng.uniform(-np.pi, np.pi, m),
        "mass": ak4_pt * rng.uniform(0.05, 0.2, m),
        "nConstituents": rng.integers(5, 40, m).astype(np.int32),
    }
    ak4_order = _sorted_by_pt(n_ak4, ak4["pt"])
    gen_weight = (1.0 + 0.1 * rng.standard_normal(n_events)).astype(np.float32)
    order = _sorted_by_pt(counts, fat["pt"])
    fat = {k: v[order] for k, v in fat.items()}
    out: dict[str, Any] = {"genWeight": gen_weight}
    fields = [k for k in fat if k != "gen_pt" and (layout == "nanoaod" or k != "nConstituents")]
    out["FatJet"] = ak.zip({k: ak.unflatten(_typed(fat[k]), counts) for k in fields})
    out["GenJetAK8"] = genjets
    out["GenPart"] = _partons(fat, counts)
    out["Jet"] = ak.zip({k: ak.unflatten(_typed(v[ak4_order]), n_ak4) for k, v in ak4.items()})
    if layout == "pfnano":
        out["PFCands"], out["FatJetPFCands"] = _constituents(rng, fat, counts)
    return out


def _typed(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32) if values.dtype.kind == "f" else values.astype(np.int32)


def _uuid(n_events: int, seed: int, layout: str) -> str:
    return hashlib.blake2b(f"{layout}/{seed}/{n_events}".encode(), digest_size=16).hexdigest()


def _branches(collections: dict[str, Any], n_events: int) -> dict[str, Any]:
    """NanoAOD branches: ``nX`` counters and ``X_field`` jagged arrays, plus event ids."""
    out: dict[str, Any] = {
        "run": ak.Array(np.ones(n_events, dtype=np.uint32)),
        "luminosityBlock": ak.Array(np.ones(n_events, dtype=np.uint32)),
        "event": ak.Array(np.arange(1, n_events + 1, dtype=np.uint64)),
    }
    for name, value in collections.items():
        if isinstance(value, np.ndarray):
            out[name] = ak.Array(value)
            continue
        out[f"n{name}"] = ak.Array(ak.to_numpy(ak.num(value, axis=1)).astype(np.uint32))
        for field in ak.fields(value):
            out[f"{name}_{field}"] = value[field]
    return out


class _Source(dict[str, Any]):
    """A preloaded array source: branches plus the metadata coffea asks for."""

    metadata: dict[str, Any]


def synthetic_events(
    n_events: int = 64,
    *,
    seed: int = 1,
    layout: str = "pfnano",
    dataset: str = "synthetic",
) -> ak.Array:
    """Coffea NanoEvents of :func:`synthetic_collections`, built in memory.

    ``events.metadata`` names the dataset, a file name that identifies the
    sample (``synthetic-<layout>-s<seed>-n<n_events>.root``), the entry range
    and a UUID, as coffea's processor does, so
    :meth:`jetplug.ChunkContext.from_metadata` reads it.
    """
    import warnings

    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory, PFNanoAODSchema

    collections = synthetic_collections(n_events, seed=seed, layout=layout)
    source = _Source(_branches(collections, n_events))
    uuid = _uuid(n_events, seed, layout)
    filename = f"synthetic-{layout}-s{seed}-n{n_events}.root"
    source.metadata = {
        "uuid": uuid,
        "num_rows": n_events,
        "path": filename,
        "object_path": "Events",
    }
    metadata = {
        "dataset": dataset,
        "filename": filename,
        "entrystart": 0,
        "entrystop": n_events,
        "fileuuid": uuid,
    }
    schema = PFNanoAODSchema if layout == "pfnano" else NanoAODSchema
    with warnings.catch_warnings():  # coffea warns about cross-references the sample lacks
        warnings.filterwarnings("ignore", message=".*Missing cross-reference.*")
        factory = NanoEventsFactory.from_preloaded(source, schemaclass=schema, metadata=metadata)
        return factory.events()


def write_synthetic(
    path: Path, n_events: int = 64, *, seed: int = 1, layout: str = "pfnano"
) -> Path:
    """Write :func:`synthetic_collections` as a NanoAOD-layout ROOT file.

    An ``Events`` TTree (``nX`` counters and ``X_field`` branches, written
    with ``mktree`` + ``extend`` as coffea's schemas read them) and a ``Runs``
    tree with ``genEventCount`` and ``genEventSumw``, as CMS files have. The
    file's UUID follows from ``n_events``, ``seed`` and ``layout``: the same
    events are the same file wherever they are written, so a plugin's
    per-object random numbers (keyed by the file) repeat with them.
    """
    import uuid

    import uproot

    identity = uuid.uuid5(uuid.NAMESPACE_URL, f"jetplug:synthetic/{layout}/{n_events}/{seed}")

    collections = synthetic_collections(n_events, seed=seed, layout=layout)
    data: dict[str, Any] = {
        "run": np.ones(n_events, dtype=np.uint32),
        "luminosityBlock": np.ones(n_events, dtype=np.uint32),
        "event": np.arange(1, n_events + 1, dtype=np.uint64),
        **collections,
    }
    types = {
        k: v.dtype if isinstance(v, np.ndarray) else ak.type(v).content for k, v in data.items()
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with uproot.recreate(path, uuid_function=lambda: identity) as f:
        f.mktree("Events", types).extend(data)
        runs = {"run": np.uint32, "genEventCount": np.int64, "genEventSumw": np.float64}
        f.mktree("Runs", runs).extend(
            {
                "run": np.array([1], dtype=np.uint32),
                "genEventCount": np.array([n_events], dtype=np.int64),
                "genEventSumw": np.array([float(collections["genWeight"].sum())]),
            }
        )
    return path
