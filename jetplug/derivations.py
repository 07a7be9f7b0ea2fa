"""Core field derivations (a default plugin of every host)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

import awkward as ak
import numpy as np

from .hookspecs import hookimpl
from .plan import index_table
from .registry import Derivation, DerivationRegistry

TABLE = index_table("{collection}")

ENERGY_FRACTIONS: dict[str, int] = {
    "chHEF": 211,
    "neHEF": 130,
    "chEmEF": 11,
    "neEmEF": 22,
    "muEF": 13,
}
"""NanoAOD's jet energy fractions and the PF candidate ``|pdgId|`` each one sums:
charged and neutral hadrons, electrons, photons, muons (CMS's HF candidates,
``pdgId`` 1 and 2, are in none of them, as in NanoAOD's ``hfHEF``/``hfEmEF``)."""

__all__ = ["ENERGY_FRACTIONS", "count_constituents", "energy_fractions"]


def count_constituents(events: ak.Array, collection: str, table: str | None = None) -> ak.Array:
    """Number of PF candidates per object, from the ``<collection>PFCands`` index table.

    Works on the PFNano layout (``FatJetPFCands_jetIdx`` holds event-local
    object indices), whatever the schema, with one vectorised bincount;
    ``table``: another index table of that form (official NanoAOD's
    ``FatJetPFCand``).
    """
    objects = events[collection]
    rows = events[table or index_table(collection)]
    n_obj = ak.to_numpy(ak.num(objects, axis=1))
    offsets = np.concatenate([[0], np.cumsum(n_obj)[:-1]]).astype(np.int64)
    local = rows.jetIdx
    global_idx = ak.flatten(local + offsets).to_numpy().astype(np.int64)
    counts = np.bincount(global_idx, minlength=int(n_obj.sum()))[: int(n_obj.sum())]
    return ak.unflatten(counts.astype(np.int32), n_obj)


def energy_fractions(
    constituents: ak.Array, names: Iterable[str] = tuple(ENERGY_FRACTIONS)
) -> dict[str, ak.Array]:
    """NanoAOD's energy fractions ``names`` (of :data:`ENERGY_FRACTIONS`) of each object.

    ``constituents`` holds, per object (innermost list), records with ``pt``,
    ``eta``, ``mass`` and ``pdgId``; the fractions are of the sum of the
    constituents' energies (the raw jet energy), 0 for an object without any.
    """
    energy = np.sqrt((constituents.pt * np.cosh(constituents.eta)) ** 2 + constituents.mass**2)
    total = ak.sum(energy, axis=-1)
    safe = ak.where(total > 0, total, 1.0)
    pid = abs(constituents.pdgId)
    out = {}
    for name in names:
        selected = ak.sum(ak.where(pid == ENERGY_FRACTIONS[name], energy, 0.0), axis=-1)
        out[name] = ak.values_astype(ak.where(total > 0, selected / safe, 0.0), np.float32)
    return out


def _energy_fraction(name: str, events: ak.Array, collection: str) -> ak.Array:
    """One of :func:`energy_fractions` of ``events[collection]``, from its PF candidates."""
    from .columns import constituents_of  # columns imports this module
    from .plan import ConstituentTables
    from .spec import ConstituentSpec

    tables = ConstituentTables(collection, ConstituentSpec(fields=("pt", "eta", "mass", "pdgId")))
    return energy_fractions(constituents_of(events, tables), (name,))[name]


@hookimpl
def jetplug_register_derivations(registry: DerivationRegistry) -> None:
    """Register the core derivations."""
    registry.add(
        Derivation(
            name="count_constituents",
            requires=(f"n{TABLE}", f"{TABLE}_jetIdx"),
            func=count_constituents,
            description="number of PF candidates per object from the PFNano index table",
        )
    )
    for name in ENERGY_FRACTIONS:
        registry.add(
            Derivation(
                name=name,
                requires=(
                    f"n{TABLE}",
                    f"{TABLE}_jetIdx",
                    f"{TABLE}_pFCandsIdx",
                    *(f"PFCands_{f}" for f in ("pt", "eta", "mass", "pdgId")),
                ),
                func=partial(_energy_fraction, name),
                description=f"NanoAOD's {name} from the object's PF candidates",
            )
        )
