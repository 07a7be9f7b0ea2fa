"""Datasets as users hold them: coffea filesets, per-file trees, RNTuple, official NanoAOD v15."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from jetplug import ConfigError, InputFileError, MissingInputError, PluginHost
from jetplug.config import load_config, parse_config
from jetplug.runner import run

from .helpers import write_events

NPV = {"axes": [{"field": "PV.npvs", "integer": [0, 100], "name": "npvs"}]}
SCORE = {"axes": [{"field": "FatJet.top_bdt.score", "bins": 10, "start": 0, "stop": 1}]}


def _config(tmp_path: Path, fileset: Any, **extra: Any) -> Path:
    raw = {"fileset": fileset, "schema": "nanoaod", "histograms": {"npvs": NPV}, **extra}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


# -- a. coffea's fileset format -------------------------------------------------------------


def test_coffea_datagroupspec_json_runs_like_the_short_form(
    real_data: Path, tmp_path: Path
) -> None:
    """A fileset written by coffea's dataset tools (steps, uuid, format...) in a JSON file."""
    from coffea.dataset_tools import DataGroupSpec

    dy, pf = str(real_data / "nano_dy.root"), str(real_data / "pfnano.root")
    spec = DataGroupSpec(
        {
            "dy": {
                "files": {
                    dy: {"object_path": "Events", "steps": [[0, 25], [25, 40]], "num_entries": 40}
                },
                "metadata": {"energy": 13.0},
            },
            "pf": {"files": [f"{pf}:Events"]},
        }
    )
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "datasets.json").write_text(json.dumps(spec.model_dump(mode="json")))
    coffea = load_config(_config(tmp_path, "sets/datasets.json"))
    short = parse_config(
        {"fileset": {"dy": [dy], "pf": [pf]}, "schema": "nanoaod", "histograms": {"npvs": NPV}},
        base=tmp_path,
    )
    assert [d.files for d in coffea.fileset] == [(dy,), (pf,)]
    assert coffea.fileset[0].metadata == {"energy": 13.0}
    a, b = run(coffea), run(short)
    for name in ("dy", "pf"):
        assert a.hists[name]["npvs"] == b.hists[name]["npvs"]
    assert a.hists["dy"]["npvs"].sum() == 40


def test_fileset_file_paths_are_relative_to_it_and_gzip_is_read(
    real_data: Path, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    write_events(tmp_path / "sub" / "dy.root", "Events", real_data / "nano_dy.root")
    with gzip.open(tmp_path / "sub" / "sets.json.gz", "wt") as f:
        json.dump({"dy": {"files": {"dy.root": "Events"}}}, f)
    cfg = load_config(_config(tmp_path, "sub/sets.json.gz"))
    assert cfg.fileset[0].files == (str(tmp_path / "sub" / "dy.root"),)


def test_per_file_tree_names_are_used(real_data: Path, tmp_path: Path) -> None:
    """``{files: {path: tree}}``: each file is read from its own tree (here not ``Events``)."""
    a = write_events(tmp_path / "a.root", "MyEvents", real_data / "nano_dy.root")
    b = write_events(tmp_path / "b.root", "Events", real_data / "nano_dy.root")
    cfg = load_config(_config(tmp_path, {"dy": {"files": {str(a): "MyEvents", str(b): None}}}))
    assert cfg.coffea_fileset()["dy"]["files"] == {str(a): "MyEvents", str(b): "Events"}
    result = run(cfg)
    assert result.hists["dy"]["npvs"].sum() == 80
    assert [f.entries for f in result.files] == [40, 40]


def test_a_wrong_tree_name_is_refused_naming_file_and_tree(real_data: Path, tmp_path: Path) -> None:
    a = write_events(tmp_path / "a.root", "MyEvents", real_data / "nano_dy.root")
    cfg = load_config(_config(tmp_path, {"dy": {"files": {str(a): {"object_path": "Evnts"}}}}))
    with pytest.raises(
        InputFileError, match=r"a\.root: has no tree 'Evnts' \(it has \['MyEvents'\]"
    ):
        run(cfg)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"object_path": "Events", "steps": [[0, 10]], "num_entries": 40},
            r"steps: cover entries 0-10 of the file's 40; jetplug processes whole files",
        ),
        (
            {"object_path": "Events", "steps": [[0, 10], [20, 40]], "num_entries": 40},
            r"steps: cover entries 0-10, 20-40 of the file's 40",
        ),
        ({"steps": [[0, 40]]}, r"steps: steps without num_entries"),
        ({"format": "parquet"}, r"format: 'parquet': jetplug reads ROOT files only"),
        ({"object_path": "Events", "treename": "x"}, r"unknown key\(s\) \['treename'\]"),
    ],
)
def test_file_entries_jetplug_cannot_honour_are_refused(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_config(_config(tmp_path, {"dy": {"files": {"dy.root": entry}}}))
    assert "fileset.dy.files['dy.root']" in str(err.value)


def test_reserved_metadata_and_json_duplicates_are_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"fileset.dy.metadata: key\(s\) \['dataset'\] are reserved"
    ):
        load_config(_config(tmp_path, {"dy": {"files": ["a.root"], "metadata": {"dataset": 1}}}))
    (tmp_path / "sets.json").write_text('{"dy": ["a.root"], "dy": ["b.root"]}')
    with pytest.raises(ConfigError, match=r"sets\.json: duplicate key\(s\) \['dy'\]"):
        load_config(_config(tmp_path, "sets.json"))
    with pytest.raises(ConfigError, match=r"fileset: fileset file .*nope\.json does not exist"):
        load_config(_config(tmp_path, "nope.json"))


