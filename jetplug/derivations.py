"""Core field derivations (a default plugin of every host)."""

from __future__ import annotations

import awkward as ak
import numpy as np

from .hookspecs import hookimpl
from .plan import index_table
from .registry import Derivation, DerivationRegistry

TABLE = index_table("{collection}")

__all__ = ["count_constituents"]


def count_constituents(events: ak.Array, collection: str) -> ak.Array:
    """Number of PF candidates per object, from the ``<collection>PFCands`` index table.

    Works on the PFNano layout (``FatJetPFCands_jetIdx`` holds event-local
    object indices), whatever the schema, with one vectorised bincount.
    """
    objects = events[collection]
    table = events[index_table(collection)]
    n_obj = ak.to_numpy(ak.num(objects, axis=1))
    offsets = np.concatenate([[0], np.cumsum(n_obj)[:-1]]).astype(np.int64)
    local = table.jetIdx
    global_idx = ak.flatten(local + offsets).to_numpy().astype(np.int64)
    counts = np.bincount(global_idx, minlength=int(n_obj.sum()))[: int(n_obj.sum())]
    return ak.unflatten(counts.astype(np.int32), n_obj)


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
