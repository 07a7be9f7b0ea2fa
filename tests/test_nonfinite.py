"""NaN and infinite inputs: never plausible scores, never in a histogram bin, always counted.

The file is a copy of the real CMS ``nano_tt_v15.root`` (64 FatJets in 200
events) with four FatJets given a NaN or infinite input, two in each chunk
of 100 events.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from jetplug import ConfigError, InputSpec, PluginHost
from jetplug.chain import PluginChain
from jetplug.config import PluginConfig, load_config, parse_config
from jetplug.errors import ChunksFailedError
from jetplug.runner import run

from .helpers import copy_fatjets

BAD = {"tau1": {0: np.nan}, "msoftdrop": {1: np.inf}, "n2b1": {35: np.nan}, "tau2": {36: -np.inf}}
"""FatJet index in the file -> a non-finite input; 0 and 1 in entries [0, 100), 35 and 36 after."""
FIELDS_COUNTED = {"msoftdrop": 1, "n2b1": 1, "tau1": 1, "tau2": 1}
TAGGERS = ("top_bdt", "top_mlp")


@pytest.fixture(scope="module")
def nonfinite_file(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The copy of ``nano_tt_v15.root`` with the inputs of :data:`BAD`."""
    base = tmp_path_factory.mktemp("nonfinite")
    return copy_fatjets(real_data / "nano_tt_v15.root", base / "nonfinite.root", values=BAD)


def _config(tmp_path: Path, path: Path, plugins: list[Any]) -> Path:
    raw = {
        "fileset": {"tt": [str(path)]},
        "schema": "nanoaod",
        "chunksize": 100,
        "plugins": plugins,
        "histograms": {
            f"score_{name}": {
                "axes": [{"field": f"FatJet.{name}.score", "bins": 10, "start": 0, "stop": 1}]
            }
            for name in TAGGERS
        },
        "skims": {
            "jets": {
                "collection": "FatJet",
                "fields": [*BAD, *(f"{name}.score" for name in TAGGERS)],
                "format": "parquet",
            }
        },
    }
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config


