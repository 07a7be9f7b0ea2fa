"""The plugin contract admits every kind: calibrator, fast-sim, decorrelator, tagger."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

from jetplug import DependencyError, PluginHost
from jetplug.chain import PluginChain, execution_order
from jetplug.config import PluginConfig, parse_config
from jetplug.histograms import book, fill
from jetplug.plan import Plan
from jetplug.preflight import check_files

from .contract_plugins import (
    ContractPlugins,
    calib_factor,
    decorrelation_offset,
    fastsim_response,
    make_models,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, type]:
    return make_models(tmp_path_factory.mktemp("contract"))


@pytest.fixture
def contract_host(models: dict[str, type]) -> PluginHost:
    return PluginHost(plugins=[ContractPlugins(models)])


def _events(path: Path) -> ak.Array:
    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()


def test_dependency_order_runs_requirements_first(contract_host: PluginHost) -> None:
    names = ["score_decorrelator", "gen_fastsim", "top_bdt", "pt_calibrator"]
    order = [p.spec.name for p in execution_order([Plan(contract_host.spec(n)) for n in names])]
    assert order.index("score_decorrelator") > order.index("top_bdt")
    assert order.index("score_decorrelator") > order.index("pt_calibrator")


def test_missing_requirement_is_named(contract_host: PluginHost) -> None:
    with pytest.raises(DependencyError, match=r"'score_decorrelator' requires \['pt_calibrator'\]"):
        PluginChain([PluginConfig("score_decorrelator"), PluginConfig("top_bdt")], contract_host)


def test_every_kind_on_real_pfnano(contract_host: PluginHost, real_data: Path) -> None:
    events = _events(real_data / "pfnano.root")
    plugins = [
        PluginConfig(n) for n in ("score_decorrelator", "gen_fastsim", "top_bdt", "pt_calibrator")
    ]
    chain = PluginChain(plugins, contract_host)
    out = chain.apply(events)

    # outer structure is untouched
    assert len(out) == len(events)
    assert ak.all(ak.num(out.FatJet) == ak.num(events.FatJet))

    # calibrator replaced FatJet.pt and kept the raw value
    raw = ak.to_numpy(ak.flatten(out.FatJet.pt_raw))
    np.testing.assert_allclose(raw, ak.to_numpy(ak.flatten(events.FatJet.pt)))
    ratio = ak.to_numpy(ak.flatten(out.FatJet.pt)) / raw
    eta = ak.to_numpy(ak.flatten(events.FatJet.eta))
    np.testing.assert_allclose(ratio, calib_factor(raw, eta), rtol=0.02)

    # fast-sim created a collection with the gen jets' multiplicity
    assert ak.all(ak.num(out.FastSimFatJet) == ak.num(events.GenJetAK8))
    gen_pt = ak.to_numpy(ak.flatten(events.GenJetAK8.pt))
    gen_eta = ak.to_numpy(ak.flatten(events.GenJetAK8.eta))
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(out.FastSimFatJet.pt)) / gen_pt,
        fastsim_response(gen_pt, gen_eta),
        rtol=0.02,
    )

    # the tagger scored every jet; the decorrelator saw its score and the calibrated pt
    score = ak.to_numpy(ak.flatten(out.FatJet.top_bdt.score))
    assert np.all((score >= 0) & (score <= 1))
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(out.FatJet.score_decorrelator.pt_seen)),
        ak.to_numpy(ak.flatten(out.FatJet.pt)),
    )
    msd = ak.to_numpy(ak.flatten(events.FatJet.msoftdrop))
    expected = score - decorrelation_offset(msd, ak.to_numpy(ak.flatten(out.FatJet.pt)))
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(out.FatJet.score_decorrelator.score)), expected, atol=0.05
    )


def test_histograms_and_preflight_see_created_collections(
    contract_host: PluginHost, real_data: Path
) -> None:
    raw = {
        "fileset": {"pf": [str(real_data / "pfnano.root")]},
        "plugins": ["gen_fastsim", "pt_calibrator"],
        "histograms": {
            "fast_pt": {
                "axes": [{"field": "FastSimFatJet.pt", "bins": 10, "start": 0, "stop": 2000}]
            },
            "calib": {
                "axes": [{"field": "FatJet.pt_raw", "bins": 10, "start": 0, "stop": 2000}],
                "weight": "genWeight",
            },
        },
    }
    cfg = parse_config(raw, base=real_data)
    chain = PluginChain(cfg.plugins, contract_host)
    check_files(cfg, chain.specs, contract_host.derivations)  # passes: fields are provided
    events = chain.apply(_events(real_data / "pfnano.root"))
    for h_cfg in cfg.histograms:
        h = book(h_cfg)
        n = fill(h, h_cfg, events)
        assert n > 0
        if h_cfg.name == "fast_pt":
            assert n == int(ak.sum(ak.num(events.GenJetAK8)))
            assert h.sum(flow=True) == n
