"""Calibrators: numerical inversion and ML regressions replace FatJet.pt and calibrate it."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

from jetplug import PluginHost, Plugins
from jetplug.spec import Kind
from jetplug.testing import PluginContract
from jetplug.validation.calibration import calibration_report, collect_calibration
from jetplug_calibration.inversion import ETA_EDGES, PT_EDGES, inversion_nodes

CALIBRATORS = ("calib_ni", "calib_bdt", "calib_pfn")


@pytest.fixture(scope="session")
def realistic(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A small QCD sample with the realistic detector response (the calibrators' response)."""
    from jetplug.generation import DetectorResponse, generate

    out = tmp_path_factory.mktemp("realistic")
    detector = DetectorResponse.preset("realistic")
    kw = {"workers": 1, "progress": False, "detector": detector}
    return [
        Path(p) for p in generate("qcd", 300, out, seed=901, pt_hat_min=500, pt_hat_max=900, **kw)
    ]


def test_calibrators_are_registered_as_calibrators(host: PluginHost) -> None:
    for name in CALIBRATORS:
        spec = host.spec(name)
        assert spec.kind is Kind.CALIBRATOR
        assert [o.name for o in spec.outputs] == ["pt"]
        assert spec.target.mode.value == "replace"


def test_inversion_recovers_a_known_response() -> None:
    rng = np.random.default_rng(3)
    gen = np.exp(rng.uniform(np.log(200), np.log(2500), 200_000))
    eta = rng.uniform(0, 2.5, len(gen))
    truth = 0.8 + 0.05 * np.log(gen / 200) - 0.04 * (eta > 1.3)  # rises with pT, lower endcap
    reco = gen * truth * (1 + 0.03 * rng.standard_normal(len(gen)))
    nodes, corr, counts = inversion_nodes(gen, reco, eta)
    assert nodes.shape == corr.shape == (len(ETA_EDGES) - 1, len(PT_EDGES) - 1)
    assert counts.sum() == len(gen)
    # the correction at a node is 1 / response of that bin's gen pT
    centre = np.exp(nodes[0]) / np.exp(-corr[0])
    expected = 0.8 + 0.05 * np.log(centre / 200)
    np.testing.assert_allclose(np.exp(-corr[0]), expected, rtol=0.01)
    assert np.all(np.diff(nodes, axis=1) > 0)


def test_calibrated_jets_respond_closer_to_one(realistic: list[Path]) -> None:
    table = collect_calibration(realistic, CALIBRATORS)
    assert len(table) > 300
    report = calibration_report(table, n_bootstrap=20)
    medians = {s["name"]: np.median(table.pt[s["name"]] / table.gen_pt) for s in report["summary"]}
    assert medians["raw"] < 0.975  # the realistic calorimeter responds below 1
    for name in CALIBRATORS:
        assert abs(medians[name] - 1) < 0.6 * abs(medians["raw"] - 1), (name, medians)
    assert {"light quark", "gluon", "b"} <= set(report["calibrators"]["raw"]["flavours"])


def test_replacement_keeps_the_file_value_and_chains(realistic: list[Path]) -> None:
    events = NanoEventsFactory.from_root(
        {str(realistic[0]): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()
    out = Plugins(["calib_ni", "calib_pfn"])(events)
    jets = out.FatJet
    np.testing.assert_array_equal(ak.flatten(jets.pt_raw), ak.flatten(events.FatJet.pt))
    # calib_pfn read calib_ni's output: the last step is FatJet.pt
    np.testing.assert_array_equal(ak.flatten(jets.pt), ak.flatten(jets.pt_calib_pfn))
    assert not np.allclose(ak.flatten(jets.pt_calib_ni), ak.flatten(jets.pt_raw))


def test_validate_calibration_section(realistic: list[Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from jetplug.cli import main

    files = [str(f) for f in realistic]
    result = CliRunner().invoke(
        main,
        ["validate", *files, "--section", "calibration", "-p", "calib_ni", "-p", "calib_bdt",
         "--n-bootstrap", "10", "--shifted", files[0], "-o", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = (tmp_path / "calibration.md").read_text()
    assert "| calib_ni |" in text and "| calib_bdt |" in text and "| raw |" in text
    assert (tmp_path / "plots" / "flavour_response.png").is_file()
    bad = CliRunner().invoke(
        main, ["validate", *files, "--section", "calibration", "-p", "top_bdt", "-o", str(tmp_path)]
    )
    assert bad.exit_code != 0
    assert "not calibrators" in bad.output


def test_shifted_sample_of_other_events_is_refused(
    realistic: list[Path], generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    """The shift is measured on the same events: other events once gave 'absorbed 101 %'."""
    from click.testing import CliRunner

    from jetplug.cli import main

    args = ["validate", *map(str, realistic), "--section", "calibration", "-p", "calib_ni"]
    other = str(generated["qcd"][0])
    result = CliRunner().invoke(main, [*args, "--shifted", other, "-o", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "error: --shifted holds other events than FILES (" in result.output


class TestInversionContract(PluginContract):
    plugin = "calib_ni"


class TestJetLevelContract(PluginContract):
    plugin = "calib_bdt"


class TestConstituentContract(PluginContract):
    plugin = "calib_pfn"


@pytest.mark.parametrize(
    ("name", "schema"),
    [("nano_tt_v15.root", "NanoAODSchema"), ("pfnano.root", "PFNanoAODSchema")],
)
def test_jet_level_calibrator_runs_on_cms_files(real_data: Path, name: str, schema: str) -> None:
    """NanoAOD v15 stores the energy fractions; on PFNano they come from the candidates."""
    from coffea import nanoevents

    events = NanoEventsFactory.from_root(
        {str(real_data / name): "Events"},
        schemaclass=getattr(nanoevents, schema),
        mode="eager",
    ).events()
    assert ("neHEF" in ak.fields(events.FatJet)) == (name == "nano_tt_v15.root")
    jets = Plugins(["calib_bdt"])(events).FatJet
    pt, raw = ak.to_numpy(ak.flatten(jets.pt)), ak.to_numpy(ak.flatten(jets.pt_raw))
    assert len(pt) == ak.sum(ak.num(events.FatJet)) > 0
    assert np.all(np.isfinite(pt)) and np.all((pt / raw > 0.7) & (pt / raw < 1.5))
