"""Regression tests of the plugin contract v2 (one per defect it fixed)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import xgboost as xgb
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory, PFNanoAODSchema

from jetplug import (
    ConfigError,
    DependencyError,
    FieldSpec,
    InputSpec,
    JetModel,
    MissingInputError,
    ModelInputs,
    ModelRegistry,
    PluginHost,
    Plugins,
    PluginUnavailableError,
    TensorSpecError,
    hookimpl,
    lazy_spec,
    load_model_metadata,
)
from jetplug.chain import PluginChain
from jetplug.chunk import ChunkContext
from jetplug.config import PluginConfig, parse_config
from jetplug.errors import error_context
from jetplug.preflight import check_files
from jetplug.runner import run

from .contract_plugins import ContractPlugins, calib_factor, make_models


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, type[JetModel]]:
    return make_models(tmp_path_factory.mktemp("contract_v2"))


@pytest.fixture
def chost(models: dict[str, type[JetModel]]) -> PluginHost:
    return PluginHost(plugins=[ContractPlugins(models)])


def _events(path: Path, schema: type = PFNanoAODSchema) -> ak.Array:
    """Eager events that name their file (per-object random numbers are keyed by it)."""
    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=schema, mode="eager", metadata={"filename": str(path)}
    ).events()


def _flat(array: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array, axis=None))


def _register(host: PluginHost, *models: type[JetModel]) -> None:
    class Extra:
        @hookimpl
        def jetplug_register_models(self, registry: ModelRegistry) -> None:
            for m in models:
                registry.add(m)

    host.register(Extra())


# -- 1. order follows reads and writes -------------------------------------------------------
@pytest.mark.parametrize(
    "order", [["pt_seen", "pt_calibrator"], ["pt_calibrator", "pt_seen"]], ids=["after", "before"]
)
def test_replacement_runs_before_readers_in_either_config_order(
    chost: PluginHost, real_data: Path, order: list[str]
) -> None:
    events = _events(real_data / "pfnano.root")
    out = Plugins(order, host=chost)(events)
    assert Plugins(order, host=chost).names == ["pt_calibrator", "pt_seen"]
    raw = _flat(events.FatJet.pt)
    eta = _flat(events.FatJet.eta)
    # the tagger saw the calibrated pT, as the histograms do
    np.testing.assert_allclose(_flat(out.FatJet.pt_seen.pt), _flat(out.FatJet.pt))
    np.testing.assert_allclose(_flat(out.FatJet.pt) / raw, calib_factor(raw, eta), rtol=0.02)


def test_dependency_cycle_names_each_edge(chost: PluginHost) -> None:
    def reader(name: str, reads: str) -> type[JetModel]:
        base = chost.spec("pt_seen")
        spec = dataclasses.replace(
            base,
            name=name,
            inputs=InputSpec("FatJet", (FieldSpec(f"{reads}.pt"), FieldSpec("eta"))),
        )
        return type(name, (chost.model_class("pt_seen"),), {"spec": spec})

    _register(chost, reader("ping", "pong"), reader("pong", "ping"))
    with pytest.raises(DependencyError, match="cycle") as info:
        PluginChain([PluginConfig("ping"), PluginConfig("pong")], chost)
    assert "'ping' reads FatJet.pong.pt, which 'pong' writes" in str(info.value)
    assert "'pong' reads FatJet.ping.pt, which 'ping' writes" in str(info.value)


# -- 2. chained replacements keep every step ---------------------------------------------------
def test_chained_calibrations_keep_original_and_each_step(
    chost: PluginHost, real_data: Path
) -> None:
    events = _events(real_data / "pfnano.root")
    out = Plugins(["pt_seen", "pt_calibrator", "pt_calibrator2"], host=chost)(events)
    raw, eta = _flat(events.FatJet.pt), _flat(events.FatJet.eta)
    np.testing.assert_array_equal(_flat(out.FatJet.pt_raw), raw)
    step1 = _flat(out.FatJet.pt_pt_calibrator)
    step2 = _flat(out.FatJet.pt_pt_calibrator2)
    np.testing.assert_allclose(step1 / raw, calib_factor(raw, eta), rtol=0.02)
    # config order chains the two calibrators: the second reads the first's output
    f2 = 0.5 * (1 + calib_factor(step1, eta))
    np.testing.assert_allclose(step2 / step1, f2, rtol=0.02)
    np.testing.assert_array_equal(_flat(out.FatJet.pt), step2)
    np.testing.assert_array_equal(_flat(out.FatJet.pt_seen.pt), step2)


# -- 3. created collections: behaviour, efficiency, ranking, reproducible randomness ----------
def test_created_collection_has_behaviour_efficiency_and_ranking(
    chost: PluginHost, real_data: Path
) -> None:
    events = _events(real_data / "pfnano.root")
    out = Plugins(["smear_fastsim"], host=chost)(events)
    jets = out.SmearedJet
    n_gen, n_new = int(ak.sum(ak.num(events.GenJetAK8))), int(ak.sum(ak.num(jets)))
    assert 0 < n_new < n_gen  # the efficiency dropped some jets
    assert ak.all(ak.num(jets) <= ak.num(events.GenJetAK8))
    pts = ak.to_list(jets.pt)
    assert all(row == sorted(row, reverse=True) for row in pts)  # re-ranked by pt
    # sourceIdx points back at the gen jet each one came from
    gen = events.GenJetAK8[jets.sourceIdx]
    np.testing.assert_allclose(_flat(jets.eta), _flat(gen.eta), rtol=1e-6)
    # four-vector behaviour: delta_r and sums work
    dr = jets.delta_r(gen)
    assert np.all(_flat(dr) < 1e-5)
    pair = ak.combinations(jets, 2)
    masses = _flat((pair["0"] + pair["1"]).mass)
    assert len(masses) > 0 and np.all(np.isfinite(masses))


def test_random_numbers_do_not_depend_on_chunking(chost: PluginHost, real_data: Path) -> None:
    events = _events(real_data / "pfnano.root")
    chain = Plugins(["smear_fastsim"], host=chost).chain
    whole = chain.apply(events, chunk=ChunkContext(file="pfnano.root", entrystop=10))
    parts = [
        chain.apply(events[a:b], chunk=ChunkContext(file="pfnano.root", entrystart=a, entrystop=b))
        for a, b in ((0, 3), (3, 7), (7, 10))
    ]
    split_pt = np.concatenate([_flat(p.SmearedJet.pt) for p in parts])
    np.testing.assert_array_equal(_flat(whole.SmearedJet.pt), split_pt)
    # a different seed gives different numbers
    other = Plugins([{"name": "smear_fastsim", "seed": 7}], host=chost).chain
    reseeded = other.apply(events, chunk=ChunkContext(file="pfnano.root", entrystop=10))
    assert not np.array_equal(
        _flat(ak.fill_none(ak.pad_none(reseeded.SmearedJet.pt, 4, clip=True), 0)),
        _flat(ak.fill_none(ak.pad_none(whole.SmearedJet.pt, 4, clip=True), 0)),
    )


def test_random_numbers_same_on_executors_and_chunk_sizes(
    chost: PluginHost, real_data: Path, tmp_path: Path
) -> None:
    totals = []
    for executor, chunksize in (("iterative", 3), ("futures", 4), ("iterative", 100)):
        raw = {
            "fileset": {"pf": [str(real_data / "pfnano.root")]},
            "chunksize": chunksize,
            "plugins": ["smear_fastsim"],
            "histograms": {
                "pt": {"axes": [{"field": "SmearedJet.pt", "bins": 50, "start": 0, "stop": 2e3}]}
            },
        }
        cfg = parse_config(raw, base=tmp_path)
        result = run(cfg, None, executor=executor, workers=2, host=chost)
        totals.append(result.hists["pf"]["pt"].values(flow=True))
    np.testing.assert_array_equal(totals[0], totals[1])
    np.testing.assert_array_equal(totals[0], totals[2])


# -- 4. finalize receives the prepared tensors -------------------------------------------------
def test_finalize_sees_input_and_output_tensors(
    chost: PluginHost, real_data: Path, models: dict[str, type[JetModel]]
) -> None:
    events = _events(real_data / "pfnano.root")
    out = Plugins(["recon_error"], host=chost)(events)
    pt, eta = _flat(events.FatJet.pt), _flat(events.FatJet.eta)
    booster = xgb.Booster(model_file=str(models["recon_error"].spec.artifact.path))
    recon = booster.inplace_predict(np.stack([pt, eta], axis=1).astype(np.float32))
    np.testing.assert_allclose(_flat(out.FatJet.recon_error.score), np.abs(pt - recon), rtol=1e-5)


# -- 5. re-targeting from the run config ---------------------------------------------------------
def test_calibrator_retargeted_to_ak4_jets(chost: PluginHost, real_data: Path) -> None:
    events = _events(real_data / "nano_tt_v15.root", NanoAODSchema)
    out = Plugins([{"name": "pt_calibrator", "collection": "Jet"}], host=chost)(events)
    raw, eta = _flat(events.Jet.pt), _flat(events.Jet.eta)
    np.testing.assert_array_equal(_flat(out.Jet.pt_raw), raw)
    inside = raw > 150  # the calibration was trained on 150-1500 GeV
    ratio = _flat(out.Jet.pt)[inside] / raw[inside]
    np.testing.assert_allclose(ratio, calib_factor(raw, eta)[inside], rtol=0.02)
    np.testing.assert_array_equal(_flat(out.FatJet.pt), _flat(events.FatJet.pt))  # untouched


def test_tagger_retargeted_to_a_created_collection(chost: PluginHost, real_data: Path) -> None:
    raw = {
        "fileset": {"pf": [str(real_data / "pfnano.root")]},
        "plugins": [
            {"name": "pt_seen", "collection": "SmearedJet"},  # listed first: order is inferred
            "smear_fastsim",
        ],
        "histograms": {
            "seen": {
                "axes": [{"field": "SmearedJet.pt_seen.pt", "bins": 20, "start": 0, "stop": 2e3}]
            }
        },
    }
    cfg = parse_config(raw, base=real_data)
    chain = PluginChain(cfg.plugins, chost)
    assert [s.name for s in chain.specs] == ["smear_fastsim", "pt_seen"]
    check_files(cfg, chain.specs, chost.derivations)  # preflight knows SmearedJet.pt_seen
    out = chain.apply(_events(real_data / "pfnano.root"))
    np.testing.assert_array_equal(_flat(out.SmearedJet.pt_seen.pt), _flat(out.SmearedJet.pt))


# -- 6. declared options ------------------------------------------------------------------------
def test_option_typos_fail_with_did_you_mean(chost: PluginHost) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown option\(s\) 'resolutoin' \(did you mean 'resolution'"
    ):
        Plugins([{"name": "smear_fastsim", "options": {"resolutoin": 0.1}}], host=chost)
    with pytest.raises(ConfigError, match=r"'ulr' \(did you mean 'url'\?\)"):
        Plugins(
            [{"name": "top_bdt", "backend": "triton", "backend_options": {"ulr": "h:1"}}],
            host=chost,
        )
    with pytest.raises(ConfigError, match="'device' is an option of backend 'torch'"):
        Plugins([{"name": "top_mlp", "options": {"device": "cuda"}}], host=chost)
    with pytest.raises(ConfigError, match="option 'resolution': could not convert"):
        Plugins([{"name": "smear_fastsim", "options": {"resolution": "wide"}}], host=chost)
    chain = Plugins([{"name": "smear_fastsim", "options": {"resolution": "0.1"}}], host=chost).chain
    assert chain.steps[0].model.options == {"resolution": 0.1}


# -- 7. tensors checked against the spec --------------------------------------------------------
@pytest.mark.parametrize(
    ("tensors", "message"),
    [
        ({"features": np.zeros((1, 2), np.float32)}, r"missing \['x'\]; undeclared \['features'\]"),
        ({"x": np.zeros((1, 3), np.float32)}, r"'x' with shape \(\d+, 3\), declared \(n, 2\)"),
        ({"x": np.zeros((1, 2), "<U2")}, "'x' with dtype <U2, declared float32"),
    ],
)
def test_prepare_output_is_checked(
    chost: PluginHost, real_data: Path, tensors: dict[str, np.ndarray], message: str
) -> None:
    base = chost.model_class("pt_seen")

    class Wrong(base):  # type: ignore[misc,valid-type]
        spec = dataclasses.replace(base.spec, name="wrong")

        def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
            n = len(inputs)
            return {k: np.resize(v, (n, *v.shape[1:])) for k, v in tensors.items()}

    _register(chost, Wrong)
    with pytest.raises(TensorSpecError, match=f"plugin 'wrong': prepare\\(\\) returned.*{message}"):
        Plugins(["wrong"], host=chost)(_events(real_data / "pfnano.root"))


def test_plugin_cannot_write_into_the_events(chost: PluginHost, real_data: Path) -> None:
    """Input fields are views of the events' buffers: writing into them is refused."""
    base = chost.model_class("pt_seen")

    class Scribbler(base):  # type: ignore[misc,valid-type]
        spec = dataclasses.replace(base.spec, name="scribbler")

        def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
            for values in inputs.fields.values():
                values *= 0
            return super().prepare(inputs)  # type: ignore[no-any-return]

    _register(chost, Scribbler)
    events = _events(real_data / "pfnano.root")
    before = _flat(events.FatJet.pt).copy()
    with pytest.raises(ValueError, match="read-only") as info:
        Plugins(["scribbler"], host=chost)(events)
    assert any("scribbler" in note for note in info.value.__notes__)
    np.testing.assert_array_equal(_flat(events.FatJet.pt), before)


