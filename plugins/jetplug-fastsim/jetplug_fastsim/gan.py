"""``fastsim_gan``: a conditional GAN from generator-level jets to reconstructed FatJets.

Conditions, per ``GenJetAK8`` (what CMS NanoAOD holds, plus the generated
files' gen-level truth label, documented in docs/fastsim.md): log pT, η,
log(1 + m), parton flavour (gluon, u/d/s, c, b, none), hadron flavour (0, 4,
5), and the truth label (QCD or unknown, top, W, Z, H; −1 where a file has
none, e.g. CMS NanoAOD: such jets are simulated as QCD-like).

Generated, per gen jet: the :data:`FEATURES` (:func:`encode` /
:func:`decode`: responses and ratios rather than raw values, so that every
decoded jet is physical: m_SD ≤ m, τ_{N+1} ≤ τ_N, an integer number of
constituents), and whether it is reconstructed at all (pT > 170 GeV,
|η| < 2.5 and the jet algorithm: the efficiency network). The noise comes
from the per-object random numbers jetplug hands to ``prepare``
(``ModelInputs.random``): reproducible chunk by chunk, on any executor, and
identical on Triton, which receives it as an input tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jetplug import (
    Artifact,
    FieldSpec,
    InputSpec,
    JetModel,
    JetplugError,
    Kind,
    ModelInputs,
    ModelSpec,
    OutputSpec,
    Target,
    TargetMode,
    TensorSpec,
    lazy_spec,
    load_model_metadata,
    shipped_spec,
)

__all__ = [
    "CONDITIONS",
    "FEATURES",
    "FIELDS",
    "N_NOISE",
    "GanFastSim",
    "build_generator",
    "build_spec",
    "conditions",
    "decode",
    "encode",
    "load_generator",
]

MODEL = Path(__file__).parent / "models" / "fastsim_gan.pt"
N_NOISE = 8
GEN_FIELDS = ("pt", "eta", "phi", "mass", "partonFlavour", "hadronFlavour")
CONDITIONS = (
    "log_pt", "eta", "log_mass",
    "parton_g", "parton_uds", "parton_c", "parton_b", "parton_none",
    "hadron_0", "hadron_4", "hadron_5",
    "truth_qcd", "truth_top", "truth_W", "truth_Z", "truth_H",
)  # fmt: skip
FEATURES = (
    "log_response", "d_eta", "d_phi", "log_mass_response", "msd_over_m",
    "log_tau1", "logit_tau21", "logit_tau32", "logit_tau43", "n2b1", "n3b1",
    "log_n_constituents",
)  # fmt: skip
FIELDS = (
    "pt", "eta", "phi", "mass", "msoftdrop", "tau1", "tau2", "tau3", "tau4",
    "n2b1", "n3b1", "nConstituents",
)  # fmt: skip
"""FatJet fields the GAN generates (those the taggers read, and kinematics)."""


def _f64(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def conditions(fields: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(n, len(CONDITIONS))`` float32 from gen-jet fields (incl. ``truthLabel``)."""
    pt, eta, mass = _f64(fields["pt"]), _f64(fields["eta"]), _f64(fields["mass"])
    parton = np.abs(np.asarray(fields["partonFlavour"]))
    hadron = np.asarray(fields["hadronFlavour"])
    truth = np.asarray(fields["truthLabel"])
    columns = [
        np.log(np.maximum(pt, 1e-3)),
        eta,
        np.log1p(np.maximum(mass, 0.0)),
        parton == 21,
        (parton >= 1) & (parton <= 3),
        parton == 4,
        parton == 5,
        ~np.isin(parton, [1, 2, 3, 4, 5, 21]),
        ~np.isin(hadron, [4, 5]),
        hadron == 4,
        hadron == 5,
        ~np.isin(truth, [1, 2, 3, 4]),
        *(truth == t for t in (1, 2, 3, 4)),
    ]
    return np.stack([np.asarray(c, np.float64) for c in columns], axis=1).astype(np.float32)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return out


_EPS = 1e-4


