"""Simulation normalised to a luminosity from dataset metadata; data weighs one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hist
import numpy as np
import pytest
import uproot

from jetplug import ConfigError, InputFileError, MissingInputError
from jetplug.config import parse_config
from jetplug.runner import run

from .helpers import write_events

NPV = {"axes": [{"field": "PV.npvs", "integer": [0, 100], "name": "npvs"}]}
LUMI = 1000.0  # /pb


def _config(fileset: dict[str, Any], base: Path, **extra: Any) -> Any:
    raw = {"fileset": fileset, "schema": "nanoaod", "histograms": {"npvs": NPV}, **extra}
    return parse_config(raw, base=base)


def _events(path: Path, *branches: str) -> dict[str, np.ndarray]:
    return uproot.open(path)["Events"].arrays(list(branches), library="np")


def test_simulation_weighs_genweight_xsec_lumi_over_sumw_and_data_one(
    real_data: Path, tmp_path: Path
) -> None:
    dy, pf = real_data / "nano_dy.root", real_data / "pfnano.root"
    data = write_events(tmp_path / "data.root", "Events", dy, drop=("genWeight",))
    cfg = _config(
        {
            "dy": {"files": {str(dy): "Events"}, "metadata": {"xsec": 6077.22, "isMC": True}},
            "pf": {"files": [str(pf)], "metadata": {"xsec": 2.0, "is_mc": True}},
            "data": {"files": [str(data)], "metadata": {"isMC": False}},  # no genWeight at all
        },
        tmp_path,
        lumi=LUMI,
    )
    result = run(cfg, tmp_path / "out", plots=False)
    # nano_dy.root's Runs tree has the older genEventSumw_, pfnano.root's genEventSumw
    dy_sumw = float(uproot.open(dy)["Runs"]["genEventSumw_"].array(library="np").sum())
    pf_sumw = float(uproot.open(pf)["Runs"]["genEventSumw"].array(library="np").sum())
    for name, path, xsec, sumw in (("dy", dy, 6077.22, dy_sumw), ("pf", pf, 2.0, pf_sumw)):
        w = _events(path, "genWeight")["genWeight"].astype(np.float64) * xsec * LUMI / sumw
        h = result.hists[name]["npvs"]
        assert h.sum(flow=True).value == pytest.approx(w.sum(), rel=1e-6)
        assert h.sum(flow=True).variance == pytest.approx((w**2).sum(), rel=1e-6)
    h = result.hists["data"]["npvs"]
    assert isinstance(h.storage_type(), hist.storage.Weight)
    assert (h.sum(flow=True).value, h.sum(flow=True).variance) == (40, 40)

    record = json.loads((tmp_path / "out" / "provenance.json").read_text())["normalisation"]
    assert record["data"] == {
        "normalised": True,
        "type": "data",
        "lumi_pb": LUMI,
        "event_weight": "1",
    }
    assert record["pf"]["factor"] == pytest.approx(2.0 * LUMI / pf_sumw)
    assert record["dy"] | {"factor": None, "event_weight": None} == {
        "normalised": True,
        "type": "simulation",
        "lumi_pb": LUMI,
        "xsec_pb": 6077.22,
        "sumw": pytest.approx(dy_sumw),
        "sumw_from": "Runs.genEventSumw_ of 1 file",  # the branch the old file has
        "factor": None,
        "event_weight": None,
    }
    assert record["dy"]["event_weight"] == f"genWeight * {record['dy']['factor']!r}"


def test_a_histogram_weight_field_multiplies_the_normalisation(real_data: Path) -> None:
    pf = real_data / "pfnano.root"
    weighted = {"npvs": NPV | {"weight": "PV.npvs"}}
    fileset = {"pf": {"files": [str(pf)], "metadata": {"xsec": 2.0, "isMC": True}}}
    cfg = parse_config(
        {"fileset": fileset, "schema": "nanoaod", "histograms": weighted, "lumi": LUMI},
        base=real_data,
    )
    arrays = _events(pf, "genWeight", "PV_npvs")
    sumw = float(uproot.open(pf)["Runs"]["genEventSumw"].array(library="np").sum())
    expected = (arrays["PV_npvs"] * arrays["genWeight"]).sum() * 2.0 * LUMI / sumw
    assert run(cfg).hists["pf"]["npvs"].sum(flow=True).value == pytest.approx(expected)


def test_metadata_sumw_stands_in_for_a_missing_runs_tree(real_data: Path) -> None:
    v15 = real_data / "nano_tt_v15.root"  # has no Runs tree
    fileset: dict[str, Any] = {"tt": {"files": [str(v15)], "metadata": {"xsec": 10.0}}}
    with pytest.raises(InputFileError) as err:
        run(_config(fileset, real_data, lumi=LUMI))
    assert str(err.value) == (
        f"dataset 'tt', file {v15}: has no Runs tree, needed to normalise simulation to lumi; "
        "give the dataset's sum of generator weights as metadata sumw"
    )
    fileset["tt"]["metadata"]["sumw"] = 50.0
    result = run(_config(fileset, real_data, lumi=LUMI))
    genweight = _events(v15, "genWeight")["genWeight"].astype(np.float64)
    expected = genweight.sum() * 10.0 * LUMI / 50.0
    assert result.hists["tt"]["npvs"].sum(flow=True).value == pytest.approx(expected)
    assert result.provenance["normalisation"]["tt"]["sumw_from"] == "metadata sumw"


def test_simulation_without_genweight_is_refused_before_the_run(
    real_data: Path, tmp_path: Path
) -> None:
    data = write_events(
        tmp_path / "data.root", "Events", real_data / "nano_dy.root", drop=("genWeight",)
    )
    fileset = {"d": {"files": [str(data)], "metadata": {"xsec": 1.0, "isMC": True}}}
    with pytest.raises(
        MissingInputError,
        match=r"normalisation of simulation dataset 'd' needs field 'genWeight'.*isMC: false",
    ):
        run(_config(fileset, tmp_path, lumi=LUMI))


def test_without_lumi_nothing_is_normalised(real_data: Path) -> None:
    pf = real_data / "pfnano.root"
    cfg = _config({"pf": {"files": [str(pf)], "metadata": {"xsec": 2.0, "isMC": True}}}, real_data)
    result = run(cfg)
    h = result.hists["pf"]["npvs"]
    assert isinstance(h.storage_type(), hist.storage.Double)
    assert h.sum(flow=True) == 10
    assert result.provenance["normalisation"] == {
        "pf": {"normalised": False, "event_weight": "1 (no lumi in the run config)"}
    }


@pytest.mark.parametrize(
    ("metadata", "extra", "message"),
    [
        ({}, {}, r"fileset.s.metadata: with lumi given, each dataset says what it is"),
        ({"isMC": True}, {}, r"fileset.s.metadata: simulation needs xsec"),
        ({"isMC": "yes", "xsec": 1}, {}, r"fileset.s.metadata.isMC: expected true .* got 'yes'"),
        ({"isMC": True, "is_mc": False, "xsec": 1}, {}, r"isMC and is_mc disagree"),
        ({"isMC": False, "xsec": 1}, {}, r"xsec given for data"),
        ({"xsec": -1}, {}, r"fileset.s.metadata.xsec: expected a positive number, got -1"),
        ({"xsec": 1, "sumw": 0}, {}, r"fileset.s.metadata.sumw: expected a positive number"),
        (
            {"xsec": 1},
            {"histograms": {"npvs": NPV | {"weight": "genWeight"}}},
            r"histograms.npvs.weight: with lumi given, simulation is weighted by genWeight",
        ),
    ],
)
def test_metadata_that_cannot_be_normalised_is_refused(
    tmp_path: Path, metadata: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _config({"s": {"files": ["a.root"], "metadata": metadata}}, tmp_path, lumi=LUMI, **extra)


def test_lumi_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"lumi: the integrated luminosity in /pb, a positive"):
        _config({"s": ["a.root"]}, tmp_path, lumi=-1)