def _events(path: Path) -> ak.Array:
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NanoEventsFactory.from_root(
            {str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager"
        ).events()


def _bad_rows(jets: ak.Array) -> np.ndarray:
    return ~np.all([np.isfinite(ak.to_numpy(jets[f])) for f in BAD], axis=0)


def test_run_gives_nan_scores_keeps_them_out_of_histograms_and_counts_them(
    tmp_path: Path, nonfinite_file: Path
) -> None:
    outdir = tmp_path / "out"
    config = _config(tmp_path, nonfinite_file, list(TAGGERS))
    cli = subprocess.run(
        [sys.executable, "-m", "jetplug", "run", "--no-plots", "-o", str(outdir), str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    # the scores of the four jets are NaN, every other score is a probability
    files = sorted((outdir / "skims" / "jets" / "tt").glob("*.parquet"))
    jets = ak.flatten(ak.concatenate([ak.from_parquet(f) for f in files]).FatJet)
    bad = _bad_rows(jets)
    assert bad.sum() == 4
    for name in TAGGERS:
        score = ak.to_numpy(jets[f"{name}_score"])
        assert np.isnan(score[bad]).all(), name
        assert ((score[~bad] >= 0) & (score[~bad] <= 1)).all(), name

    # no histogram bin holds them, the flow bins included
    from coffea.util import load

    hists = load(str(outdir / "histograms.coffea"))["tt"]
    for name in TAGGERS:
        assert hists[f"score_{name}"].values(flow=True).sum() == len(jets) - 4

    assert "objects with NaN/inf inputs: top_bdt 4 (propagate), top_mlp 4 (propagate)" in cli.stdout
    assert "histogram entries dropped for NaN: score_top_bdt 4, score_top_mlp 4" in cli.stdout

    prov = json.loads((outdir / "provenance.json").read_text())
    assert prov["nonfinite_objects"] == {"top_bdt": 4, "top_mlp": 4}
    assert prov["dropped_nan"] == {"score_top_bdt": 4, "score_top_mlp": 4}
    for entry in prov["plugins"]:
        assert entry["nonfinite"] == "propagate"
        assert entry["nonfinite_inputs"] == {
            "objects": 4,
            "fields": FIELDS_COUNTED,
            # tau1 = NaN gives tau21 = 0 (a ratio with tau1 <= 0 is 0): only inputs see it
            "tensors": {"features": 3},
        }
    first, second = prov["chunks_processed"]
    assert first["nonfinite"]["top_bdt"]["fields"] == {"msoftdrop": 1, "tau1": 1}
    assert second["nonfinite"]["top_mlp"]["fields"] == {"n2b1": 1, "tau2": 1}
    assert first["dropped_nan"] == {"score_top_bdt": 2, "score_top_mlp": 2}


def test_refuse_fails_the_chunk_naming_plugin_inputs_file_and_entries(
    tmp_path: Path, nonfinite_file: Path
) -> None:
    plugins = [{"name": "top_bdt", "nonfinite": "refuse"}, "top_mlp"]
    config = load_config(_config(tmp_path, nonfinite_file, plugins))
    with pytest.raises(ChunksFailedError) as err:
        run(config)
    failures = err.value.failures
    assert [f["plugin"] for f in failures] == ["top_bdt", "top_bdt"]
    assert failures[0]["error"] == (
        f"NonFiniteInputError: plugin 'top_bdt': 2 of 30 FatJet objects in {nonfinite_file} "
        "[entries 0-100) have NaN or infinite inputs (msoftdrop: 1, tau1: 1); the plugin's "
        "nonfinite policy is 'refuse' (with 'nonfinite: propagate' or 'mask' for it in the "
        "run config they get NaN outputs)"
    )
    assert "(tau2: 1, n2b1: 1)" in failures[1]["error"]
    assert "[entries 100-200)" in failures[1]["error"]


@pytest.mark.parametrize("plugin", TAGGERS)
def test_mask_sends_only_finite_objects_to_the_model(plugin: str, nonfinite_file: Path) -> None:
    from jetplug import NonFinite

    events = _events(nonfinite_file)
    host = PluginHost()
    propagated = PluginChain([PluginConfig(plugin)], host).apply(events)
    chain = PluginChain([PluginConfig(plugin, nonfinite="mask")], host)
    step = chain.steps[0]
    assert step.spec.inputs.nonfinite is NonFinite.MASK
    sent: list[int] = []
    infer = step.backend.infer

    def spy(spec: Any, tensors: Any) -> Any:
        sent.append(len(next(iter(tensors.values()))))
        return infer(spec, tensors)

    step.backend.infer = spy  # type: ignore[method-assign]
    masked = chain.apply(events)
    jets = ak.flatten(events.FatJet)
    bad = _bad_rows(jets)
    assert sent == [len(jets) - 4]
    score = ak.to_numpy(ak.flatten(masked.FatJet[plugin].score))
    same = ak.to_numpy(ak.flatten(propagated.FatJet[plugin].score))
    assert np.isnan(score[bad]).all()
    np.testing.assert_allclose(score[~bad], same[~bad], rtol=1e-6)
    assert chain.nonfinite_reports()[plugin]["objects"] == 4
    assert chain.nonfinite_reports() == {}  # reset by the call


def test_nan_in_constituents_gives_nan_not_a_constant_score(real_data: Path) -> None:
    from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        events = NanoEventsFactory.from_root(
            {str(real_data / "pfnano.root"): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
        ).events()
    # every constituent of the first FatJet of the first event with one gets eta = NaN
    event = int(np.flatnonzero(ak.to_numpy(ak.num(events.FatJet)) > 0)[0])
    table = events.FatJetPFCands[event]
    local = ak.to_numpy(table.pFCandsIdx[ak.to_numpy(table.jetIdx) == 0])
    offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(events.PFCands)))])
    eta = ak.to_numpy(ak.flatten(events.PFCands.eta)).copy()
    eta[offsets[event] + local] = np.nan
    cands = ak.with_field(events.PFCands, ak.unflatten(eta, ak.num(events.PFCands)), "eta")
    broken = ak.with_field(events, cands, "PFCands")
    first = int(ak.sum(ak.num(events.FatJet)[:event]))
    for plugin in ("top_cnn", "pfn"):
        clean = PluginChain([PluginConfig(plugin)], PluginHost()).apply(events)
        chain = PluginChain([PluginConfig(plugin)], PluginHost())
        out = chain.apply(broken)
        first_output = ak.fields(out.FatJet[plugin])[0]  # score, probs
        score = ak.to_numpy(ak.flatten(out.FatJet[plugin][first_output]))
        expected = ak.to_numpy(ak.flatten(clean.FatJet[plugin][first_output]))
        assert np.isnan(score[first]).all(), plugin
        others = np.arange(len(score)) != first
        np.testing.assert_allclose(score[others], expected[others], rtol=1e-5, atol=1e-6)
        report = chain.nonfinite_reports()[plugin]
        assert report["objects"] == 1
        assert report["fields"] == {"PFCands.eta": 1}


