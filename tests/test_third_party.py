"""A third-party plugin package, installed like any other, is discovered and runs."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from jetplug import PluginHost
from jetplug.config import parse_config
from jetplug.runner import run


def test_example_package_is_an_installed_distribution_with_an_entry_point() -> None:
    dist = importlib.metadata.distribution("jetplug-example-plugin")
    eps = [ep for ep in dist.entry_points if ep.group == "jetplug"]
    assert [(ep.name, ep.value) for ep in eps] == [("example", "jetplug_example.plugin")]


def test_host_discovers_the_example_plugin(host: PluginHost) -> None:
    assert "example_multiplicity" in host.models
    assert host.models.package("example_multiplicity") == "jetplug-example-plugin"
    assert host.entry_point_distributions()["example"].startswith("jetplug-example-plugin==")


def test_example_plugin_runs_with_the_builtin_one(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    cfg = parse_config(
        {
            "fileset": {k: [str(f) for f in v] for k, v in generated.items()},
            "plugins": ["example_multiplicity", "top_bdt"],
            "histograms": {
                "both": {
                    "axes": [
                        {
                            "field": "FatJet.example_multiplicity.score",
                            "bins": 10,
                            "start": 0,
                            "stop": 1,
                        },
                        {"field": "FatJet.top_bdt.score", "bins": 10, "start": 0, "stop": 1},
                        {
                            "field": "FatJet.truthLabel",
                            "categories": [0, 1, 2, -1],
                            "name": "truth",
                        },
                    ]
                }
            },
        },
        base=tmp_path,
    )
    result = run(cfg, tmp_path / "out")
    h = result.hists["ttbar"]["both"]
    assert h.sum(flow=True) > 0
    names = [p["name"] for p in result.provenance["plugins"]]
    assert sorted(names) == ["example_multiplicity", "top_bdt"]
    assert result.provenance["plugin_packages"]["example"].startswith("jetplug-example-plugin")


def test_third_party_backend_is_selectable_per_plugin(real_data: Path, tmp_path: Path) -> None:
    host = PluginHost()
    assert host.backends.package("xgboost-dmatrix") == "jetplug-example-plugin"
    files = {"tt": [str(real_data / "nano_tt_v15.root")]}
    hists = {"s": {"axes": [{"field": "FatJet.top_bdt.score", "bins": 40, "start": 0, "stop": 1}]}}

    def config(backend: str) -> object:
        raw = {
            "fileset": files,
            "schema": "nanoaod",
            "histograms": hists,
            "plugins": [{"name": "top_bdt", "backend": backend}],
        }
        return parse_config(raw, base=tmp_path)

    ours = run(config("local"))  # type: ignore[arg-type]
    theirs = run(config("xgboost-dmatrix"))  # type: ignore[arg-type]
    assert theirs.provenance["plugins"][0]["backend"]["backend"] == "xgboost-dmatrix"
    assert (theirs.hists["tt"]["s"].values() == ours.hists["tt"]["s"].values()).all()
    assert ours.hists["tt"]["s"].sum() > 0
