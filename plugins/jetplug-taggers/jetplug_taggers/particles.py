"""What the multi-class constituent taggers (``pfn``, ``part``) share.

Input: the hardest PF candidates of each FatJet (sorted by pT, masked), with
13 features relative to the jet: Δη, Δφ, log pT, log E, log(pT/pT_jet),
log(E/E_jet), ΔR, charge and a one-hot particle type (charged hadron,
neutral hadron, photon, electron, muon). Output: probabilities of top, W, Z,
H→bb and QCD, and the top-vs-QCD discriminant p_t/(p_t+p_QCD).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from jetplug import (
    Artifact,
    ConstituentSpec,
    FieldSpec,
    InputSpec,
    JetModel,
    Kind,
    ModelInputs,
    ModelSpec,
    OutputSpec,
    TensorSpec,
)

__all__ = [
    "CLASSES",
    "PARTICLE_FEATURES",
    "ConstituentTagger",
    "constituent_tagger_spec",
    "particle_features",
]

CLASSES = ("top", "W", "Z", "H", "QCD")
TRUTH = (1, 2, 3, 4, 0)
"""Generator truth label of each class (jetplug.generation.TruthLabel)."""
PARTICLE_FEATURES = (
    "deta",
    "dphi",
    "log_pt",
    "log_e",
    "log_ptrel",
    "log_erel",
    "dr",
    "charge",
    "is_charged_hadron",
    "is_neutral_hadron",
    "is_photon",
    "is_electron",
    "is_muon",
)
_CONSTITUENT_FIELDS = ("pt", "eta", "phi", "mass", "pdgId", "charge")


def _energy(pt: np.ndarray, eta: np.ndarray, mass: np.ndarray) -> np.ndarray:
    e: np.ndarray = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)
    return e


def particle_features(inputs: ModelInputs) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 64, 13)`` float32 particle features and ``(n, 64)`` float32 mask."""
    assert inputs.constituents is not None
    assert inputs.mask is not None
    c = inputs.constituents.astype(np.float64)
    mask = inputs.mask
    f = inputs.fields
    jet_pt = np.asarray(f["pt"], np.float64)[:, None]
    jet_eta = np.asarray(f["eta"], np.float64)[:, None]
    jet_phi = np.asarray(f["phi"], np.float64)[:, None]
    jet_e = _energy(jet_pt, jet_eta, np.asarray(f["mass"], np.float64)[:, None])
    pt, eta, phi, mass, pid, charge = (c[..., i] for i in range(6))
    pt_safe = np.where(mask, pt, 1.0)
    e = _energy(pt_safe, eta, mass)
    deta = eta - jet_eta
    dphi = (phi - jet_phi + np.pi) % (2 * np.pi) - np.pi
    apid = np.abs(pid)
    columns = [
        deta,
        dphi,
        np.log(pt_safe),
        np.log(e),
        np.log(pt_safe / jet_pt),
        np.log(e / jet_e),
        np.hypot(deta, dphi),
        charge,
        (apid == 211).astype(np.float64),
        (apid == 130).astype(np.float64),
        (apid == 22).astype(np.float64),
        (apid == 11).astype(np.float64),
        (apid == 13).astype(np.float64),
    ]
    x = np.stack(columns, axis=-1)
    x[~mask] = 0.0
    return x.astype(np.float32), mask.astype(np.float32)


def constituent_tagger_spec(
    name: str, model: Path, meta: Mapping[str, Any], max_particles: int, description: str
) -> ModelSpec:
    """The spec of a multi-class tagger on ``max_particles`` PF candidates per FatJet."""
    return ModelSpec(
        name=name,
        kind=Kind.TAGGER,
        version=str(meta["version"]),
        description=description,
        inputs=InputSpec(
            collection="FatJet",
            fields=tuple(FieldSpec(n) for n in ("pt", "eta", "phi", "mass")),
            constituents=ConstituentSpec(
                fields=_CONSTITUENT_FIELDS, max_constituents=max_particles
            ),
        ),
        tensors_in=(
            TensorSpec("particles", "float32", (max_particles, len(PARTICLE_FEATURES))),
            TensorSpec("mask", "float32", (max_particles,)),
        ),
        tensors_out=(TensorSpec("probs", "float32", (len(CLASSES),)),),
        outputs=(
            OutputSpec(
                "probs",
                "float32",
                (len(CLASSES),),
                labels=CLASSES,
                description="class probabilities",
            ),
            OutputSpec("top_vs_qcd", "float32", description="p_top / (p_top + p_QCD)"),
            OutputSpec("w_vs_qcd", "float32", description="p_W / (p_W + p_QCD)"),
        ),
        artifact=Artifact(model, str(meta["sha256"]), "torch-state-dict"),
    )


class ConstituentTagger(JetModel):
    """Base of the multi-class constituent taggers: particle features in, probabilities out.

    Subclasses set ``spec`` (:func:`constituent_tagger_spec`) and ``build_module``.
    """

    truth_classes: ClassVar[tuple[int, ...] | None] = TRUTH
    padding_invariant: ClassVar[bool] = True  # masked sums (PFN), masked attention (ParT)

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """Particle features and mask."""
        x, mask = particle_features(inputs)
        return {"particles": x, "mask": mask}

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """Probabilities and the top-vs-QCD and W-vs-QCD discriminants."""
        del inputs, prepared
        probs = np.asarray(outputs["probs"], dtype=np.float32)
        qcd = probs[:, CLASSES.index("QCD")]

        def versus_qcd(signal: str) -> np.ndarray:
            s = probs[:, CLASSES.index(signal)]
            return (s / np.where(s + qcd > 0, s + qcd, 1.0)).astype(np.float32)

        return {"probs": probs, "top_vs_qcd": versus_qcd("top"), "w_vs_qcd": versus_qcd("W")}
