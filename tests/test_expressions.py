"""Expression axes: safe parsing, clear errors, and histograms equal to the plugin's own ratio."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from jetplug.config import parse_config
from jetplug.errors import ConfigError, MissingInputError
from jetplug.expressions import ExpressionError, parse_expression
from jetplug.runner import run


def test_fields_and_evaluation_on_jagged_arrays() -> None:
    e = parse_expression("FatJet.a.p / (FatJet.a.p + FatJet.a.q) + 2 * abs(-x)")
    assert e.fields == ("FatJet.a.p", "FatJet.a.q", "x")
    values = {
        "FatJet.a.p": ak.Array([[0.2, 0.0], [], [0.5]]),
        "FatJet.a.q": ak.Array([[0.6, 0.0], [], [0.5]]),
        "x": ak.Array([1.0, 2.0, 3.0]),
    }
    out = e.evaluate(values.__getitem__)
    assert ak.num(out).tolist() == [2, 0, 1]
    flat = ak.to_numpy(ak.flatten(out))
    np.testing.assert_allclose(flat[[0, 2]], [0.25 + 2, 0.5 + 6])
    assert np.isnan(flat[1])  # 0/0 is NaN, not an exception


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("__import__('os').system('true')", "not allowed"),
        ("FatJet.pt.sum()", "not allowed"),
        ("FatJet.pt > 3", "not allowed"),
        ("FatJet.pt[0]", "not allowed"),
        ("1 + 2", "reads no field"),
        ("log", "is a function"),
        ("FatJet.pt +", "not an arithmetic expression"),
    ],
)
def test_refused_expressions_name_the_problem(text: str, needle: str) -> None:
    with pytest.raises(ExpressionError, match=needle):
        parse_expression(text)


def _config(tmp_path: Path, axis: dict[str, object], files: list[str]) -> dict[str, object]:
    return {
        "fileset": {"pf": files},
        "schema": "pfnano",
        "plugins": ["pfn"],
        "histograms": {"h": {"axes": [axis]}},
    }


def test_config_errors_name_the_axis(tmp_path: Path, real_data: Path) -> None:
    files = [str(real_data / "pfnano.root")]
    bad = {"expr": "FatJet.pt.max()", "name": "x", "bins": 5, "start": 0, "stop": 1}
    with pytest.raises(ConfigError, match=r"histograms\.h\.axes\[0\]\.expr.*not allowed"):
        parse_config(_config(tmp_path, bad, files), base=tmp_path)
    unnamed = {"expr": "FatJet.pt / 2", "bins": 5, "start": 0, "stop": 1}
    with pytest.raises(ConfigError, match="needs a 'name'"):
        parse_config(_config(tmp_path, unnamed, files), base=tmp_path)
    both = {
        "expr": "FatJet.pt",
        "field": "FatJet.pt",
        "name": "x",
        "bins": 5,
        "start": 0,
        "stop": 1,
    }
    with pytest.raises(ConfigError, match="exactly one of 'field'"):
        parse_config(_config(tmp_path, both, files), base=tmp_path)


def test_ratio_axis_matches_the_plugin_discriminant(tmp_path: Path, real_data: Path) -> None:
    """p_top / (p_top + p_QCD) from the config equals the plugin's own top_vs_qcd, bin by bin."""
    binning = {"bins": 40, "start": 0.0, "stop": 1.0}
    raw = {
        "fileset": {"pf": [str(real_data / "pfnano.root")]},
        "schema": "pfnano",
        "plugins": ["pfn"],
        "histograms": {
            "expr": {
                "axes": [
                    {
                        "expr": "FatJet.pfn.probs_top / (FatJet.pfn.probs_top + FatJet.pfn.probs_QCD)",
                        "name": "tvq",
                        **binning,
                    }
                ]
            },
            "field": {"axes": [{"field": "FatJet.pfn.top_vs_qcd", "name": "tvq", **binning}]},
        },
    }
    hists = run(parse_config(raw, base=tmp_path)).hists["pf"]
    expr, field = hists["expr"], hists["field"]
    assert field.sum(flow=True) == 24
    np.testing.assert_array_equal(expr.values(flow=True), field.values(flow=True))
    assert expr.axes[0].label.startswith("FatJet.pfn.probs_top /")


def test_missing_field_in_an_expression_fails_before_running(
    tmp_path: Path, real_data: Path
) -> None:
    from jetplug.errors import MissingInputError

    axis = {
        "expr": "FatJet.pfn.probs_top / FatJet.nosuch",
        "name": "r",
        "bins": 4,
        "start": 0,
        "stop": 1,
    }
    cfg = parse_config(_config(tmp_path, axis, [str(real_data / "pfnano.root")]), base=tmp_path)
    with pytest.raises(MissingInputError, match=r"FatJet\.nosuch"):
        run(cfg)


def test_cut_on_an_expression_equals_the_cuts_it_stands_for(
    tmp_path: Path, real_data: Path
) -> None:
    """``abs(FatJet.eta) < 1`` selects what ``FatJet.eta < 1`` and ``FatJet.eta > -1`` do."""
    axis = {"field": "FatJet.pt", "bins": 20, "start": 0, "stop": 2000}
    raw = {
        "fileset": {"tt": [str(real_data / "nano_tt_v15.root")]},
        "schema": "nanoaod",
        "histograms": {
            "expr": {"cuts": ["abs(FatJet.eta) < 1"], "axes": [axis]},
            "pair": {"cuts": ["FatJet.eta < 1", "FatJet.eta > -1"], "axes": [axis]},
            "all": {"axes": [axis]},
        },
    }
    hists = run(parse_config(raw, base=tmp_path)).hists["tt"]
    np.testing.assert_array_equal(hists["expr"].values(flow=True), hists["pair"].values(flow=True))
    assert 0 < hists["expr"].sum(flow=True) < hists["all"].sum(flow=True)
    bad = dict(raw, histograms={"h": {"cuts": ["FatJet.eta.max() < 1"], "axes": [axis]}})
    with pytest.raises(ConfigError, match=r"histograms\.h\.cuts\[0\]: 'FatJet\.eta\.max\(\) < 1'"):
        parse_config(bad, base=tmp_path)
    missing = dict(raw, histograms={"h": {"cuts": ["abs(FatJet.etta) < 1"], "axes": [axis]}})
    with pytest.raises(MissingInputError, match=r"FatJet\.etta"):
        run(parse_config(missing, base=tmp_path))
