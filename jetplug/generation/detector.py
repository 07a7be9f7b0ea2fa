"""A simple, parametrised particle-flow detector response.

Visible final-state particles (neutrinos dropped) become reco "PF candidates":

* charged particles inside the tracker (|η| < ``tracker_eta_max``) above
  ``track_pt_min`` are tracked with probability ``track_efficiency``; their
  pT is smeared by σ/pT = a ⊕ b·pT (``track_resolution``), direction kept;
  they keep their pdgId (±211 for charged hadrons, ±11, ±13) and charge;
* photons and untracked electrons inside ``ecal_eta_max`` become photons
  (pdgId 22) with σ/E = a/√E ⊕ c (``ecal_resolution``) and an angular
  smearing ``ecal_angular``;
* neutral hadrons, untracked charged hadrons, and photons/electrons beyond the
  ECAL but inside ``hcal_eta_max`` become neutral hadrons (pdgId 130) with
  σ/E = a/√E ⊕ c (``hcal_resolution``) and angular smearing ``hcal_angular``;
* neutral candidates below ``ecal_e_min`` / ``hcal_e_min`` are lost, and so is
  everything outside the calorimeter acceptance.

Charged candidates take the charged-pion mass, neutral ones are massless.
All of it is vectorised over a whole batch (flat numpy arrays).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import yaml

__all__ = ["DetectorResponse"]

DEFAULT_FILE = Path(__file__).with_name("detector_default.yaml")
PION_MASS = 0.13957


@dataclass(frozen=True)
class DetectorResponse:
    """Parameters of the detector response (see the module docstring)."""

    tracker_eta_max: float = 2.5
    track_pt_min: float = 0.5
    track_efficiency: float = 0.95
    track_resolution: tuple[float, float] = (0.005, 0.00015)
    muon_eta_max: float = 2.4
    ecal_eta_max: float = 3.0
    ecal_resolution: tuple[float, float] = (0.05, 0.01)
    hcal_eta_max: float = 5.0
    hcal_resolution: tuple[float, float] = (1.0, 0.05)
    ecal_angular: float = 0.005
    hcal_angular: float = 0.025
    ecal_e_min: float = 0.5
    hcal_e_min: float = 1.0

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], source: str = "<mapping>") -> DetectorResponse:
        """Build from a mapping; unknown keys are an error naming ``source``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            msg = f"{source}: unknown detector parameter(s) {unknown}; known: {sorted(names)}"
            raise ValueError(msg)
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path) -> DetectorResponse:
        """Read a YAML file of parameters (missing ones keep their defaults)."""
        path = Path(path)
        raw = yaml.safe_load(path.read_text()) or {}
        return cls.from_mapping(raw, str(path))

    @classmethod
    def default(cls) -> DetectorResponse:
        """The response in ``detector_default.yaml``."""
        return cls.from_file(DEFAULT_FILE)

    def as_dict(self) -> dict[str, Any]:
        """Plain data, e.g. for provenance."""
        return dataclasses.asdict(self)

    def apply(self, particles: ak.Array, rng: np.random.Generator) -> ak.Array:
        """Reco PF candidates from visible gen particles.

        ``particles``: jagged records with ``pt, eta, phi, mass, pdgId, charge``.
        Returns jagged records ``pt, eta, phi, mass, pdgId, charge`` (float32 /
        int32), one list per event.
        """
        counts = ak.to_numpy(ak.num(particles, axis=1))
        flat = {f: ak.to_numpy(ak.flatten(particles[f])) for f in ak.fields(particles)}
        n = len(flat["pt"])
        pt, eta, phi = (
            flat["pt"].astype(np.float64),
            flat["eta"].astype(np.float64),
            flat["phi"].astype(np.float64),
        )
        pid = flat["pdgId"].astype(np.int64)
        charge = flat["charge"].astype(np.int64)
        apid = np.abs(pid)
        energy = np.sqrt((pt * np.cosh(eta)) ** 2 + flat["mass"] ** 2)

        charged = charge != 0
        in_tracker = np.abs(eta) < np.where(apid == 13, self.muon_eta_max, self.tracker_eta_max)
        tracked = charged & in_tracker & (pt > self.track_pt_min)
        tracked &= rng.random(n) < self.track_efficiency
        a, b = self.track_resolution
        track_pt = pt * (1.0 + rng.normal(0.0, 1.0, n) * np.hypot(a, b * pt))

        emlike = (apid == 22) | (apid == 11)
        ecal = ~tracked & emlike & (np.abs(eta) < self.ecal_eta_max)
        hcal = ~tracked & ~ecal & (apid != 13) & (np.abs(eta) < self.hcal_eta_max)

        def smear(res: tuple[float, float]) -> np.ndarray:
            stoch, const = res
            sigma = np.hypot(stoch / np.sqrt(np.maximum(energy, 1e-3)), const)
            smeared: np.ndarray = np.maximum(energy * (1.0 + rng.normal(0.0, 1.0, n) * sigma), 0.0)
            return smeared

        e_ecal, e_hcal = smear(self.ecal_resolution), smear(self.hcal_resolution)
        d_ecal = rng.normal(0.0, self.ecal_angular, (2, n))
        d_hcal = rng.normal(0.0, self.hcal_angular, (2, n))
        ecal &= e_ecal > self.ecal_e_min
        hcal &= e_hcal > self.hcal_e_min

        out_eta = np.select([ecal, hcal], [eta + d_ecal[0], eta + d_hcal[0]], eta)
        out_phi = np.select([ecal, hcal], [phi + d_ecal[1], phi + d_hcal[1]], phi)
        out_phi = (out_phi + np.pi) % (2 * np.pi) - np.pi
        out_e = np.select([ecal, hcal], [e_ecal, e_hcal], 0.0)
        out_pt = np.where(tracked, track_pt, out_e / np.cosh(out_eta))
        out_pid = np.select(
            [tracked & (apid == 11), tracked & (apid == 13), tracked, ecal, hcal],
            [pid, pid, 211 * np.sign(charge), np.full(n, 22), np.full(n, 130)],
            0,
        )
        out_charge = np.where(tracked, charge, 0)
        out_mass = np.where(tracked & (apid != 11) & (apid != 13), PION_MASS, 0.0)
        out_mass = np.where(tracked & (apid == 11), 0.000511, out_mass)
        out_mass = np.where(tracked & (apid == 13), 0.10566, out_mass)

        keep = (tracked | ecal | hcal) & (out_pt > 0)
        event_of = np.repeat(np.arange(len(counts)), counts)
        new_counts = np.bincount(event_of[keep], minlength=len(counts))
        record = {
            "pt": out_pt[keep].astype(np.float32),
            "eta": out_eta[keep].astype(np.float32),
            "phi": out_phi[keep].astype(np.float32),
            "mass": out_mass[keep].astype(np.float32),
            "pdgId": out_pid[keep].astype(np.int32),
            "charge": out_charge[keep].astype(np.int32),
        }
        return ak.unflatten(ak.zip(record), new_counts)
