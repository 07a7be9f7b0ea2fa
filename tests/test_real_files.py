"""The default BDT and the example plugin on the real CMS files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from jetplug import MissingInputError
from jetplug.config import parse_config
from jetplug.runner import run

FILES = ("pfnano.root", "nano_tt_v15.root", "nano_dy.root", "nano_dy_empty.root")


def _cfg(
    real_data: Path, files: dict[str, str], plugins: list[str], schema: str = "nanoaod"
) -> object:
    return parse_config(
        {
            "fileset": {k: [str(real_data / v)] for k, v in files.items()},
            "schema": schema,
            "plugins": plugins,
            "histograms": {
                f"{p}_score": {
                    "axes": [{"field": f"FatJet.{p}.score", "bins": 50, "start": 0, "stop": 1}]
                }
                for p in plugins
            },
        },
        base=real_data,
    )


@pytest.mark.parametrize("schema", ["nanoaod", "pfnano"])
def test_taggers_score_every_fatjet_of_all_four_files(real_data: Path, schema: str) -> None:
    files = {f.removesuffix(".root"): f for f in FILES}
    result = run(_cfg(real_data, files, ["top_bdt", "top_mlp"], schema))  # type: ignore[arg-type]
    assert not result.failed
    for name, f in files.items():
        n_jets = int(ak.sum(uproot.open(real_data / f)["Events"]["nFatJet"].array()))
        for plugin in ("top_bdt", "top_mlp"):
            h = result.hists[name][f"{plugin}_score"]
            assert h.sum(flow=True) == n_jets  # every FatJet scored
            assert h.sum(flow=False) == n_jets  # ... and all inside [0, 1]
    assert result.hists["nano_tt_v15"]["top_bdt_score"].sum() > 0
    assert result.hists["nano_dy_empty"]["top_bdt_score"].sum() == 0


def test_nconstituents_is_derived_on_pfnano(real_data: Path) -> None:
    result = run(_cfg(real_data, {"pf": "pfnano.root"}, ["example_multiplicity"], "pfnano"))  # type: ignore[arg-type]
    n_jets = int(ak.sum(uproot.open(real_data / "pfnano.root")["Events"]["nFatJet"].array()))
    assert result.hists["pf"]["example_multiplicity_score"].sum(flow=True) == n_jets


def test_derivation_matches_the_pf_table(real_data: Path) -> None:
    from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

    from jetplug.derivations import count_constituents

    events = NanoEventsFactory.from_root(
        {str(real_data / "pfnano.root"): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()
    derived = count_constituents(events, "FatJet")
    # reference: count the table's rows per jet, event by event
    jet_idx = ak.to_list(events.FatJetPFCands.jetIdx)
    n_jets = ak.to_list(ak.num(events.FatJet))
    expected = [[row.count(j) for j in range(n)] for row, n in zip(jet_idx, n_jets, strict=True)]
    assert ak.to_list(derived) == expected
    assert ak.sum(derived) == ak.sum(ak.num(events.FatJetPFCands))


def test_underivable_input_names_plugin_field_and_file(real_data: Path) -> None:
    with pytest.raises(MissingInputError) as err:
        run(_cfg(real_data, {"dy": "nano_dy.root"}, ["example_multiplicity"]))  # type: ignore[arg-type]
    msg = str(err.value)
    assert "plugin 'example_multiplicity' needs field 'FatJet.nConstituents'" in msg
    assert "nano_dy.root" in msg
    assert (
        "derivation 'count_constituents' would need branches ['nFatJetPFCands', 'FatJetPFCands_jetIdx']"
        in msg
    )


def test_branch_is_preferred_to_derivation(generated: dict[str, list[Path]]) -> None:
    """On generated files nConstituents is stored; the derivation gives the same numbers."""
    from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

    from jetplug.derivations import count_constituents

    events = NanoEventsFactory.from_root(
        {str(generated["ttbar"][0]): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()
    np.testing.assert_array_equal(
        ak.to_numpy(ak.flatten(count_constituents(events, "FatJet"))),
        ak.to_numpy(ak.flatten(events.FatJet.nConstituents)),
    )


@pytest.mark.parametrize("name", ["nano_dy.root", "nano_dy_empty.root"])
def test_failed_derivation_in_a_users_processor_names_plugin_and_field(
    real_data: Path, name: str
) -> None:
    """No preflight here (Plugins inside a processor): the derivation's failure is named in the
    file's terms (the branches it reads, the table these events lack), not awkward's."""
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    from jetplug import Plugins

    path = str(real_data / name)
    events = NanoEventsFactory.from_root(
        {path: "Events"}, schemaclass=NanoAODSchema, mode="eager"
    ).events()
    with pytest.raises(MissingInputError) as err:
        Plugins(["calib_bdt"])(events)  # reads nConstituents: this older NanoAOD has none
    msg = str(err.value)
    assert "plugin 'calib_bdt' needs field 'FatJet.nConstituents'" in msg
    assert "reads nFatJetPFCands, FatJetPFCands_jetIdx: these events have no FatJetPFCands" in msg
    assert "PFNano files have them" in msg
    assert "in record with" not in msg  # awkward's own wording


def _pfnano_run(real_data: Path, tmp_path: Path, **extra: object) -> object:
    raw: dict[str, object] = {
        "fileset": {"tt": [str(real_data / "pfnano.root")]},
        "schema": "pfnano",
        "chunksize": 5,
        "plugins": ["top_bdt"],
        "histograms": {
            "pt": {"axes": [{"field": "FatJet.pt", "bins": 10, "start": 0, "stop": 2000}]}
        },
    }
    return parse_config({**raw, **extra}, base=tmp_path)


def test_output_directory_in_the_way_fails_before_any_chunk(
    real_data: Path, tmp_path: Path
) -> None:
    from jetplug import JetplugError

    (tmp_path / "afile").write_text("not a directory")
    cfg = _pfnano_run(real_data, tmp_path)
    for out, why in (
        (tmp_path / "afile", "a file is in the way"),
        (tmp_path / "afile" / "sub", ""),
    ):
        with pytest.raises(JetplugError, match=f"output directory {out}: cannot create it.*{why}"):
            run(cfg, out)  # type: ignore[arg-type]


def test_reused_output_directory_holds_this_runs_outputs_only(
    real_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    skim = {"jets": {"collection": "FatJet", "fields": ["pt", "top_bdt.score"]}}
    plots = [{"type": "hist1d", "hist": "pt", "name": "old_plot"}]
    first = run(_pfnano_run(real_data, tmp_path, skims=skim, plots=plots), out)  # type: ignore[arg-type]
    assert (out / "plots" / "old_plot.png").is_file() and len(first.skims) == 2
    (out / "notes.txt").write_text("the user's own file")
    renamed = {"ttbar": [str(real_data / "pfnano.root")]}  # the dataset renamed, no plot
    second = run(_pfnano_run(real_data, tmp_path, fileset=renamed, skims=skim), out)  # type: ignore[arg-type]
    assert not (out / "plots" / "old_plot.png").exists()
    assert not (out / "skims" / "jets" / "tt").exists()  # the renamed dataset's old chunks
    assert sorted(out.glob("skims/**/*.parquet")) == sorted(second.skims)
    assert len(ak.from_parquet(out / "skims" / "jets")) == 10  # each event once
    assert (out / "notes.txt").read_text() == "the user's own file"


def test_histogram_of_several_numbers_per_object_is_refused(
    real_data: Path, tmp_path: Path
) -> None:
    from jetplug import ConfigError

    for field, cut in (("FatJet.part.probs", None), ("FatJet.pt", "FatJet.part > 0.5")):
        hist: dict[str, object] = {"axes": [{"field": field, "bins": 10, "start": 0, "stop": 1}]}
        if cut:
            hist["cuts"] = [cut]
        cfg = _pfnano_run(real_data, tmp_path, plugins=["part"], histograms={"h": hist})
        with pytest.raises(ConfigError, match="holds several numbers per FatJet") as err:
            run(cfg)  # type: ignore[arg-type]
        assert "FatJet.part.probs_top" in str(err.value)  # the columns to use instead


def test_the_same_calibrator_twice_on_one_events_array_is_refused(real_data: Path) -> None:
    from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

    from jetplug import Plugins

    path = str(real_data / "pfnano.root")
    events = NanoEventsFactory.from_root(
        {path: "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()
    chain = Plugins(["calib_ni", "calib_bdt"])(events)  # two calibrators in a chain: fine
    assert ak.all(chain.FatJet.pt_raw == events.FatJet.pt)
    calibrate = Plugins(["calib_ni"])
    with pytest.raises(ValueError, match="'calib_ni' already replaced these fields"):
        calibrate(calibrate(events))


def test_counter_branch_histograms_the_objects_per_event(real_data: Path, tmp_path: Path) -> None:
    """``nFatJet``: NanoAOD's counter, which NanoEvents hides; also for created collections."""
    path = real_data / "nano_tt_v15.root"
    cfg = parse_config(
        {
            "fileset": {"tt": [str(path)]},
            "schema": "nanoaod",
            "plugins": ["fastsim_gan"],
            "histograms": {
                "n": {"axes": [{"field": "nFatJet", "integer": [0, 5]}]},
                "n_fast": {"axes": [{"field": "nFastSimFatJet", "integer": [0, 5]}]},
            },
        },
        base=tmp_path,
    )
    result = run(cfg)  # type: ignore[arg-type]
    counts = uproot.open(path)["Events"]["nFatJet"].array(library="np")
    h = result.hists["tt"]
    np.testing.assert_array_equal(h["n"].values(), np.bincount(counts, minlength=5)[:5])
    assert h["n_fast"].sum(flow=True) == len(counts)  # one entry per event
    n_fast = (h["n_fast"].values() * np.arange(5)).sum()
    assert 0.5 * counts.sum() < n_fast < 1.5 * counts.sum()


def test_event_level_record_cuts_an_object_histogram(real_data: Path, tmp_path: Path) -> None:
    """``PuppiMET.pt`` (one per event) broadcasts to the FatJets; two lists are refused."""
    from jetplug import ConfigError

    path = real_data / "nano_tt_v15.root"
    axis = {"field": "FatJet.pt", "bins": 10, "start": 0, "stop": 3000}
    raw: dict[str, object] = {
        "fileset": {"tt": [str(path)]},
        "schema": "nanoaod",
        "histograms": {"pt_met": {"axes": [axis], "cuts": ["PuppiMET.pt > 50"]}},
    }
    result = run(parse_config(raw, base=tmp_path))
    events = uproot.open(path)["Events"]
    n_jets = events["nFatJet"].array(library="np")
    met = events["PuppiMET_pt"].array(library="np")
    assert result.hists["tt"]["pt_met"].sum(flow=True) == (n_jets * (met > 50)).sum()
    two = {"axes": [axis, {"field": "Jet.pt", "bins": 10, "start": 0, "stop": 3000}]}
    with pytest.raises(ConfigError, match=r"several collections \['FatJet', 'Jet'\]"):
        run(parse_config({**raw, "histograms": {"two": two}}, base=tmp_path))
