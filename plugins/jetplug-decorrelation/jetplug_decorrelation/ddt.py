"""Designed decorrelated taggers (DDT): ``tau21_ddt`` and DDT maps of any score.

``tau21_ddt`` (Dolen et al., arXiv:1603.00027): τ21′ = τ21 − M·ρ′ with
ρ′ = ln(m_SD²/(pT·1 GeV)) and M the slope of QCD's mean τ21 against ρ′ in
the region where it is linear. Lower is more W-like.

A **DDT map** (CMS's N2-DDT, generalised): the QCD X % quantile q_X(ρ, pT)
of a score in bins of ρ = ln(m_SD²/pT²) and pT; the decorrelated score is
``score − q_X`` at the jet's (ρ, pT). Cutting it at 0 keeps the same
fraction of QCD (100 − X % for a score where high is signal-like, X % for
one where low is) in every bin, so the cut sculpts no mass. Each fitted map
is its own plugin (``models/ddt_<name>.pt``, metadata naming the score it
maps, e.g. ``part.w_vs_qcd`` or the FatJet field ``n2b1``); the map holds
the quantiles 1…99 % and the option ``quantile`` picks X. A map for another
tagger's score is one command (docs/decorrelation.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from jetplug import (
    Artifact,
    FieldSpec,
    InputSpec,
    JetModel,
    Kind,
    ModelInputs,
    ModelSpec,
    Option,
    OutputSpec,
    TensorSpec,
    lazy_spec,
    load_model_metadata,
    shipped_spec,
)

from .common import MODELS, rho, rho_prime

__all__ = [
    "QUANTILES",
    "TAU21_MODEL",
    "DDTMap",
    "Tau21DDT",
    "ddt_map_plugins",
    "fit_quantile_map",
    "fit_tau21_slope",
    "map_spec",
    "tau21_spec",
]

TAU21_MODEL = MODELS / "tau21_ddt.pt"
QUANTILES = tuple(range(1, 100))
"""The QCD quantiles [%] every DDT map holds (option ``quantile`` picks one)."""
RHO_EDGES = tuple(float(v) for v in np.linspace(-7.0, -1.0, 25))
"""ρ bins of a DDT map (inner edges are the map's; beyond them the first or last bin)."""
PT_EDGES = (300.0, 500.0, 560.0, 620.0, 680.0, 750.0, 1500.0)
"""pT bins of a DDT map [GeV] (the first and last are open-ended)."""
MIN_JETS = 50
"""A (pT, ρ) bin with fewer QCD jets takes its nearest filled ρ neighbour's quantiles."""


# -- τ21-DDT -----------------------------------------------------------------------------------
def tau21_spec(artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """Reads FatJet tau1, tau2, msoftdrop, pt; adds ``score`` = τ21-DDT."""
    return ModelSpec(
        name="tau21_ddt",
        kind=Kind.DECORRELATOR,
        version=str(meta.get("version", "0")),
        description="tau21-DDT: tau21 - M rho', rho' = ln(mSD^2/(pT 1 GeV)) (arXiv:1603.00027)",
        inputs=InputSpec(
            "FatJet", tuple(FieldSpec(n) for n in ("tau1", "tau2", "msoftdrop", "pt"))
        ),
        tensors_in=(TensorSpec("x", "float32", (2,)),),
        tensors_out=(TensorSpec("tau21_ddt", "float32", ()),),
        outputs=(OutputSpec("score", "float32", description="tau21 - M rho' (low: W-like)"),),
        artifact=artifact,
    )


def tau21_inputs(fields: Mapping[str, np.ndarray]) -> np.ndarray:
    """(n, 2) float32: τ21 (0 where τ1 = 0) and ρ′."""
    tau1 = np.asarray(fields["tau1"], np.float64)
    tau21 = np.divide(fields["tau2"], tau1, out=np.zeros_like(tau1), where=tau1 > 0)
    return np.stack([tau21, rho_prime(fields["msoftdrop"], fields["pt"])], 1).astype(np.float32)


class Tau21DDT(JetModel):
    """``FatJet.tau21_ddt.score`` = τ21 − M·ρ′ (lower: more W-like)."""

    signal_truth: ClassVar[int | None] = 2
    higher_is_signal: ClassVar[bool] = False

    spec = lazy_spec("tau21_ddt", lambda: shipped_spec(TAU21_MODEL, "torch-state-dict", tau21_spec))

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """τ21 and ρ′."""
        return {"x": tau21_inputs(inputs.fields)}

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """The module's τ21-DDT."""
        del inputs, prepared
        return {"score": np.asarray(outputs["tau21_ddt"], np.float32)}

    def build_module(self) -> Any:
        """The slope; its value comes from the artifact."""
        from .nets import SlopeDDT

        return SlopeDDT()


def fit_tau21_slope(
    tau21: np.ndarray, rho_p: np.ndarray, fit_range: tuple[float, float], n_bins: int = 20
) -> tuple[float, float, list[list[float]]]:
    """(slope M, intercept, profile) of QCD's mean τ21 against ρ′, fitted linearly in ``fit_range``.

    The profile is the mean τ21 in ``n_bins`` equal ρ′ bins of the range
    (bins with fewer than 20 jets dropped), fitted with weights √n.
    """
    edges = np.linspace(*fit_range, n_bins + 1)
    centres, means, counts = [], [], []
    for lo, hi in itertools.pairwise(edges):
        sel = (rho_p >= lo) & (rho_p < hi)
        if sel.sum() >= 20:
            centres.append(0.5 * (lo + hi))
            means.append(float(np.mean(tau21[sel])))
            counts.append(int(sel.sum()))
    if len(centres) < 2:
        msg = f"fewer than two rho' bins in {fit_range} with 20 QCD jets: cannot fit tau21-DDT"
        raise ValueError(msg)
    slope, intercept = np.polyfit(centres, means, 1, w=np.sqrt(counts))
    profile = [
        [round(c, 3), round(m, 4), n] for c, m, n in zip(centres, means, counts, strict=True)
    ]
    return float(slope), float(intercept), profile


# -- DDT maps of any score ---------------------------------------------------------------------
def _score_field(meta: Mapping[str, Any]) -> str:
    return str(meta.get("score_field", "n2b1"))


def map_spec(name: str, artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """The spec of DDT map ``name``: reads the mapped score, msoftdrop and pt."""
    field = _score_field(meta)
    requires = (field.split(".")[0],) if "." in field else ()
    default = int(meta.get("default_quantile", 50))
    return ModelSpec(
        name=name,
        kind=Kind.DECORRELATOR,
        version=str(meta.get("version", "0")),
        description=f"DDT map of FatJet.{field}: score minus its QCD X% quantile at (rho, pT)",
        inputs=InputSpec("FatJet", (FieldSpec(field), FieldSpec("msoftdrop"), FieldSpec("pt"))),
        tensors_in=(TensorSpec("x", "float32", (2,)),),
        tensors_out=(TensorSpec("quantiles", "float32", (len(QUANTILES),)),),
        outputs=(
            OutputSpec("score", "float32", description=f"FatJet.{field} minus its QCD X% quantile"),
            OutputSpec("qcd_quantile", "float32", description="the QCD X% quantile subtracted"),
        ),
        requires=requires,
        artifact=artifact,
        options=(
            Option(
                "quantile",
                "int",
                default,
                "X: the QCD quantile [%] subtracted (cut score > 0 keeps 100-X % of QCD "
                "for a high-is-signal score, score < 0 keeps X % for a low-is-signal one)",
                choices=QUANTILES,
            ),
        ),
    )


class DDTMap(JetModel):
    """Base of the DDT-map plugins: ``score`` = mapped score − q_X(ρ, pT)."""

    higher_is_signal: ClassVar[bool] = True
    score_field: ClassVar[str] = ""

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """ρ and pT."""
        f = inputs.fields
        return {"x": np.stack([rho(f["msoftdrop"], f["pt"]), f["pt"]], 1).astype(np.float32)}

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """The score minus the chosen quantile."""
        del prepared
        q = np.asarray(outputs["quantiles"], np.float32)[
            :, QUANTILES.index(self.options["quantile"])
        ]
        score = np.asarray(inputs.fields[self.score_field], np.float32)
        return {"score": (score - q).astype(np.float32), "qcd_quantile": q}

    def build_module(self) -> Any:
        """The quantile table; its values come from the artifact."""
        from .nets import QuantileMap

        return QuantileMap(len(PT_EDGES) - 1, len(RHO_EDGES) - 1, len(QUANTILES))


def ddt_map_plugin(model: Path) -> type[DDTMap]:
    """The plugin class of the DDT map ``model`` (``models/ddt_<name>.pt``), named by its file."""
    meta = load_model_metadata(model)
    name = model.stem
    attrs = {
        "__doc__": f"``FatJet.{name}.score``: FatJet.{_score_field(meta)} minus its QCD quantile.",
        "spec": lazy_spec(
            name, lambda: shipped_spec(model, "torch-state-dict", lambda a, m: map_spec(name, a, m))
        ),
        "score_field": _score_field(meta),
        "higher_is_signal": bool(meta.get("higher_is_signal", True)),
        "signal_truth": int(meta.get("signal_truth", 2)),
    }
    return type(f"DDTMap_{name}", (DDTMap,), attrs)


def ddt_map_plugins(models: Path = MODELS) -> list[type[DDTMap]]:
    """One plugin per fitted map in ``models`` (``ddt_*.pt`` with its metadata JSON)."""
    return [ddt_map_plugin(p.with_suffix(".pt")) for p in sorted(models.glob("ddt_*.json"))]


def fit_quantile_map(
    score: np.ndarray,
    rho_values: np.ndarray,
    pt: np.ndarray,
    weight: np.ndarray | None = None,
    quantiles: Sequence[int] = QUANTILES,
) -> tuple[np.ndarray, np.ndarray]:
    """(table (n_pt, n_rho, n_q), QCD jets per bin) of a score's quantiles in (pT, ρ) bins.

    Bins with fewer than :data:`MIN_JETS` jets take the nearest filled ρ
    bin's quantiles (same pT bin); each quantile is then smoothed along ρ
    with a (1, 2, 1)/4 kernel (the map should not follow bin-to-bin noise).
    """
    w = np.ones_like(score, dtype=np.float64) if weight is None else np.asarray(weight, np.float64)
    i_pt = np.searchsorted(np.asarray(PT_EDGES[1:-1]), pt, side="right")
    i_rho = np.searchsorted(np.asarray(RHO_EDGES[1:-1]), rho_values, side="right")
    n_pt, n_rho = len(PT_EDGES) - 1, len(RHO_EDGES) - 1
    table = np.full((n_pt, n_rho, len(quantiles)), np.nan)
    counts = np.zeros((n_pt, n_rho), dtype=np.int64)
    levels = np.asarray(quantiles, np.float64) / 100.0
    for p in range(n_pt):
        for r in range(n_rho):
            sel = (i_pt == p) & (i_rho == r)
            counts[p, r] = int(sel.sum())
            if counts[p, r] < MIN_JETS:
                continue
            order = np.argsort(score[sel])
            s, cw = score[sel][order], np.cumsum(w[sel][order])
            table[p, r] = np.interp(levels, (cw - 0.5 * w[sel][order]) / cw[-1], s)
        filled = np.flatnonzero(counts[p] >= MIN_JETS)
        if not len(filled):
            msg = f"no rho bin of pT bin {PT_EDGES[p]}-{PT_EDGES[p + 1]} has {MIN_JETS} QCD jets"
            raise ValueError(msg)
        nearest = filled[np.abs(np.arange(n_rho)[:, None] - filled[None, :]).argmin(axis=1)]
        row = table[p, nearest]
        padded = np.concatenate([row[:1], row, row[-1:]])
        table[p] = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    return table, counts
