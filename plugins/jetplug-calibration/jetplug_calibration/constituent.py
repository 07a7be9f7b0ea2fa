"""``calib_pfn``: a regression of log(pT_gen / pT) on the jet's PF candidates.

The ParticleNet-style regression CMS now uses, here on the taggers' particle
features (:func:`jetplug_taggers.particles.particle_features`: position,
momentum and energy fractions, charge and particle type of up to 64
candidates) with a Deep-Sets encoder (:class:`~.nets.ParticleRegressor`)
and the jet's log pT and |η|. The network sees how much of the jet is
carried by neutral hadrons, photons and tracks: the composition that sets a
non-compensating calorimeter's response jet by jet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from jetplug import (
    Artifact,
    ConstituentSpec,
    FieldSpec,
    InputSpec,
    ModelInputs,
    ModelSpec,
    TensorSpec,
    lazy_spec,
    shipped_spec,
    write_model_metadata,
)
from jetplug.training import TrainingData, TrainSettings
from jetplug_taggers.particles import PARTICLE_FEATURES, particle_features

from .common import (
    MODELS,
    Calibrator,
    calibrator_spec,
    fit_torch_regression,
    regression_rows,
)

__all__ = ["ConstituentCalibrator", "build_spec"]

MODEL = MODELS / "calib_pfn.pt"
MAX_PARTICLES = 64
JET_FEATURES = ("log_pt", "abs_eta")


def build_spec(artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """Reads FatJet kinematics and PF candidates; replaces FatJet.pt."""
    return calibrator_spec(
        "calib_pfn",
        artifact,
        meta,
        InputSpec(
            "FatJet",
            tuple(FieldSpec(n) for n in ("pt", "eta", "phi", "mass")),
            constituents=ConstituentSpec(
                fields=("pt", "eta", "phi", "mass", "pdgId", "charge"),
                max_constituents=MAX_PARTICLES,
            ),
        ),
        (
            TensorSpec("particles", "float32", (MAX_PARTICLES, len(PARTICLE_FEATURES))),
            TensorSpec("mask", "float32", (MAX_PARTICLES,)),
            TensorSpec("jet", "float32", (len(JET_FEATURES),)),
        ),
        "Deep-Sets regression of log(pT_gen/pT) on up to 64 PF candidates and log pT, |eta|",
    )


class ConstituentCalibrator(Calibrator):
    """FatJet pT corrected by a network on its PF candidates."""

    padding_invariant: ClassVar[bool] = True  # both pooled sums are masked

    spec = lazy_spec("calib_pfn", lambda: shipped_spec(MODEL, "torch-state-dict", build_spec))

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """Particle features, mask and jet features."""
        x, mask = particle_features(inputs)
        f = inputs.fields
        jet = np.stack([np.log(np.maximum(f["pt"], 1e-3)), np.abs(f["eta"])], axis=1)
        return {"particles": x, "mask": mask, "jet": jet.astype(np.float32)}

    def build_module(self) -> Any:
        """The network; weights come from the artifact."""
        from .nets import ParticleRegressor

        return ParticleRegressor(len(PARTICLE_FEATURES), len(JET_FEATURES))

    def train(
        self,
        data: TrainingData,
        output: Path,
        *,
        version: str,
        settings: TrainSettings,
        log: Callable[[str], None],
    ) -> dict[str, Any]:
        """Huber regression with early stopping; the best epoch's state dict is saved."""
        import torch

        torch.set_num_threads(settings.threads)
        rows = regression_rows(data)
        prepared = self.prepare(data.inputs)
        module = self.build_module()
        record = fit_torch_regression(
            module,
            [prepared["particles"], prepared["mask"], prepared["jet"]],
            np.nan_to_num(rows.target),
            rows,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            lr=settings.lr,
            patience=settings.patience,
            seed=settings.seed,
            log=log,
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        torch.save(module.state_dict(), output)
        return write_model_metadata(
            output,
            version,
            trainer=f"torch {torch.__version__}",
            loss="Huber (delta 0.1) on log(pT_gen/pT)",
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            lr=settings.lr,
            seed=settings.seed,
            jets={"train": int(rows.train.sum()), "val": int(rows.val.sum())},
            **record,
        )