def test_histograms_drop_nan_entries_and_count_them() -> None:
    import hist

    from jetplug.config import parse_config as parse
    from jetplug.histograms import book, fill_entries

    raw = {
        "fileset": {"a": ["x.root"]},
        "histograms": {
            "h": {
                "weight": "w",
                "cuts": ["FatJet.pt > 10"],
                "axes": [{"field": "FatJet.score", "bins": 2, "start": 0, "stop": 1}],
            }
        },
    }
    cfg = parse(raw, base=Path("."), source="cfg.yaml").histograms[0]
    events = ak.Array(
        {
            "w": [1.0, np.nan, 2.0],
            "FatJet": [
                [{"pt": 20.0, "score": 0.2}, {"pt": 20.0, "score": np.nan}],
                [{"pt": 20.0, "score": 0.7}],  # weight NaN
                [{"pt": 5.0, "score": np.nan}, {"pt": 20.0, "score": np.inf}],  # cut, overflow
            ],
        }
    )
    h: hist.Hist[Any] = book(cfg)
    counted = fill_entries(h, cfg, events)
    assert (counted.filled, counted.nan) == (2, 2)
    assert h.values(flow=True).tolist() == [0.0, 1.0, 0.0, 2.0]  # inf: overflow, as before


def test_policy_is_declared_validated_and_overridable(tmp_path: Path) -> None:
    from jetplug import NonFinite

    assert InputSpec("FatJet").nonfinite is NonFinite.PROPAGATE
    assert InputSpec("FatJet", nonfinite="refuse").nonfinite is NonFinite.REFUSE  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"nonfinite 'sometimes' unknown; use one of"):
        InputSpec("FatJet", nonfinite="sometimes")  # type: ignore[arg-type]
    raw = {"fileset": {"a": ["x.root"]}, "plugins": [{"name": "top_bdt", "nonfinite": "drop"}]}
    with pytest.raises(
        ConfigError,
        match=r"plugins\[0\]\.nonfinite: 'drop' is not one of \['propagate', 'mask', 'refuse'\]",
    ):
        parse_config(raw, base=tmp_path, source="cfg.yaml")
    chain = PluginChain([PluginConfig("top_bdt", nonfinite="refuse")], PluginHost())
    assert chain.provenance()[0]["nonfinite"] == "refuse"


