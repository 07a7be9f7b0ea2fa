"""The coffea side of the BDT benchmarks: ``top_bdt``'s features and ``xgboost_wrapper``.

What a coffea user writes to run the shipped BDT in a processor, shared by
``bench_inference.py`` and ``bench_end_to_end.py`` so both time the same code.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
from coffea.ml_tools.xgboost_wrapper import xgboost_wrapper

__all__ = ["CoffeaXGB", "bdt_features"]


def _ratio(a: ak.Array, b: ak.Array) -> ak.Array:
    return ak.where(b > 0, a / ak.where(b > 0, b, 1), 0)


def bdt_features(fj: ak.Array) -> ak.Array:
    """The top BDT's features with awkward operations, as a coffea user would write them."""
    cols = [
        fj["msoftdrop"],
        _ratio(fj["tau2"], fj["tau1"]),
        _ratio(fj["tau3"], fj["tau2"]),
        _ratio(fj["tau4"], fj["tau3"]),
        fj["n2b1"],
        fj["n3b1"],
    ]
    stacked = ak.concatenate([ak.flatten(c)[:, np.newaxis] for c in cols], axis=1)
    return ak.values_astype(stacked, np.float32)


class CoffeaXGB(xgboost_wrapper):  # type: ignore[misc]
    """coffea.ml_tools.xgboost_wrapper used as documented."""

    def prepare_awkward(self, events: ak.Array) -> tuple[list[Any], dict[str, Any]]:
        return [bdt_features(events.FatJet)], {}

    def postprocess_awkward(self, ret: Any, events: ak.Array) -> ak.Array:
        return ak.unflatten(ret, ak.num(events.FatJet))
