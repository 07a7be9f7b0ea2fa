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

The hadron calorimeter may be **non-compensating**: a hadron shower of energy
E deposits an electromagnetic fraction f_em = 1 − (E / 1 GeV)^(m−1) (Groom's
parametrisation, m = ``hcal_shower_exponent``) at the EM scale and the rest at
the scale h/e = ``hcal_h_over_e``, so its mean response
R(E) = f_em + (1 − f_em)·h/e is below 1 and rises with energy. The response is
further scaled per |η| region (``hcal_eta_scale``: upper |η| edge and scale of
each region) and by ``hadron_scale`` (a global scale, e.g. 0.95 for a shifted
"systematic" sample). Jet response then depends on pT, η and on how much of
the jet's energy is carried by neutral and untracked hadrons (flavour).

**Pile-up** (``pileup_mu`` > 0): each event gets Poisson(μ) extra interactions,
each contributing neutral particles (half photons, half neutral hadrons)
uniform in |η| < ``hcal_eta_max`` and φ, with exponential pT of mean
``pileup_particle_pt`` and ``pileup_density`` GeV of pT per unit η–φ area.
Charged pile-up is assumed removed by vertex association (CHS). The particles
go through the same calorimeter response and thresholds. A parametrised model,
not Pythia minimum-bias events.

Charged candidates take the charged-pion mass, neutral ones are massless.
All of it is vectorised over a whole batch (flat numpy arrays).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import yaml

__all__ = ["DEFAULT_PRESET", "PRESETS", "DetectorResponse"]

