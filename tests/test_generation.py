"""Generated files: PFNano layout readable by coffea, physical substructure, truth, seeds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

from jetplug.generation import (
    DetectorResponse,
    TruthLabel,
    detectors_of,
    generate,
    read_detector,
    read_generator,
)


def _events(files: list[Path]) -> ak.Array:
    return NanoEventsFactory.from_root(
        {str(files[0]): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()


def test_pfnano_schema_gives_constituents(generated: dict[str, list[Path]]) -> None:
    events = _events(generated["ttbar"])
    fj = events.FatJet
    assert ak.sum(ak.num(fj)) > 50
    pf = fj.constituents.pf
    assert ak.all(ak.num(pf, axis=2) == fj.nConstituents)
    # the constituents' four-momenta add up to the jet
    summed_pt = ak.to_numpy(ak.flatten(pf.sum(axis=2).pt))
    np.testing.assert_allclose(summed_pt, ak.to_numpy(ak.flatten(fj.pt)), rtol=1e-3)
    with uproot.open(generated["ttbar"][0]) as f:
        tree = f["Events"]
        assert ak.sum(tree["FatJet_nConstituents"].array()) == ak.sum(
            tree["nFatJetPFCands"].array()
        )
        runs = f["Runs"].arrays()
        assert runs.genEventCount[0] == tree.num_entries
        assert runs.jetplugCrossSection[0] > 0
        assert runs.jetplugSqrtS[0] == 13600.0


def test_substructure_is_physical(generated: dict[str, list[Path]]) -> None:
    # NB: coffea's Lorentz-vector behaviour shadows the field `tau2` with m^2: use fj["tau2"]
    fj = ak.flatten(_events(generated["ttbar"]).FatJet)
    fj = fj[(fj["tau1"] > 0) & (fj["tau2"] > 0)]
    tau21 = fj["tau2"] / fj["tau1"]
    assert ak.all((tau21 >= 0) & (tau21 <= 1.0001))
    assert ak.all(fj["tau4"] <= fj["tau3"] + 1e-4)
    assert ak.all(fj.msoftdrop <= fj.mass + 1e-3)
    assert ak.all((fj.n2b1 >= 0) & (fj.n2b1 < 1.0))
    top = fj[fj.truthLabel == int(TruthLabel.TOP)]
    qcd = ak.flatten(_events(generated["qcd"]).FatJet)
    qcd = qcd[qcd["tau2"] > 0]
    # top jets are heavy and three-pronged, QCD jets light
    assert 130 < np.median(ak.to_numpy(top.msoftdrop)) < 200
    assert np.median(ak.to_numpy(qcd.msoftdrop)) < 90
    assert np.median(ak.to_numpy(top["tau3"] / top["tau2"])) < np.median(
        ak.to_numpy(qcd["tau3"] / qcd["tau2"])
    )


def test_reco_differs_from_gen(generated: dict[str, list[Path]]) -> None:
    events = _events(generated["ttbar"])
    fj = events.FatJet
    matched = fj[fj.genJetAK8Idx >= 0]
    gen = events.GenJetAK8[matched.genJetAK8Idx]
    response = ak.to_numpy(ak.flatten(matched.pt / gen.pt))
    assert len(response) > 20
    assert 0.85 < np.median(response) < 1.1
    assert np.std(response) > 0.005  # smeared, not copied


def test_truth_labels(generated: dict[str, list[Path]]) -> None:
    tt = ak.to_numpy(ak.flatten(_events(generated["ttbar"]).FatJet.truthLabel))
    qcd = ak.to_numpy(ak.flatten(_events(generated["qcd"]).FatJet.truthLabel))
    assert (tt == TruthLabel.TOP).sum() > 20
    assert set(np.unique(tt)) <= {-1, 1, 2}
    assert set(np.unique(qcd)) == {0}


def test_same_seed_reproduces_and_other_seed_differs(tmp_path: Path) -> None:
    kw = {"pt_hat_min": 500.0, "pt_hat_max": 700.0, "progress": False}
    a = generate("wjets", 30, tmp_path / "a", seed=5, **kw)
    b = generate("wjets", 30, tmp_path / "b", seed=5, **kw)
    c = generate("wjets", 30, tmp_path / "c", seed=6, **kw)

    def read(files: list[Path]) -> ak.Array:
        return uproot.open(files[0])["Events"].arrays(["FatJet_pt", "PFCands_pt", "event"])

    assert ak.array_equal(read(a), read(b))
    assert not ak.array_equal(read(a).FatJet_pt, read(c).FatJet_pt)


def test_detector_response_is_a_parameter(tmp_path: Path) -> None:
    kw = {"seed": 9, "pt_hat_min": 500.0, "pt_hat_max": 700.0, "progress": False}
    default = generate("qcd", 20, tmp_path / "d", **kw)
    coarse = DetectorResponse(
        hcal_resolution=(3.0, 0.3), ecal_resolution=(1.0, 0.2), track_efficiency=0.5
    )
    smeared = generate("qcd", 20, tmp_path / "s", detector=coarse, **kw)
    n_default = uproot.open(default[0])["Events"]["nPFCands"].array()
    n_smeared = uproot.open(smeared[0])["Events"]["nPFCands"].array()
    assert not ak.array_equal(n_default, n_smeared)
    # every file records the response that made it, and its pT-hat window
    assert read_detector(default[0])["name"] == "realistic"
    recorded = read_detector(smeared[0])
    assert recorded["fingerprint"] == coarse.fingerprint()
    assert (
        DetectorResponse.from_mapping({k: v for k, v in recorded.items() if k != "fingerprint"})
        == coarse
    )
    assert detectors_of([*default, *smeared, *default]) == sorted(
        [
            {
                "name": "realistic",
                "fingerprint": DetectorResponse.preset("realistic").fingerprint(),
            },
            {"name": "custom", "fingerprint": coarse.fingerprint()},
        ],
        key=lambda d: (d["name"], d["fingerprint"]),
    )
    runs = uproot.open(default[0])["Runs"].arrays()
    assert (runs.jetplugPtHatMin[0], runs.jetplugPtHatMax[0]) == (500.0, 700.0)


def _hadrons(energies: list[float], eta: float, pid: int = 130, events: int = 0) -> ak.Array:
    """One event per energy, a single neutral particle at ``eta`` (or ``events`` empty ones)."""
    n = len(energies)
    pt = np.asarray(energies, dtype=np.float64) / np.cosh(eta)
    return ak.unflatten(
        ak.zip(
            {
                "pt": pt,
                "eta": np.full(n, eta),
                "phi": np.zeros(n),
                "mass": np.zeros(n),
                "pdgId": np.full(n, pid),
                "charge": np.zeros(n, dtype=np.int64),
            }
        ),
        np.ones(n, dtype=np.int64) if n else np.zeros(events, dtype=np.int64),
    )


def _mean_response(response: DetectorResponse, energy: float, eta: float, pid: int = 130) -> float:
    particles = _hadrons([energy] * 4000, eta, pid)
    reco = response.apply(particles, np.random.default_rng(1))
    e_reco = ak.flatten(reco.pt) * np.cosh(ak.flatten(reco.eta))
    return float(np.sum(e_reco) / (energy * 4000))


def test_realistic_response_is_non_compensating_and_eta_dependent() -> None:
    ideal, realistic = DetectorResponse.preset("ideal"), DetectorResponse.preset("realistic")
    assert _mean_response(ideal, 20.0, 0.0) == pytest.approx(1.0, abs=0.02)
    low, high = _mean_response(realistic, 10.0, 0.0), _mean_response(realistic, 100.0, 0.0)
    expected = realistic.hadron_response(np.array([10.0, 100.0]), np.zeros(2))
    assert low == pytest.approx(expected[0], abs=0.02)
    assert high == pytest.approx(expected[1], abs=0.02)
    assert 0.6 < low < high < 0.9  # below 1 and rising with energy
    # photons stay at the EM scale; the endcap reads hadrons lower than the barrel
    assert _mean_response(realistic, 20.0, 0.0, pid=22) == pytest.approx(1.0, abs=0.02)
    assert _mean_response(realistic, 50.0, 2.0) < 0.95 * _mean_response(realistic, 50.0, 0.5)
    shifted = realistic.with_overrides({"hadron_scale": 0.95})
    assert shifted.name == "realistic[hadron_scale=0.95]"
    assert shifted.fingerprint() != realistic.fingerprint()
    assert _mean_response(shifted, 50.0, 0.0) == pytest.approx(
        0.95 * _mean_response(realistic, 50.0, 0.0), rel=0.02
    )


def test_pileup_adds_neutral_particles_with_the_documented_density() -> None:
    response = DetectorResponse.preset("realistic").with_overrides(
        {"pileup_mu": 20.0, "hcal_e_min": 0.0, "ecal_e_min": 0.0}
    )
    reco = response.apply(_hadrons([], 0.0, events=200), np.random.default_rng(2))
    assert len(reco) == 200
    assert set(np.unique(ak.flatten(reco.pdgId))) == {22, 130}
    assert ak.all(reco.charge == 0)
    area = 2 * 5.0 * 2 * np.pi
    # true density 0.25 GeV per unit area per interaction; hadrons are read at R(E) < 1
    density = float(np.mean(ak.sum(reco.pt, axis=1))) / (20.0 * area)
    assert 0.15 < density < 0.27
    with pytest.raises(ValueError, match="pileup_mu"):
        DetectorResponse(pileup_mu=-1.0)


def test_detector_presets_and_overrides_from_the_command_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from jetplug.cli import main

    with pytest.raises(ValueError, match="neither a preset"):
        DetectorResponse.resolve("nonexistent")
    runner = CliRunner()
    args = ["generate", "qcd", "-n", "5", "-o", str(tmp_path), "--pt-hat-min", "500"]
    bad = runner.invoke(main, [*args, "--detector", "realistic", "--set", "hadron_scal=0.9"])
    assert bad.exit_code != 0
    assert "unknown detector parameter(s) ['hadron_scal']" in bad.output
    ok = runner.invoke(main, [*args, "--detector", "realistic", "--set", "hadron_scale=0.95"])
    assert ok.exit_code == 0, ok.output
    recorded = read_detector(next(tmp_path.glob("*.root")))
    assert recorded["name"] == "realistic[hadron_scale=0.95]"
    assert recorded["hadron_scale"] == 0.95


def test_bad_arguments_are_clear(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match="unknown process 'tt'; available: hbb, qcd, ttbar, wjets, zjets"
    ):
        generate("tt", 10, tmp_path)
    with pytest.raises(ValueError, match="pt_hat_max"):
        generate("qcd", 10, tmp_path, pt_hat_min=500, pt_hat_max=400)
    with pytest.raises(ValueError, match="unknown detector parameter"):
        DetectorResponse.from_mapping({"tracker_eta": 2.5})


def test_output_does_not_depend_on_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jetplug.generation import driver

    monkeypatch.setattr(driver, "JOB_EVENTS", 15)
    kw = {"seed": 4, "pt_hat_min": 500.0, "pt_hat_max": 700.0, "progress": False}
    one = generate("zjets", 30, tmp_path / "one", workers=1, **kw)
    two = generate("zjets", 30, tmp_path / "two", workers=2, **kw)
    assert len(one) == len(two) == 2
    for a, b in zip(one, two, strict=True):
        fields = ["event", "FatJet_pt", "FatJet_n3b1", "PFCands_eta"]
        assert ak.array_equal(
            uproot.open(a)["Events"].arrays(fields), uproot.open(b)["Events"].arrays(fields)
        )


def test_extra_pythia_settings_change_the_shower_and_are_recorded(tmp_path: Path) -> None:
    kw = {"seed": 12, "pt_hat_min": 500.0, "pt_hat_max": 700.0, "progress": False}
    nominal = generate("qcd", 30, tmp_path / "n", **kw)
    fsr_up = generate("qcd", 30, tmp_path / "u", pythia=["TimeShower:renormMultFac = 0.25"], **kw)

    def n_constituents(files: list[Path]) -> int:
        return int(ak.sum(uproot.open(files[0])["Events"]["nPFCands"].array()))

    # a larger shower coupling radiates more: more particles in the same events
    assert n_constituents(fsr_up) > n_constituents(nominal)
    assert read_generator(nominal[0]) == {"isr": True, "mpi": False, "pythia": []}
    assert read_generator(fsr_up[0])["pythia"] == ["TimeShower:renormMultFac = 0.25"]
    with pytest.raises(ValueError, match="Pythia does not know the setting 'TimeShower:nope = 1'"):
        generate("qcd", 10, tmp_path / "x", pythia=["TimeShower:nope = 1"], **kw)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("pileup_mu=abc", "detector parameter pileup_mu: expected a number, got 'abc'"),
        ("hadron_scale=[1, 2]", "detector parameter hadron_scale: expected a number"),
        ("hcal_eta_scale=[[5, x]]", "hcal_eta_scale: expected a list of [|eta| edge, scale]"),
        ("name=ideal", "name 'ideal' is a preset's, but ["),
    ],
)
def test_bad_detector_settings_fail_before_any_event(
    tmp_path: Path, setting: str, message: str
) -> None:
    """Once a traceback mid-run (leaving a partial file), or a file recorded as 'ideal'."""
    from click.testing import CliRunner

    from jetplug.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["generate", "qcd", "-n", "5", "-o", str(out), "--set", setting]
    )
    assert result.exit_code != 0
    assert message in result.output.strip().splitlines()[-1]
    assert not out.exists()


def test_a_detector_file_changes_the_default_response(tmp_path: Path) -> None:
    """A YAML file of some keys: the rest are the default (realistic) response's, as documented."""
    path = tmp_path / "mine.yaml"
    path.write_text("hadron_scale: 0.97\n")
    mine, realistic = DetectorResponse.resolve(path), DetectorResponse.default()
    assert mine.name == "mine" and mine.hadron_scale == 0.97
    assert mine == dataclasses.replace(realistic, hadron_scale=0.97, name="mine")


def test_files_of_other_settings_are_not_replaced(tmp_path: Path) -> None:
    """File names hold process, seed and job only: another response once replaced them."""
    kw = {"seed": 5, "pt_hat_min": 500.0, "progress": False}
    (first,) = generate("qcd", 10, tmp_path, **kw)
    made = first.read_bytes()
    assert generate("qcd", 10, tmp_path, **kw) == [first]  # the same settings: rewritten
    shifted = DetectorResponse.default().with_overrides({"hadron_scale": 0.9})
    with pytest.raises(ValueError, match="exists and was made with other settings") as err:
        generate("qcd", 10, tmp_path, detector=shifted, **{**kw, "pt_hat_min": 300.0})
    assert str(err.value).startswith(f"{first} exists and was made with other settings (")
    assert "pT-hat window (500.0, None) -> (300.0, None)" in str(err.value)
    with pytest.raises(ValueError, match=r"generator .*'mpi': True"):
        generate("qcd", 10, tmp_path, mpi=True, **kw)
    assert len(first.read_bytes()) == len(made)  # untouched
