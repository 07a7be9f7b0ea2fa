"""``calib_bdt``: an xgboost regression of log(pT_gen / pT) on jet-level NanoAOD features.

Features (all NanoAOD FatJet branches, so it runs on CMS files too): log pT,
|η|, m/pT, m_SD/pT, the number of constituents, τ21, τ32, N2 and the energy
fractions chHEF, neHEF, chEmEF, neEmEF, muEF (NanoAOD v15 stores them; on
files without them, such as PFNano, they are derived from the PF
candidates). The fractions carry the jet's composition, what a
non-compensating calorimeter responds to (neutral hadrons below one,
charged hadrons measured by the tracker), as the multiplicity and
substructure do (gluon jets, with more and softer hadrons, respond less):
what a binned inversion in (pT, η) cannot use. The same idea as ATLAS's
global sequential calibration, in one regression.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jetplug import (
    Artifact,
    FieldSpec,
    InputSpec,
    ModelInputs,
    ModelSpec,
    TensorSpec,
    lazy_spec,
    shipped_spec,
    write_model_metadata,
)
from jetplug.derivations import ENERGY_FRACTIONS
from jetplug.training import TrainingData, TrainSettings

from .common import MODELS, Calibrator, calibrator_spec, regression_rows

__all__ = ["FEATURES", "JetLevelCalibrator", "build_spec", "jet_features"]

MODEL = MODELS / "calib_bdt.ubj"
FIELDS = (
    "pt",
    "eta",
    "mass",
    "msoftdrop",
    "nConstituents",
    "tau1",
    "tau2",
    "tau3",
    "n2b1",
    *ENERGY_FRACTIONS,
)
FEATURES = (
    "log_pt",
    "abs_eta",
    "m_over_pt",
    "msd_over_pt",
    "n_constituents",
    "tau21",
    "tau32",
    "n2",
    *ENERGY_FRACTIONS,
)


_DERIVE = {"nConstituents": "count_constituents", **{n: n for n in ENERGY_FRACTIONS}}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    out: np.ndarray = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return out


def jet_features(inputs: ModelInputs) -> np.ndarray:
    """``(n, 13)`` float32 in the order of :data:`FEATURES`."""
    f = inputs.fields
    pt = np.maximum(np.asarray(f["pt"], np.float64), 1e-3)
    columns = [
        np.log(pt),
        np.abs(f["eta"]),
        np.asarray(f["mass"]) / pt,
        np.asarray(f["msoftdrop"]) / pt,
        np.asarray(f["nConstituents"], np.float64),
        _ratio(f["tau2"], f["tau1"]),
        _ratio(f["tau3"], f["tau2"]),
        np.asarray(f["n2b1"], np.float64),
        *(np.asarray(f[name], np.float64) for name in ENERGY_FRACTIONS),
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def build_spec(artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """Reads FatJet kinematics and substructure; replaces FatJet.pt."""
    return calibrator_spec(
        "calib_bdt",
        artifact,
        meta,
        InputSpec(
            "FatJet",
            tuple(FieldSpec(n, derive=_DERIVE.get(n)) for n in FIELDS),
        ),
        (TensorSpec("features", "float32", (len(FEATURES),)),),
        "xgboost regression of log(pT_gen/pT) on FatJet kinematics, multiplicity, "
        "substructure and energy fractions",
    )


class JetLevelCalibrator(Calibrator):
    """FatJet pT corrected by a BDT on jet-level features."""

    spec = lazy_spec("calib_bdt", lambda: shipped_spec(MODEL, "xgboost-ubj", build_spec))

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """The feature matrix."""
        return {"features": jet_features(inputs)}

    def train(
        self,
        data: TrainingData,
        output: Path,
        *,
        version: str,
        settings: TrainSettings,
        log: Callable[[str], None],
    ) -> dict[str, Any]:
        """Median (quantile 0.5) regression with early stopping on the validation split.

        The median, not the mean, of log(pT_gen/pT): the response has a low
        tail (jets that lost energy), and a mean regression over-corrects the
        typical jet, while closure is judged on the median response.
        """
        import xgboost as xgb

        rows = regression_rows(data)
        x = jet_features(data.inputs)
        dtrain = xgb.DMatrix(x[rows.train], label=rows.target[rows.train])
        dval = xgb.DMatrix(x[rows.val], label=rows.target[rows.val])
        params = {
            "objective": "reg:quantileerror",
            "quantile_alpha": 0.5,
            "max_depth": settings.max_depth,
            "eta": settings.learning_rate,
            "subsample": settings.subsample,
            "tree_method": "hist",
            "seed": settings.seed,
            "nthread": settings.threads,
        }
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=settings.max_rounds,
            evals=[(dval, "val")],
            early_stopping_rounds=settings.early_stopping,
            verbose_eval=False,
        )
        booster = booster[: booster.best_iteration + 1]
        output.parent.mkdir(parents=True, exist_ok=True)
        booster.save_model(str(output))
        log(f"calib_bdt: {booster.num_boosted_rounds()} trees from {int(rows.train.sum())} jets")
        return write_model_metadata(
            output,
            version,
            trainer=f"xgboost {xgb.__version__}",
            params=params,
            rounds=booster.num_boosted_rounds(),
            features=list(FEATURES),
            jets={"train": int(rows.train.sum()), "val": int(rows.val.sum())},
        )