# -- c. official NanoAOD v15 PF candidates ---------------------------------------------------


def _constituent_plugins() -> list[str]:
    host = PluginHost()
    return [
        n
        for n in host.models.names()
        if host.spec(n).inputs.constituents is not None and not n.startswith("example")
    ]


def _as_official_nanoaod(
    src: Path,
    path: Path,
    *,
    drop_jet: tuple[int, int] | None = None,
    drop_fields: tuple[str, ...] = (),
) -> Path:
    """``src`` (PFNano layout) rewritten with official NanoAOD v15's PF candidate tables.

    ``FatJetPFCand`` (``jetIdx``, ``pfCandIdx``) and a slim ``PFCand`` (``pt, eta,
    phi, mass, pdgId``: no charge); ``drop_jet=(event, jet)``: that FatJet's rows
    left out of ``FatJetPFCand`` (its ``nConstituents`` kept), as v15 does for some;
    ``drop_fields``: FatJet fields left out.
    """
    events = uproot.open(src)["Events"]
    arrays = events.arrays(
        [k for k in events.keys() if k.startswith(("FatJet_", "FatJetPFCands_", "PFCands_"))]  # noqa: SIM118
        + ["run", "luminosityBlock", "event", "genWeight"]
    )
    jet_idx, cand_idx = arrays["FatJetPFCands_jetIdx"], arrays["FatJetPFCands_pFCandsIdx"]
    if drop_jet is not None:
        event, jet = drop_jet
        in_event = ak.local_index(jet_idx, axis=0) == event
        keep = ~(in_event & (jet_idx == jet))
        jet_idx, cand_idx = jet_idx[keep], cand_idx[keep]
    data = {k: arrays[k] for k in ("run", "luminosityBlock", "event", "genWeight")}
    data["FatJet"] = ak.zip(
        {
            b[7:]: arrays[b]
            for b in arrays.fields
            if b.startswith("FatJet_") and b[7:] not in drop_fields
        }
    )
    data["FatJetPFCand"] = ak.zip({"jetIdx": jet_idx, "pfCandIdx": cand_idx})
    data["PFCand"] = ak.zip(
        {f: arrays[f"PFCands_{f}"] for f in ("pt", "eta", "phi", "mass", "pdgId")}
    )
    with uproot.recreate(path) as f:
        f.mktree("Events", {k: v.type.content for k, v in data.items()}).extend(data)
    return path


