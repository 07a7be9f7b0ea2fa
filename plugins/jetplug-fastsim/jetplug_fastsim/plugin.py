"""Entry point of the ``jetplug-fastsim`` package (group ``jetplug``)."""

from __future__ import annotations

import awkward as ak
import numpy as np

from jetplug import Derivation, DerivationRegistry, ModelRegistry, hookimpl

from .gan import GanFastSim


@hookimpl
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Register the GAN fast simulation."""
    registry.add(GanFastSim)


def _unknown_truth(events: ak.Array, collection: str) -> ak.Array:
    return ak.values_astype(ak.zeros_like(events[collection].pt) - 1, np.int32)


@hookimpl
def jetplug_register_derivations(registry: DerivationRegistry) -> None:
    """``truthLabel`` of gen jets in files without it (CMS NanoAOD): -1, unknown."""
    registry.add(
        Derivation(
            "unknown_truth",
            (),
            _unknown_truth,
            "truth label -1 (unknown) for files without one, e.g. CMS NanoAOD GenJetAK8",
        )
    )