def test_reading_an_output_of_a_plugin_not_in_the_run_says_so(
    chost: PluginHost, real_data: Path, tmp_path: Path
) -> None:
    base = chost.model_class("score_decorrelator")

    class Orphan(base):  # type: ignore[misc,valid-type]
        spec = dataclasses.replace(base.spec, name="orphan", requires=())

    _register(chost, Orphan)
    raw = {"fileset": {"pf": [str(real_data / "pfnano.root")]}, "plugins": ["orphan"]}
    with pytest.raises(MissingInputError) as err:
        run(parse_config(raw, base=tmp_path), host=chost)
    assert str(err.value).endswith(
        "(an output of plugin 'top_bdt', which does not run before it: list 'top_bdt' in the "
        "run's plugins and in this plugin's 'requires')"
    )


def test_an_interrupted_run_leaves_the_previous_results_whole(
    chost: PluginHost, real_data: Path, tmp_path: Path
) -> None:
    """Ctrl-C during a rerun once left only the new run's first skims: the old outputs,
    provenance and skims had been removed before any chunk ran."""
    base = chost.model_class("pt_seen")

    class Interrupted(base):  # type: ignore[misc,valid-type]
        spec = dataclasses.replace(base.spec, name="interrupted")

        def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
            if inputs.chunk is not None and inputs.chunk.entrystart > 0:
                raise KeyboardInterrupt  # the user's Ctrl-C, in the second chunk
            return super().prepare(inputs)  # type: ignore[no-any-return]

    _register(chost, Interrupted)
    path = str(real_data / "nano_tt_v15.root")
    skims = {"jets": {"collection": "FatJet", "fields": ["pt"]}}
    hist = {"pt": {"axes": [{"field": "FatJet.pt", "bins": 5, "start": 0, "stop": 1e3}]}}
    raw = {"fileset": {"tt": [path]}, "chunksize": 50, "skims": skims, "histograms": hist}
    outdir = tmp_path / "out"
    run(parse_config({**raw, "plugins": ["pt_seen"]}, base=tmp_path), outdir, host=chost)
    before = {p: p.read_bytes() for p in outdir.rglob("*") if p.is_file()}
    assert len([p for p in before if p.suffix == ".parquet"]) == 4
    again = {**raw, "fileset": {"tt2": [path]}, "plugins": ["interrupted"]}
    with pytest.raises(KeyboardInterrupt):
        run(parse_config(again, base=tmp_path), outdir, host=chost)
    after = {p: p.read_bytes() for p in outdir.rglob("*") if p.is_file()}
    assert after == before  # nothing of the interrupted run, nothing of the last one lost
    assert [p.name for p in outdir.iterdir() if p.name.startswith(".jetplug-run-")] == []