def test_charge_from_pdgid_is_cms_pfnano_charge(real_data: Path) -> None:
    from jetplug.plan import charge_from_pdgid

    tree = uproot.open(real_data / "pfnano.root")["Events"]
    pdgid = ak.to_numpy(ak.flatten(tree["PFCands_pdgId"].array()))
    charge = ak.to_numpy(ak.flatten(tree["PFCands_charge"].array()))
    assert {-211, -13, 1, 2, 11, 13, 22, 130, 211} <= set(pdgid.tolist())  # every kind there
    np.testing.assert_array_equal(charge_from_pdgid(pdgid), charge)


def test_constituent_plugins_read_official_nanoaod_tables_as_pfnano(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    """The same candidates in either layout give every constituent plugin the same outputs;
    a FatJet whose candidates the file does not store gets NaN, counted, not an empty-jet score."""
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    from jetplug import Plugins

    src = generated["ttbar"][0]
    official = _as_official_nanoaod(src, tmp_path / "v15.root")
    first = int(
        np.flatnonzero(ak.to_numpy(ak.num(uproot.open(src)["Events"]["FatJet_pt"].array())))[0]
    )
    partial = _as_official_nanoaod(src, tmp_path / "v15_partial.root", drop_jet=(first, 0))

    def events(path: Path) -> ak.Array:
        return NanoEventsFactory.from_root(
            {str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager"
        ).events()

    plugins = _constituent_plugins()
    assert {"part", "pfn", "calib_pfn", "top_cnn"} <= set(plugins)  # charge and no charge
    dropped = int(ak.sum(ak.num(events(src).FatJet[:first])))  # the first jet of event `first`
    for name in plugins:
        chain = Plugins([name])
        pfnano, v15, holes = (_outputs(chain, chain(events(p))) for p in (src, official, partial))
        nan = []  # outputs the jet without candidates gets as NaN (a kept original value stays)
        for path, want in pfnano.items():
            np.testing.assert_array_equal(v15[path], want, err_msg=f"{name}: {path}")
            got = holes[path]
            np.testing.assert_array_equal(np.delete(got, dropped, 0), np.delete(want, dropped, 0))
            assert np.isfinite(want[dropped]).all()
            if np.isnan(got[dropped]).all():
                nan.append(path)
            else:
                np.testing.assert_array_equal(got[dropped], want[dropped], err_msg=path)
        assert nan, name
        counts = chain.chain.steps[0].nonfinite_report()
        assert counts["objects"] == 1 and counts["fields"] == {"constituents not stored": 1}

    # training leaves such a jet out (it is no example of a jet)
    from jetplug.training.inputs import training_inputs

    part = PluginHost().spec("part")
    assert len(training_inputs([partial], part)) == len(training_inputs([src], part)) - 1
    # without FatJet_nConstituents nothing tells a jet without candidates from an empty one
    blind = _as_official_nanoaod(src, tmp_path / "v15_blind.root", drop_fields=("nConstituents",))
    with pytest.raises(
        MissingInputError, match=r"official NanoAOD \(v15\): FatJet_nConstituents\)"
    ):
        Plugins(["part"])(events(blind))


def _outputs(chain: Any, events: ak.Array) -> dict[str, np.ndarray]:
    """Every leaf output ``chain`` attached, flat per object."""
    from jetplug.columns import get_path

    out = {}
    for path in chain.outputs():
        node = get_path(events, path)
        leaves = {path: node} if not node.fields else {f"{path}.{f}": node[f] for f in node.fields}
        out |= {k: ak.to_numpy(ak.flatten(v, axis=1)) for k, v in leaves.items()}
    return out


def test_constituent_plugins_run_on_official_nanoaod_v15(real_data: Path) -> None:
    """CMS NanoAOD v15: PFCand without charge, none stored for 2 forward FatJets."""
    path = real_data / "nano_tt_v15.root"
    keys = set(uproot.open(path)["Events"].keys())
    assert "PFCand_pt" in keys and "PFCands_pt" not in keys and "PFCand_charge" not in keys
    cfg = parse_config(
        {
            "fileset": {"tt": [str(path)]},
            "schema": "nanoaod",
            "plugins": ["part", "top_cnn"],
            "histograms": {
                "part": {
                    "axes": [{"field": "FatJet.part.top_vs_qcd", "bins": 10, "start": 0, "stop": 1}]
                },
                "cnn": {
                    "axes": [{"field": "FatJet.top_cnn.score", "bins": 10, "start": 0, "stop": 1}]
                },
            },
        },
        base=real_data,
    )
    result = run(cfg)
    fatjets = uproot.open(path)["Events"].arrays(["FatJet_eta", "FatJet_nConstituents"])
    assert int(ak.sum(ak.num(fatjets["FatJet_eta"]))) == 64
    # the two FatJets beyond the tracker: no candidates stored
    assert result.provenance["nonfinite_objects"] == {"part": 2, "top_cnn": 2}
    assert result.hists["tt"]["part"].sum(flow=False) == 62  # NaN goes to no bin
    assert result.hists["tt"]["cnn"].sum(flow=False) == 62


def test_part_on_official_nanoaod_ranks_jets_as_cms_own_tagger(real_data: Path) -> None:
    """The candidates really are each jet's: on nano_tt_v15.root, part's top-vs-QCD ranks the
    62 scored FatJets as CMS's GloParT stored in the file does (Spearman 0.69; jets with
    scrambled candidates would give 0 +- 0.13)."""
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory
    from scipy.stats import spearmanr

    from jetplug import Plugins

    events = NanoEventsFactory.from_root(
        {str(real_data / "nano_tt_v15.root"): "Events"}, schemaclass=NanoAODSchema, mode="eager"
    ).events()
    jets = Plugins(["part"])(events).FatJet
    ours = ak.to_numpy(ak.flatten(jets.part.top_vs_qcd))
    cms = ak.to_numpy(ak.flatten(jets.globalParT3_withMassTopvsQCD))
    scored = np.isfinite(ours) & (cms >= 0)
    assert scored.sum() == 62
    assert spearmanr(ours[scored], cms[scored])[0] > 0.5


@pytest.mark.parametrize("plugin", ["part", "top_cnn"])
def test_constituent_plugins_without_any_candidate_table_are_refused_clearly(
    real_data: Path, plugin: str
) -> None:
    path = real_data / "nano_dy.root"  # NanoAOD without PF candidates
    cfg = parse_config(
        {"fileset": {"dy": [str(path)]}, "schema": "nanoaod", "plugins": [plugin]},
        base=real_data,
    )
    with pytest.raises(MissingInputError) as err:
        run(cfg)
    msg = str(err.value)
    assert "\n" not in msg
    assert f"plugin {plugin!r}" in msg and str(path) in msg
    assert "PFNano: FatJetPFCands_jetIdx, FatJetPFCands_pFCandsIdx" in msg
    assert "official NanoAOD (v15): FatJetPFCand_jetIdx, FatJetPFCand_pfCandIdx" in msg


# -- d. RNTuple input ------------------------------------------------------------------------


def test_rntuple_input_gives_the_ttrees_histograms(real_data: Path, tmp_path: Path) -> None:
    rnt = write_events(
        tmp_path / "pf_rntuple.root", "Events", real_data / "pfnano.root", rntuple=True
    )
    assert "RNTuple" in type(uproot.open(rnt)["Events"]).__name__
    tree = write_events(tmp_path / "pf_ttree.root", "Events", real_data / "pfnano.root")
    cfg = parse_config(
        {
            "fileset": {"rnt": [str(rnt)], "tree": [str(tree)]},
            "schema": "nanoaod",
            "plugins": ["top_bdt"],
            "histograms": {"npvs": NPV, "score": SCORE},
        },
        base=tmp_path,
    )
    result = run(cfg)
    n_jets = int(ak.sum(uproot.open(real_data / "pfnano.root")["Events"]["nFatJet"].array()))
    assert result.hists["rnt"]["score"].sum(flow=True) == n_jets > 0
    for name in ("npvs", "score"):
        assert np.array_equal(
            result.hists["rnt"][name].values(flow=True),
            result.hists["tree"][name].values(flow=True),
        )