#: Named responses shipped with jetplug (``jetplug generate --detector NAME``).
PRESETS = {
    "ideal": Path(__file__).with_name("detector_ideal.yaml"),
    "realistic": Path(__file__).with_name("detector_realistic.yaml"),
}
#: The preset ``jetplug generate`` uses without ``--detector``: the shipped taggers'
#: training sample was made with it (see docs/generation.md).
DEFAULT_PRESET = "realistic"
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
    hcal_h_over_e: float = 1.0
    hcal_shower_exponent: float = 0.83
    hcal_eta_scale: tuple[tuple[float, float], ...] = ((5.0, 1.0),)
    hadron_scale: float = 1.0
    pileup_mu: float = 0.0
    pileup_density: float = 0.25
    pileup_particle_pt: float = 0.6
    name: str = "custom"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), f.default)
        if self.name in PRESETS and self.name not in _LOADING:
            preset = _preset_params(self.name)
            differ = sorted(k for k, v in self.as_dict().items() if k != "name" and preset[k] != v)
            if differ:
                msg = (
                    f"name {self.name!r} is a preset's, but {differ} differ from it: the files "
                    "would record another response than made them"
                )
                raise ValueError(msg)
        edges = [edge for edge, _ in self.hcal_eta_scale]
        if not edges or edges != sorted(edges) or edges[-1] < self.hcal_eta_max:
            msg = (
                f"hcal_eta_scale must list regions by increasing |eta| edge up to "
                f"hcal_eta_max={self.hcal_eta_max}, got {self.hcal_eta_scale}"
            )
            raise ValueError(msg)
        if not 0.0 < self.hcal_h_over_e <= 2.0 or not 0.0 < self.hcal_shower_exponent <= 1.0:
            msg = "hcal_h_over_e must be in (0, 2] and hcal_shower_exponent in (0, 1]"
            raise ValueError(msg)
        if self.pileup_mu < 0:
            msg = f"pileup_mu must be >= 0, got {self.pileup_mu}"
            raise ValueError(msg)

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], source: str = "<mapping>") -> DetectorResponse:
        """Build from a mapping; unknown keys are an error naming ``source``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            msg = f"{source}: unknown detector parameter(s) {unknown}; known: {sorted(names)}"
            raise ValueError(msg)
        values: dict[str, Any] = {k: _tuples(v) for k, v in raw.items()}
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path, base: DetectorResponse | None = None) -> DetectorResponse:
        """Read a YAML file of parameters; missing ones come from ``base``.

        ``base`` None: the dataclass defaults (those of the ``ideal`` preset).
        """
        path = Path(path)
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            msg = f"{path}: expected a mapping of detector parameters, got {type(raw).__name__}"
            raise ValueError(msg)  # noqa: TRY004 (callers report ValueError as a bad input)
        raw.setdefault("name", path.stem)
        if base is not None:
            raw = {**base.as_dict(), **raw}
        return cls.from_mapping(raw, str(path))

    @classmethod
    def preset(cls, name: str) -> DetectorResponse:
        """A shipped response by name (:data:`PRESETS`)."""
        if name not in PRESETS:
            msg = f"unknown detector response {name!r}; presets: {', '.join(sorted(PRESETS))}"
            raise ValueError(msg)
        _LOADING.add(name)
        try:
            return cls.from_file(PRESETS[name])
        finally:
            _LOADING.discard(name)

    @classmethod
    def resolve(cls, spec: str | Path | None) -> DetectorResponse:
        """A preset name, a YAML file, or ``None`` for the default response."""
        if spec is None:
            return cls.default()
        if str(spec) in PRESETS:
            return cls.preset(str(spec))
        path = Path(spec)
        if not path.is_file():
            msg = (
                f"detector response {str(spec)!r} is neither a preset "
                f"({', '.join(sorted(PRESETS))}) nor a YAML file"
            )
            raise ValueError(msg)
        return cls.from_file(path, base=cls.default())  # a file's missing keys: the default's

    @classmethod
    def default(cls) -> DetectorResponse:
        """The :data:`DEFAULT_PRESET` response."""
        return cls.preset(DEFAULT_PRESET)

    def with_overrides(self, overrides: dict[str, Any], source: str = "--set") -> DetectorResponse:
        """This response with some parameters replaced (unknown keys name ``source``)."""
        if not overrides:
            return self
        merged = {**self.as_dict(), **overrides}
        if "name" not in overrides:
            changed = ",".join(f"{k}={v}" for k, v in sorted(overrides.items()))
            merged["name"] = f"{self.name}[{changed}]"
        return type(self).from_mapping(merged, source)

    def as_dict(self) -> dict[str, Any]:
        """Plain data, e.g. for provenance."""
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """sha256 (16 hex digits) of the physics parameters (the name excluded)."""
        params = {k: v for k, v in self.as_dict().items() if k != "name"}
        blob = json.dumps(params, sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def record(self) -> dict[str, Any]:
        """What generated files store about the response (``jetplugDetector``)."""
        return {"name": self.name, "fingerprint": self.fingerprint(), **self.as_dict()}

    def hadron_response(self, energy: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """Mean calorimeter response to hadrons of ``energy`` (GeV) at ``eta``."""
        f_em = 1.0 - np.maximum(energy, 1.0) ** (self.hcal_shower_exponent - 1.0)
        response = f_em + (1.0 - f_em) * self.hcal_h_over_e
        edges = np.array([edge for edge, _ in self.hcal_eta_scale])
        scales = np.array([scale for _, scale in self.hcal_eta_scale])
        region = np.minimum(np.searchsorted(edges, np.abs(eta), side="right"), len(edges) - 1)
        scaled: np.ndarray = response * scales[region] * self.hadron_scale
        return scaled

    def _pileup(self, n_events: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Flat pile-up particles and their event index (empty when ``pileup_mu`` is 0)."""
        if self.pileup_mu <= 0:
            empty = np.zeros(0)
            return {
                "event": np.zeros(0, dtype=np.int64),
                "pt": empty,
                "eta": empty,
                "phi": empty,
                "pdgId": np.zeros(0, dtype=np.int64),
            }
        area = 2.0 * self.hcal_eta_max * 2.0 * np.pi
        interactions = rng.poisson(self.pileup_mu, n_events)
        per_interaction = self.pileup_density * area / self.pileup_particle_pt
        counts = rng.poisson(interactions * per_interaction)
        total = int(counts.sum())
        return {
            "event": np.repeat(np.arange(n_events), counts),
            "pt": rng.exponential(self.pileup_particle_pt, total),
            "eta": rng.uniform(-self.hcal_eta_max, self.hcal_eta_max, total),
            "phi": rng.uniform(-np.pi, np.pi, total),
            "pdgId": np.where(rng.random(total) < 0.5, 22, 130),
        }

    def apply(self, particles: ak.Array, rng: np.random.Generator) -> ak.Array:
        """Reco PF candidates from visible gen particles.

        ``particles``: jagged records with ``pt, eta, phi, mass, pdgId, charge``.
        Returns jagged records ``pt, eta, phi, mass, pdgId, charge`` (float32 /
        int32), one list per event.
        """
        counts = ak.to_numpy(ak.num(particles, axis=1))
        flat = {f: ak.to_numpy(ak.flatten(particles[f])) for f in ak.fields(particles)}
        event_of = np.repeat(np.arange(len(counts)), counts)
        pileup = self._pileup(len(counts), rng)
        if len(pileup["pt"]):
            event_of = np.concatenate([event_of, pileup["event"]])
            order = np.argsort(event_of, kind="stable")
            event_of = event_of[order]
            zeros = np.zeros(len(pileup["pt"]))
            extra = {"mass": zeros, "charge": zeros.astype(np.int64), **pileup}
            flat = {f: np.concatenate([flat[f], extra[f]])[order] for f in flat}
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

        def smear(res: tuple[float, float], scale: np.ndarray | float) -> np.ndarray:
            stoch, const = res
            sigma = np.hypot(stoch / np.sqrt(np.maximum(energy, 1e-3)), const)
            mean = energy * scale
            smeared: np.ndarray = np.maximum(mean * (1.0 + rng.normal(0.0, 1.0, n) * sigma), 0.0)
            return smeared

        e_ecal = smear(self.ecal_resolution, 1.0)
        # EM showers beyond the ECAL (HF) are read at the EM scale, hadrons at R(E)
        e_hcal = smear(
            self.hcal_resolution, np.where(emlike, 1.0, self.hadron_response(energy, eta))
        )
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