def _logit(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, _EPS, 1 - _EPS)
    out: np.ndarray = np.log(x / (1 - x))
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def encode(gen: Mapping[str, np.ndarray], reco: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(n, len(FEATURES))`` float32: reco FatJets relative to their gen jets.

    pT and mass are responses to the gen jet's (log pT/pT_gen and
    log(1 + m) − log(1 + m_gen)): narrow residuals around 0, so that the
    generator need not learn the resonance mass peaks the conditions already
    hold. Positive quantities are taken as logs and the τ ratios (in (0, 1)) as
    logits, so the generator works in an unbounded space; m_SD/m, N2 and N3
    stay linear and are clipped when decoded, which gives their point masses
    (m_SD = m for 17 % of jets, N2 = 0 or N3 = 0 for 1–2 %) for free.
    """
    pt_g, pt, mass_g = _f64(gen["pt"]), _f64(reco["pt"]), _f64(gen["mass"])
    mass, tau = _f64(reco["mass"]), [_f64(reco[f"tau{i}"]) for i in range(1, 5)]
    dphi = (_f64(reco["phi"]) - _f64(gen["phi"]) + np.pi) % (2 * np.pi) - np.pi
    columns = [
        np.log(pt / pt_g),
        _f64(reco["eta"]) - _f64(gen["eta"]),
        dphi,
        np.log1p(np.maximum(mass, 0.0)) - np.log1p(np.maximum(mass_g, 0.0)),
        _ratio(_f64(reco["msoftdrop"]), mass),
        np.log(np.maximum(tau[0], _EPS)),
        _logit(_ratio(tau[1], tau[0])),
        _logit(_ratio(tau[2], tau[1])),
        _logit(_ratio(tau[3], tau[2])),
        _f64(reco["n2b1"]),
        _f64(reco["n3b1"]),
        np.log(np.maximum(_f64(reco["nConstituents"]), 1.0)),
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def decode(gen: Mapping[str, np.ndarray], features: np.ndarray) -> dict[str, np.ndarray]:
    """FatJet :data:`FIELDS` from gen jets and encoded features (always physical)."""
    f = features.astype(np.float64)
    pt = _f64(gen["pt"]) * np.exp(np.clip(f[:, 0], -2.0, 2.0))
    log_mass = np.log1p(np.maximum(_f64(gen["mass"]), 0.0)) + np.clip(f[:, 3], -12.0, 12.0)
    mass = np.clip(np.expm1(log_mass), 0.0, pt)
    tau1 = np.exp(np.clip(f[:, 5], -12.0, 0.0))
    tau2 = tau1 * _sigmoid(f[:, 6])
    tau3 = tau2 * _sigmoid(f[:, 7])
    tau4 = tau3 * _sigmoid(f[:, 8])
    out = {
        "pt": pt,
        "eta": _f64(gen["eta"]) + f[:, 1],
        "phi": (_f64(gen["phi"]) + f[:, 2] + np.pi) % (2 * np.pi) - np.pi,
        "mass": mass,
        "msoftdrop": mass * np.clip(f[:, 4], 0.0, 1.0),
        "tau1": tau1,
        "tau2": tau2,
        "tau3": tau3,
        "tau4": tau4,
        "n2b1": np.maximum(f[:, 9], 0.0),
        "n3b1": np.maximum(f[:, 10], 0.0),
    }
    columns = {k: v.astype(np.float32) for k, v in out.items()}
    n_const = np.maximum(np.rint(np.exp(f[:, 11])), 1.0).astype(np.int32)
    return {**columns, "nConstituents": n_const}


def build_generator(meta: Mapping[str, Any]) -> Any:
    """An untrained :class:`~jetplug_fastsim.nets.FastSimGAN` shaped as model metadata ``meta``
    says (``settings.hidden``, 128, the width of 1.0.0, where it is not recorded;
    the quantile refinement's tables where ``refinement`` is recorded)."""
    from .nets import FastSimGAN

    hidden = int(meta.get("settings", {}).get("hidden", 128))
    refinement = meta.get("refinement")
    return FastSimGAN(len(CONDITIONS), N_NOISE, len(FEATURES), hidden, refinement, FEATURES)


def load_generator(path: Path) -> Any:
    """The trained generator of the state dict ``path`` (shaped by its metadata), in eval mode."""
    import torch

    model = build_generator(load_model_metadata(path))
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def build_spec(artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """GenJetAK8 -> FastSimFatJet (created, kept where reconstructed, sorted by pT)."""
    return ModelSpec(
        name="fastsim_gan",
        kind=Kind.FASTSIM,
        version=str(meta.get("version", "0")),
        description="conditional GAN: GenJetAK8 -> reconstructed AK8 jets (FastSimFatJet)",
        inputs=InputSpec(
            "GenJetAK8",
            (
                *(FieldSpec(n) for n in GEN_FIELDS),
                FieldSpec("truthLabel", derive="unknown_truth"),
            ),
        ),
        tensors_in=(
            TensorSpec("cond", "float32", (len(CONDITIONS),)),
            TensorSpec("noise", "float32", (N_NOISE,)),
        ),
        tensors_out=(
            TensorSpec("features", "float32", (len(FEATURES),)),
            TensorSpec("p_reco", "float32", ()),
        ),
        outputs=(
            *(OutputSpec(n, "int32" if n == "nConstituents" else "float32") for n in FIELDS),
            OutputSpec("reconstructed", "bool", description="the gen jet gives a FatJet"),
        ),
        target=Target(TargetMode.CREATE, "FastSimFatJet", keep="reconstructed", sort_by="pt"),
        artifact=artifact,
    )


class GanFastSim(JetModel):
    """Reconstructed FatJets from gen jets: generator features, efficiency draw."""

    spec = lazy_spec("fastsim_gan", lambda: shipped_spec(MODEL, "torch-state-dict", build_spec))

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """Conditions and per-object noise (from the seeded per-object random numbers)."""
        if inputs.random is None:
            msg = "fastsim_gan needs jetplug's per-object random numbers (ModelInputs.random)"
            raise ValueError(msg)
        noise = inputs.random.normal(N_NOISE).astype(np.float32)
        return {"cond": conditions(inputs.fields), "noise": noise}

    def build_module(self) -> Any:
        """The generator and efficiency networks; weights come from the artifact."""
        return build_generator(load_model_metadata(self.spec.artifact.path))

    def train(self, data: Any, output: Path, **kwargs: Any) -> dict[str, Any]:
        """Refused with what to run: the GAN trains on gen jets paired with their FatJets."""
        del data, output, kwargs
        msg = (
            "fastsim_gan trains on gen jets paired with the FatJets they became, which "
            "`jetplug train`'s per-object inputs do not hold: run "
            "`python scripts/train_fastsim.py DATA_DIR` (docs/fastsim.md)"
        )
        raise JetplugError(msg)

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """Decoded FatJet fields, and the efficiency draw (a second per-object number)."""
        del prepared
        assert inputs.random is not None  # prepare refused otherwise
        jets = decode(inputs.fields, np.asarray(outputs["features"]))
        draw = inputs.random.uniform()
        return {**jets, "reconstructed": draw < np.asarray(outputs["p_reco"])}