def test_masked_rows_get_nan_zero_or_false_and_propagate_leaves_bool_outputs() -> None:
    from jetplug import OutputSpec
    from jetplug.nonfinite import nan_outputs, scatter_rows

    keep = np.array([True, False, True])
    sent = {
        "y": np.array([0.5, 0.25], np.float32),
        "n": np.array([3, 4], np.int64),
        "ok": np.array([True, True]),
    }
    full = scatter_rows(sent, keep, 3)
    assert np.isnan(full["y"][1]) and full["y"][[0, 2]].tolist() == [0.5, 0.25]
    assert full["n"].tolist() == [3, 0, 4]
    assert full["ok"].tolist() == [True, False, True]
    outputs = (OutputSpec("y"), OutputSpec("n", "int64"), OutputSpec("ok", "bool"))
    columns = {"y": np.ones(3, np.float32), "n": np.ones(3, np.int64), "ok": np.ones(3, bool)}
    out = nan_outputs(columns, outputs, ~keep)
    assert np.isnan(out["y"][1]) and not np.isnan(out["y"][[0, 2]]).any()
    assert out["n"].tolist() == [1, 1, 1] and out["ok"].tolist() == [True, True, True]
    assert columns["y"].tolist() == [1.0, 1.0, 1.0]  # not modified in place


def test_a_plugin_on_two_collections_is_counted_per_instance(
    tmp_path: Path, nonfinite_file: Path
) -> None:
    """Counts are kept per instance (top_bdt@FatJet); the summary once looked them up by name."""
    from click.testing import CliRunner

    from jetplug.cli import main

    arrays = uproot.open(nonfinite_file)["Events"].arrays()
    jets = ak.zip(
        {f[len("FatJet_") :]: arrays[f] for f in arrays.fields if f.startswith("FatJet_")}
    )
    twice = tmp_path / "twice.root"  # the same jets once more as 'AK8', without the NaN
    clean = ak.zip(
        {f: ak.nan_to_num(jets[f], nan=0.5, posinf=0.5, neginf=0.5) for f in jets.fields}
    )
    data = {**{b: arrays[b] for b in ("run", "luminosityBlock", "event")}, "FatJet": jets}
    data["AK8"] = clean
    with uproot.recreate(twice) as f:
        f.mktree("Events", {k: v.type.content for k, v in data.items()}).extend(data)
    plugins = ["top_bdt", "top_mlp", {"name": "top_bdt", "collection": "AK8"}]
    config = _config(tmp_path, twice, plugins)
    outdir = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--no-plots", "-o", str(outdir), str(config)])
    assert result.exit_code == 0, result.output
    assert "objects with NaN/inf inputs: top_bdt@FatJet 4 (propagate), top_mlp 4" in result.output
    prov = json.loads((outdir / "provenance.json").read_text())
    counted = {e["label"]: e["nonfinite_inputs"].get("objects", 0) for e in prov["plugins"]}
    assert counted == {"top_bdt@FatJet": 4, "top_mlp": 4, "top_bdt@AK8": 0}


@pytest.mark.dask
@pytest.mark.slow
def test_counts_stay_with_their_chunk_on_a_multithreaded_dask_worker(
    tmp_path: Path, nonfinite_file: Path
) -> None:
    """Regression: the counters were the process's, so on a Dask worker running chunks in
    several threads (``dask worker``'s default) one chunk read and reset what another
    counted. Each chunk's record now equals the iterative executor's."""
    from distributed import LocalCluster

    raw = yaml.safe_load(_config(tmp_path, nonfinite_file, list(TAGGERS)).read_text())
    raw["chunksize"] = 5  # 40 chunks; FatJets 0, 1 fall in one of them, 35, 36 in another
    del raw["skims"]
    config = parse_config(raw, base=tmp_path)

    def per_chunk(result: Any) -> dict[tuple[int, int], Any]:
        return {(c["entrystart"], c["entrystop"]): c["nonfinite"] for c in result.chunks}

    reference = per_chunk(run(config))
    assert sum(1 for counts in reference.values() if counts) == 2
    with LocalCluster(
        n_workers=1, threads_per_worker=4, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        for _ in range(2):  # the threads interleave differently from run to run
            assert per_chunk(run(config, executor="dask", scheduler=cluster.scheduler_address)) == (
                reference
            )