_LOADING: set[str] = set()  # presets being read (their own name is theirs to use)


def _preset_params(name: str) -> dict[str, Any]:
    """A preset's parameters as :meth:`DetectorResponse.as_dict` gives them."""
    raw = yaml.safe_load(PRESETS[name].read_text()) or {}
    fields = {f.name: f.default for f in dataclasses.fields(DetectorResponse)}
    return {**fields, **{k: _tuples(v) for k, v in raw.items()}}


def _check_type(name: str, value: Any, default: Any) -> None:
    """``value`` has the shape of the parameter's ``default``: a number, or numbers in tuples."""
    if isinstance(default, str):
        ok = isinstance(value, str) and bool(value)
        want = "a name"
    elif isinstance(default, tuple):
        ok = isinstance(value, tuple) and bool(value)
        if ok and isinstance(default[0], tuple):  # ((edge, scale), ...)
            ok = all(isinstance(v, tuple) and len(v) == 2 and all(map(_number, v)) for v in value)
            want = "a list of [|eta| edge, scale] pairs"
        else:
            ok = ok and len(value) == len(default) and all(map(_number, value))
            want = f"a list of {len(default)} numbers"
    else:
        ok = _number(value)
        want = "a number"
    if not ok:
        msg = f"detector parameter {name}: expected {want}, got {value!r}"
        raise ValueError(msg)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _tuples(value: Any) -> Any:
    """YAML lists (nested too) as tuples, so that responses are hashable and frozen."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value