# -- 8. a plugin whose model is not trained yet --------------------------------------------------
def test_missing_artifact_makes_one_plugin_unavailable(tmp_path: Path) -> None:
    model = tmp_path / "untrained.ubj"

    class Untrained(JetModel):
        spec = lazy_spec(
            "untrained",
            lambda: dataclasses.replace(
                PluginHost().spec("top_bdt"),
                name="untrained",
                version=load_model_metadata(model)["version"],
            ),
        )

        def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
            raise NotImplementedError

    host = PluginHost()
    _register(host, Untrained)
    rows = {r.name: r for r in host.describe()}
    assert "untrained.json is missing" in rows["untrained"].problem
    assert rows["top_bdt"].problem == ""
    with pytest.raises(PluginUnavailableError, match=r"plugin 'untrained'.*unavailable.*missing"):
        Plugins(["untrained"], host=host)
    Plugins(["top_bdt"], host=host)  # everything else keeps working


def _installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package: str, entry: str, module: str
) -> None:
    """An installed distribution ``package`` whose ``jetplug`` entry point loads ``module``."""
    dist = tmp_path / f"{package.replace('-', '_')}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[jetplug]\n{entry} = {entry}_mod\n")
    (tmp_path / f"{entry}_mod.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_broken_entry_point_is_listed_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _installed(
        tmp_path,
        monkeypatch,
        "broken-plugin",
        "broken",
        "raise RuntimeError('model file missing')\n",
    )
    host = PluginHost()
    assert "RuntimeError: model file missing" in host.problems["broken"]
    assert "top_bdt" in host.models
    with pytest.raises(Exception, match="unknown plugin 'brokn'") as info:
        host.spec("brokn")
    assert any("entry point 'broken' is not loaded" in n for n in info.value.__notes__)
    from click.testing import CliRunner

    from jetplug.cli import main

    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "unavailable: broken: broken-plugin" in result.output
    assert "top_bdt" in result.output
    monkeypatch.delitem(sys.modules, "broken_mod", raising=False)


