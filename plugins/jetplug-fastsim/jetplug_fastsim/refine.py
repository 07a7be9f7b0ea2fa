"""Quantile refinement of the generated features (torch; part of the served module).

The GAN gets each feature's distribution nearly right given the gen jet,
but not its tails: a top-tagger cut passes 1 QCD jet in a few hundred, and
there fast-sim QCD jets of top-like mass were too three-prong
(docs/fastsim.md). The refinement maps every generated feature, in the
encoded space of :func:`jetplug_fastsim.gan.encode`, through a monotone
piecewise-linear function that sends the generator's quantiles onto the
full simulation's, **per bin** of the gen jet's truth class, mass and pT
(all read from the conditions), fitted on training pairs
(:func:`fit_refinement`). Within a bin it fixes each feature's 1-D
distribution and keeps the generator's ranks, so the correlations the GAN
learned between features stay; across bins it corrects how the response
depends on the gen jet. Bins with fewer than ``min_jets`` training jets are
left as generated, and so are the features not in ``RefineSettings.features``:
the τ3/τ2 map is left out, because matching τ3/τ2 bin by bin moved QCD jets
of top-like soft-drop mass further towards three prongs (chosen on the
training files' test split, docs/fastsim.md). The tables are buffers of the
state dict: one artifact, served by Triton as is, loaded without pickle.

In the bins of the resonance classes (``RefineSettings.msd_classes``: top, W,
Z, H) the soft-drop mass itself is mapped too, after the features' maps:
its value log(1 + m_SD), not its response to the gen jet's (ungroomed) mass,
since grooming brings m_SD to the resonance's mass whatever that was; then
``msd_over_m`` is set to give it. With m and m_SD/m each right on their own,
the top jets' m_SD peak was still broader than full simulation's (0.37 of
them in 160–175 GeV instead of 0.42, docs/fastsim.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from .gan import CONDITIONS

__all__ = ["QuantileRefinement", "RefineSettings", "fit_refinement"]

_LOG_PT, _LOG_MASS = CONDITIONS.index("log_pt"), CONDITIONS.index("log_mass")
_TRUTH = slice(CONDITIONS.index("truth_qcd"), CONDITIONS.index("truth_H") + 1)
"""The condition columns the bins read: log pT, log(1 + m) and the truth one-hot."""
TRUTH_CLASSES = tuple(c.removeprefix("truth_") for c in CONDITIONS[_TRUTH])
"""The gen jet's truth classes, in the order of the conditions' one-hot (and of the bins)."""
_MSD_FEATURES = ("log_mass_response", "msd_over_m")
"""The features the soft-drop mass is decoded from (:func:`~.gan.decode`)."""


def _levels() -> list[float]:
    """Every percentile, and finer steps in both tails (where a tagger cut sits)."""
    tails = [0.0005, 0.001, 0.002, 0.005]
    return sorted({*(i / 100 for i in range(101)), *tails, *(1 - t for t in tails)})


@dataclass(frozen=True)
class RefineSettings:
    """Binning and quantile levels (recorded in the model metadata as ``refinement``)."""

    mass_edges: Sequence[float] = (30.0, 60.0, 90.0, 120.0, 150.0, 200.0, 260.0)
    """Gen-jet mass bin edges [GeV] (8 bins with under- and overflow)."""
    pt_edges: Sequence[float] = (400.0, 600.0, 900.0)
    """Gen-jet pT bin edges [GeV] (4 bins)."""
    levels: Sequence[float] = field(default_factory=_levels)
    features: Sequence[str] = (
        "log_response", "d_eta", "d_phi", "log_mass_response", "msd_over_m", "log_tau1",
        "logit_tau21", "logit_tau43", "n2b1", "n3b1", "log_n_constituents",
    )  # fmt: skip
    """The features mapped (:data:`jetplug_fastsim.gan.FEATURES` less ``logit_tau32``)."""
    msd_classes: Sequence[str] = ("top", "W", "Z", "H")
    """Truth classes (:data:`TRUTH_CLASSES`) whose fitted bins also get the soft-drop mass
    itself mapped, log(1 + m_SD), after the features' maps, with ``msd_over_m`` set to
    match (see :class:`QuantileRefinement`)."""
    min_jets: int = 500
    seed: int = 11
    """Seed of the generator noise the fit draws."""

    def record(self) -> dict[str, Any]:
        """JSON-able, for the metadata."""
        return {k: list(v) if isinstance(v, Sequence) else v for k, v in asdict(self).items()}


class QuantileRefinement(nn.Module):
    """``forward(cond, features)`` -> features mapped bin by bin (see the module doc)."""

    log_mass_edges: torch.Tensor
    log_pt_edges: torch.Tensor
    levels: torch.Tensor
    mapped: torch.Tensor
    fast: torch.Tensor
    full: torch.Tensor
    fitted: torch.Tensor
    fast_msd: torch.Tensor
    full_msd: torch.Tensor
    msd_fitted: torch.Tensor

    def __init__(self, settings: Mapping[str, Any], names: Sequence[str]) -> None:
        super().__init__()
        unknown = sorted(set(settings["features"]) - set(names))
        if unknown:
            msg = f"refinement features {unknown} are not generated features {list(names)}"
            raise ValueError(msg)
        n_features = len(names)
        mapped = [name in settings["features"] for name in names]
        self.register_buffer("mapped", torch.tensor(mapped))
        mass = [math.log1p(m) for m in settings["mass_edges"]]
        pt = [math.log(p) for p in settings["pt_edges"]]
        self.register_buffer("log_mass_edges", torch.tensor(mass))
        self.register_buffer("log_pt_edges", torch.tensor(pt))
        self.register_buffer("levels", torch.tensor(list(settings["levels"])))
        # python ints, so that a traced module (the Triton export) keeps them constant
        self.n_mass, self.n_pt, self.n_levels = len(mass) + 1, len(pt) + 1, len(settings["levels"])
        self.steps = math.ceil(math.log2(self.n_levels - 1))
        n_bins = 5 * self.n_mass * self.n_pt
        shape = (n_bins, n_features, self.n_levels)
        self.register_buffer("fast", torch.zeros(shape))
        self.register_buffer("full", torch.zeros(shape))
        self.register_buffer("fitted", torch.zeros(n_bins, dtype=torch.bool))
        self.msd_classes = [TRUTH_CLASSES.index(c) for c in settings.get("msd_classes") or ()]
        if self.msd_classes:
            if not set(_MSD_FEATURES) <= set(names):
                msg = f"mapping m_SD (msd_classes) needs the features {list(_MSD_FEATURES)}"
                raise ValueError(msg)
            self.i_mass, self.i_msd = (list(names).index(n) for n in _MSD_FEATURES)
            self.register_buffer("fast_msd", torch.zeros(n_bins, self.n_levels))
            self.register_buffer("full_msd", torch.zeros(n_bins, self.n_levels))
            self.register_buffer("msd_fitted", torch.zeros(n_bins, dtype=torch.bool))

    def bin_index(self, cond: torch.Tensor) -> torch.Tensor:
        """``(n,)`` bin of each gen jet: truth class × mass bin × pT bin."""
        truth = cond[:, _TRUTH].argmax(dim=1)
        mass = torch.bucketize(cond[:, _LOG_MASS].contiguous(), self.log_mass_edges)
        pt = torch.bucketize(cond[:, _LOG_PT].contiguous(), self.log_pt_edges)
        return (truth * self.n_mass + mass) * self.n_pt + pt

    def forward(self, cond: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Each mapped feature through its bin's map; rows of unfitted bins unchanged.

        A binary search over the bin's quantiles with flat gathers (a few per
        value, rather than copying every row's whole table), then linear
        interpolation onto the full simulation's; values beyond the fitted
        range go to its end points, a value equal to several tied quantiles
        of the generator (a point mass; the shipped tables have none) to the
        highest of them, NaN stays NaN. Same dtype out as in.
        """
        index = self.bin_index(cond)
        n_features, n_levels = features.shape[1], self.n_levels
        columns = torch.arange(n_features, device=features.device)
        base = (index.unsqueeze(1) * n_features + columns) * n_levels  # (n, F)
        mapped = self._map(self.fast, self.full, base, features)
        keep = self.fitted[index].unsqueeze(-1) & self.mapped
        out = torch.where(keep, mapped.to(features.dtype), features)
        if not self.msd_classes:
            return out
        i_msd = self.i_msd
        mass = _mass(cond, out, self.i_mass)
        y = self._map(self.fast_msd, self.full_msd, index * n_levels, _log_msd(mass, out[:, i_msd]))
        msd = torch.expm1(y).clamp_min(0.0)
        ratio = torch.where(mass > 0, msd / mass.clamp_min(1e-12), out[:, i_msd]).clamp(0.0, 1.0)
        ratio = torch.where(self.msd_fitted[index], ratio.to(out.dtype), out[:, i_msd])
        return torch.cat([out[:, :i_msd], ratio.unsqueeze(1), out[:, i_msd + 1 :]], dim=1)

    def _map(
        self, fast: torch.Tensor, full: torch.Tensor, base: torch.Tensor, x: torch.Tensor
    ) -> torch.Tensor:
        """``x`` through the tables' monotone maps; ``base``: each value's table offset."""
        fast, full = fast.reshape(-1), full.reshape(-1)
        lo = torch.zeros_like(base)
        hi = torch.full_like(base, self.n_levels - 1)
        for _ in range(self.steps):  # fast[lo] <= x < fast[hi]
            mid = (lo + hi) // 2
            right = fast[base + mid] <= x
            lo = torch.where(right, mid, lo)
            hi = torch.where(right, hi, mid)
        f0, f1 = fast[base + lo], fast[base + hi]
        w = ((x - f0) / (f1 - f0).clamp_min(1e-12)).clamp(0.0, 1.0)
        return full[base + lo] + w * (full[base + hi] - full[base + lo])

    @torch.no_grad()
    def fit(
        self, cond: torch.Tensor, generated: torch.Tensor, full: torch.Tensor, min_jets: int
    ) -> dict[str, int]:
        """Fill the tables from generated and full-simulation features of the same gen jets."""
        levels = self.levels.double()
        index = self.bin_index(cond)
        self.fitted.zero_()
        for b in torch.unique(index).tolist():
            rows = index == b
            if int(rows.sum()) < min_jets:
                continue
            for table, values in ((self.fast, generated), (self.full, full)):
                table[b] = _quantiles(values[rows], levels)  # (F, Q)
            self.fitted[b] = True
        counts = {"bins": len(self.fitted), "fitted": int(self.fitted.sum())}
        if self.msd_classes:  # after the features' maps: their m_SD onto full simulation's
            self.msd_fitted.zero_()
            mapped = self(cond, generated)
            mapped_msd = _log_msd(_mass(cond, mapped, self.i_mass), mapped[:, self.i_msd])
            full_msd = _log_msd(_mass(cond, full, self.i_mass), full[:, self.i_msd])
            for b in torch.unique(index[self.fitted[index]]).tolist():
                if b // (self.n_mass * self.n_pt) not in self.msd_classes:  # the bin's class
                    continue
                rows = index == b
                for table, values in ((self.fast_msd, mapped_msd), (self.full_msd, full_msd)):
                    table[b] = _quantiles(values[rows], levels)  # (Q,)
                self.msd_fitted[b] = True
            counts["msd_fitted"] = int(self.msd_fitted.sum())
        return counts


