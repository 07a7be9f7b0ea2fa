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


@pytest.mark.parametrize("plugin", _constituent_plugins())
def test_constituent_plugins_on_official_nanoaod_v15_are_refused_clearly(
    real_data: Path, plugin: str
) -> None:
    path = real_data / "nano_tt_v15.root"
    assert "PFCand_pt" in set(uproot.open(path)["Events"].keys())  # v15 table, not PFNano
    cfg = parse_config(
        {"fileset": {"tt": [str(path)]}, "schema": "nanoaod", "plugins": [plugin]},
        base=real_data,
    )
    with pytest.raises(MissingInputError) as err:
        run(cfg)
    msg = str(err.value)
    assert "\n" not in msg
    assert f"plugin {plugin!r}" in msg
    assert str(path) in msg
    assert "official NanoAOD" in msg
    assert "PFCand table" in msg
    spec = PluginHost().spec(plugin).inputs.constituents
    assert spec is not None
    assert ("no PFCand_charge" in msg) == ("charge" in spec.fields)  # v15 stores no charge
    assert "PFNano tables FatJetPFCands and PFCands" in msg


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