def test_installed_plugin_with_a_broken_spec_is_listed_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec that fails to build or validate makes its plugin unavailable, not every command."""
    module = (
        "import dataclasses\n"
        "from jetplug import JetModel, PluginHost, hookimpl, lazy_spec\n"
        "def _keyerror():\n"
        "    return {}['sha256']\n"
        "def _self():\n"
        "    from jetplug_taggers.top_bdt import TopBDT\n"
        "    return dataclasses.replace(TopBDT.spec, name='loops', requires=('loops',))\n"
        "class KeyErr(JetModel):\n"
        "    spec = lazy_spec('keyerr', _keyerror)\n"
        "class Loops(JetModel):\n"
        "    spec = lazy_spec('loops', _self)\n"
        "@hookimpl\n"
        "def jetplug_register_models(registry):\n"
        "    registry.add(KeyErr)\n"
        "    registry.add(Loops)\n"
    )
    _installed(tmp_path, monkeypatch, "bad-specs", "bad_specs", module)
    host = PluginHost()
    rows = {r.name: r for r in host.describe()}
    assert "its spec could not be built: KeyError: 'sha256'" in rows["keyerr"].problem
    assert "a plugin cannot require itself" in rows["loops"].problem
    with pytest.raises(PluginUnavailableError, match=r"plugin 'keyerr' \(from bad-specs\)"):
        Plugins(["keyerr"], host=host)
    Plugins(["top_bdt"], host=host)  # everything else keeps working
    from click.testing import CliRunner

    from jetplug.cli import main

    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "keyerr" in result.output and "top_bdt" in result.output
    monkeypatch.delitem(sys.modules, "bad_specs_mod", raising=False)


# -- 9. one host per run, carried to the workers --------------------------------------------------
@pytest.mark.slow
def test_hand_registered_plugins_run_in_worker_processes(
    chost: PluginHost, real_data: Path, tmp_path: Path
) -> None:
    raw = {
        "fileset": {"pf": [str(real_data / "pfnano.root")]},
        "chunksize": 4,
        "plugins": ["pt_seen", "pt_calibrator"],
        "histograms": {
            "seen": {"axes": [{"field": "FatJet.pt_seen.pt", "bins": 20, "start": 0, "stop": 3e3}]}
        },
    }
    cfg = parse_config(raw, base=tmp_path)
    result = run(cfg, tmp_path / "out", executor="futures", workers=2, host=chost)
    assert not result.failed and result.events == 10
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert prov["workers_ran"]["same_as_driver"] is True
    assert [p["name"] for p in prov["plugins"]] == ["pt_calibrator", "pt_seen"]


# -- 10. errors keep their type and say where -----------------------------------------------------
def test_errors_keep_type_and_gain_a_note(chost: PluginHost, real_data: Path) -> None:
    base = chost.model_class("pt_seen")

    class Fails(base):  # type: ignore[misc,valid-type]
        spec = dataclasses.replace(base.spec, name="fails")

        def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
            return {"x": np.full((len(inputs), 2), 1 / 0, np.float32)}

    _register(chost, Fails)
    path = str(real_data / "pfnano.root")
    metadata = {"dataset": "pf", "filename": path, "entrystart": 0, "entrystop": 10}
    events = NanoEventsFactory.from_root(
        {path: "Events"}, schemaclass=PFNanoAODSchema, mode="eager", metadata=metadata
    ).events()
    with pytest.raises(ZeroDivisionError) as info:
        Plugins(["fails"], host=chost)(events)
    note = " ".join(info.value.__notes__)
    assert "plugin 'fails' (prepare), dataset 'pf', file " in note
    assert "pfnano.root, entries [0, 10)" in note
    assert error_context(info.value)["plugin"] == "fails"


def test_plugins_object_pickles_and_reports(chost: PluginHost, real_data: Path) -> None:
    import cloudpickle

    plugins = Plugins(["pt_seen", "pt_calibrator"], host=chost)
    clone = cloudpickle.loads(cloudpickle.dumps(plugins))
    assert clone.chain is plugins.chain  # same process: the cached chain
    assert "FatJet.pt_raw" in plugins.outputs() and "FatJet.pt_seen.pt" in plugins.outputs()
    assert [p["name"] for p in plugins.provenance()] == ["pt_calibrator", "pt_seen"]