def _quantiles(values: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """``values``' quantiles at ``levels`` along the rows, last axis levels, non-decreasing."""
    q = torch.quantile(values.double(), levels, dim=0).movedim(0, -1)
    return torch.cummax(q, dim=-1).values.float()


def _mass(cond: torch.Tensor, features: torch.Tensor, i_mass: int) -> torch.Tensor:
    """The jet mass of encoded features, from its response (column ``i_mass``) to the gen
    jet's, as :func:`~.gan.decode` gives it."""
    return torch.expm1(cond[:, _LOG_MASS] + features[:, i_mass]).clamp_min(0.0)


def _log_msd(mass: torch.Tensor, msd_over_m: torch.Tensor) -> torch.Tensor:
    """log(1 + m_SD), m_SD as :func:`~.gan.decode` gives it (``msd_over_m`` clipped to [0, 1])."""
    return torch.log1p(mass * msd_over_m.clamp(0.0, 1.0))


def fit_refinement(
    module: QuantileRefinement,
    cond: torch.Tensor,
    generated: torch.Tensor,
    full: torch.Tensor,
    settings: RefineSettings,
) -> dict[str, Any]:
    """Fit ``module`` (built from ``settings.record()``); what to record in the metadata."""
    counts = module.fit(cond, generated, full, settings.min_jets)
    return {**settings.record(), **counts, "jets": len(cond)}
