"""The kit for plugin authors: synthetic chunks, run_plugin, PluginContract, ``jetplug check``."""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Callable
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from click.testing import CliRunner

from jetplug import JetModel, PluginHost, load_model_metadata, write_model_metadata
from jetplug.artifacts import metadata_path
from jetplug.cli import main
from jetplug.synthetic import synthetic_events, write_synthetic
from jetplug.testing import PluginContract, events_from_file, model_inputs, run_plugin

from .contract_plugins import ContractPlugins, calib_factor, make_models


def kit_args() -> list[str]:
    """``-p jetplug.testing`` unless jetplug is installed with its pytest11 entry point."""
    eps = importlib.metadata.entry_points(group="pytest11")
    return [] if any(ep.value == "jetplug.testing" for ep in eps) else ["-p", "jetplug.testing"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, type[JetModel]]:
    return make_models(tmp_path_factory.mktemp("kit"))


def _flat(array: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array, axis=None))


# -- artifacts ----------------------------------------------------------------------------------
def test_json_artifact_keeps_its_metadata_beside_it(tmp_path: Path) -> None:
    model = tmp_path / "calib.json"
    model.write_text('{"learner": {}}')
    write_model_metadata(model, "1.2.3", plugin="calib")
    assert metadata_path(model) == tmp_path / "calib.meta.json"
    assert model.read_text() == '{"learner": {}}'  # the artifact is not overwritten
    assert load_model_metadata(model)["version"] == "1.2.3"
    assert metadata_path(tmp_path / "m.ubj") == tmp_path / "m.json"


# -- synthetic chunks ---------------------------------------------------------------------------
def test_pfnano_chunk_has_the_pfnano_layout(pfnano_chunk: ak.Array) -> None:
    fat = pfnano_chunk.FatJet
    for field in ("pt", "eta", "phi", "mass", "msoftdrop", "tau1", "tau4", "n2b1", "n3b1"):
        assert field in ak.fields(fat), field
    assert "nConstituents" not in ak.fields(fat)  # as CMS PFNano: derived from the tables
    assert {"FatJetPFCands", "PFCands", "GenJetAK8", "Jet", "genWeight"} <= set(
        ak.fields(pfnano_chunk)
    )
    assert ak.min(ak.num(fat)) == 0 < ak.max(ak.num(fat))  # events without FatJets too
    # the table points at each jet's candidates, which lie within the jet's cone
    table = pfnano_chunk.FatJetPFCands
    cands = pfnano_chunk.PFCands[table.pFCandsIdx]
    jets = fat[table.jetIdx]
    assert float(ak.max(jets.delta_r(cands))) < 1.5
    # candidate pt adds up to the jet pt
    per_jet = ak.sum(ak.unflatten(_flat(cands.pt), _flat(ak.run_lengths(table.jetIdx))), axis=1)
    np.testing.assert_allclose(ak.to_numpy(per_jet), _flat(fat.pt), rtol=1e-3)


def test_chunks_are_seeded_realistic_and_share_their_jets(
    pfnano_chunk: ak.Array, nanoaod_chunk: ak.Array
) -> None:
    again = synthetic_events(64, seed=1)
    np.testing.assert_array_equal(_flat(again.FatJet.pt), _flat(pfnano_chunk.FatJet.pt))
    other = synthetic_events(64, seed=2)
    assert not np.array_equal(_flat(other.FatJet.pt)[:5], _flat(pfnano_chunk.FatJet.pt)[:5])
    np.testing.assert_array_equal(_flat(nanoaod_chunk.FatJet.pt), _flat(pfnano_chunk.FatJet.pt))
    assert "nConstituents" in ak.fields(nanoaod_chunk.FatJet)
    assert "PFCands" not in ak.fields(nanoaod_chunk)
    big = synthetic_events(2000, seed=3)
    fat = big.FatJet
    truth, msd, pt = _flat(fat.truthLabel), _flat(fat.msoftdrop), _flat(fat.pt)
    assert set(np.unique(truth)) == {0, 1, 2, 3, 4}
    boosted = pt > 400  # a top's decay is contained in the jet
    assert abs(np.median(msd[(truth == 1) & boosted]) - 172) < 5
    assert abs(np.median(msd[truth == 2]) - 81) < 5
    assert np.median(msd[truth == 0]) < 60
    # fat["tau2"], not fat.tau2: vector's Lorentz behaviour makes .tau2 the mass squared
    tau32 = _flat(fat["tau3"] / fat["tau2"])
    assert np.median(tau32[truth == 1]) < np.median(tau32[truth == 0]) - 0.1
    assert bool(ak.all(fat.pt > fat.msoftdrop)) and bool(ak.all(fat.mass >= fat.msoftdrop))
    # pt-ordered collections; every FatJet has its gen jet, with a ~0.97 response
    assert all(row == sorted(row, reverse=True) for row in ak.to_list(fat.pt))
    response = _flat(fat.pt / fat.matched_gen.pt)
    assert 0.9 < np.median(response) < 1.05 and np.std(response) < 0.15
    assert float(ak.max(fat.delta_r(fat.matched_gen))) < 0.2
    # gen jets a reconstruction missed
    assert ak.sum(ak.num(big.GenJetAK8)) > ak.sum(ak.num(fat))


def test_written_chunk_reads_back_as_the_same_events(tmp_path: Path) -> None:
    path = write_synthetic(tmp_path / "s.root", 40, seed=5)
    events = events_from_file(path)
    memory = synthetic_events(40, seed=5)
    for coll, field in (("FatJet", "msoftdrop"), ("PFCands", "pt"), ("FatJetPFCands", "jetIdx")):
        np.testing.assert_array_equal(_flat(events[coll][field]), _flat(memory[coll][field]))
    assert events.metadata["filename"] == str(path) and events.metadata["entrystop"] == 40
    # the same events are the same file (UUID) wherever written; other events another one
    again = events_from_file(write_synthetic(tmp_path / "elsewhere.root", 40, seed=5))
    other = events_from_file(write_synthetic(tmp_path / "other.root", 40, seed=6))
    assert again.metadata["fileuuid"] == events.metadata["fileuuid"] != other.metadata["fileuuid"]


def test_check_on_the_synthetic_chunk_is_reproducible() -> None:
    """A plugin drawing random numbers (keyed by the file) gives the same summary twice."""
    args = ["check", "fastsim_gan", "-n", "30", "--json"]
    first, second = (json.loads(CliRunner().invoke(main, args).output) for _ in range(2))
    assert first["outputs"] == second["outputs"]


def test_derivation_on_the_chunk_counts_the_generated_constituents(
    pfnano_chunk: ak.Array, nanoaod_chunk: ak.Array, host: PluginHost
) -> None:
    inputs = model_inputs(pfnano_chunk, "example_multiplicity", host=host)
    np.testing.assert_array_equal(
        inputs.fields["nConstituents"], _flat(nanoaod_chunk.FatJet.nConstituents)
    )


# -- run_plugin ---------------------------------------------------------------------------------
def test_run_plugin_gives_per_object_outputs_of_each_target_mode(
    pfnano_chunk: ak.Array, models: dict[str, type[JetModel]]
) -> None:
    host = PluginHost(plugins=[ContractPlugins(models)])
    added = run_plugin("top_bdt", pfnano_chunk, host=host)
    assert ak.fields(added) == ["score"]
    assert ak.all(ak.num(added) == ak.num(pfnano_chunk.FatJet))
    replaced = run_plugin("pt_calibrator", pfnano_chunk, host=host)
    raw, eta = _flat(pfnano_chunk.FatJet.pt), _flat(pfnano_chunk.FatJet.eta)
    np.testing.assert_allclose(_flat(replaced.pt) / raw, calib_factor(raw, eta), rtol=0.02)
    created = run_plugin("smear_fastsim", pfnano_chunk, host=host, options={"resolution": 0.0})
    assert {"pt", "eta", "sourceIdx"} <= set(ak.fields(created))
    assert ak.all(ak.num(created) <= ak.num(pfnano_chunk.GenJetAK8))
    # required plugins (top_bdt, pt_calibrator) run first
    decorrelated = run_plugin("score_decorrelator", pfnano_chunk, host=host)
    np.testing.assert_allclose(_flat(decorrelated.pt_seen), _flat(replaced.pt))


# -- PluginContract on plugins of every target mode --------------------------------------------
class _ContractHost:
    @pytest.fixture(autouse=True)
    def _register(self, models: dict[str, type[JetModel]]) -> None:
        self.extra = (ContractPlugins(models),)

    def make_host(self) -> PluginHost:
        return PluginHost(plugins=self.extra)


class TestContractOfACalibrator(_ContractHost, PluginContract):
    plugin = "pt_calibrator"


class TestContractOfAFastSim(_ContractHost, PluginContract):
    plugin = "smear_fastsim"


class TestContractOfADecorrelator(_ContractHost, PluginContract):
    plugin = "score_decorrelator"
    chunk = "nanoaod_chunk"


class TestContractOfATorchTagger(PluginContract):
    plugin = "pfn"


# -- PluginContract catches broken plugins (run by pytester) -----------------------------------
BROKEN = '''
from pathlib import Path

import numpy as np

from jetplug import (
    Artifact, Backend, FieldSpec, InputSpec, JetModel, Kind, ModelSpec, OutputSpec, Target,
    TargetMode, TensorSpec, hookimpl,
)
from jetplug.spec import sha256_file
from jetplug.testing import PluginContract

ART = Path(__file__).with_name("weights.bin")
ART.write_bytes(b"weights")


class Echo(Backend):
    """Returns its input's first column (the 'model')."""

    name = "echo"
    formats = ("echo",)

    def infer(self, spec, tensors):
        x = tensors[spec.tensors_in[0].name]
        out = spec.tensors_out[0]
        return {out.name: np.repeat(x[:, :1], max(1, out.shape[0] if out.shape else 1), axis=1)
                .reshape((len(x), *out.shape)).astype(out.dtype)}


def spec(name, kind=Kind.ANOMALY, shape=(), labels=(), target=Target(), outputs=None, coll="FatJet"):
    return ModelSpec(
        name=name, kind=kind, version="1",
        inputs=InputSpec(coll, (FieldSpec("pt"), FieldSpec("eta"))),
        tensors_in=(TensorSpec("x", "float32", (2,)),),
        tensors_out=(TensorSpec("y", "float32", shape),),
        outputs=outputs or (OutputSpec("y", "float32", shape, labels),),
        target=target,
        artifact=Artifact(ART, sha256_file(ART), "echo"),
    )


def stack(inputs):
    return np.stack([inputs.fields["pt"], inputs.fields["eta"]], axis=1).astype(np.float32)


class Good(JetModel):
    """Smeared gen jets with an efficiency: random numbers per object."""
    spec = spec(
        "good", Kind.FASTSIM, coll="GenJetAK8",
        outputs=(OutputSpec("pt"), OutputSpec("found", "bool")),
        target=Target(TargetMode.CREATE, "Smeared", keep="found", sort_by="pt"),
    )
    def prepare(self, inputs):
        return {"x": stack(inputs)}
    def finalize(self, outputs, inputs, prepared):
        pt = outputs["y"] * (1 + 0.1 * inputs.random.normal())
        return {"pt": pt.astype(np.float32), "found": inputs.random.uniform() < 0.8}


class BadShape(Good):
    spec = spec("bad_shape")
    def prepare(self, inputs):
        return {"x": np.zeros((len(inputs), 3), np.float32)}
    def finalize(self, outputs, inputs, prepared):
        return {"y": outputs["y"]}


class NaNs(BadShape):
    spec = spec("nans")
    def prepare(self, inputs):
        return {"x": stack(inputs)}
    def finalize(self, outputs, inputs, prepared):
        return {"y": np.where(inputs.fields["eta"] > 1, np.nan, outputs["y"])}


class NotProbabilities(NaNs):
    spec = spec("not_probs", Kind.TAGGER, (2,), ("a", "b"))
    def finalize(self, outputs, inputs, prepared):
        return {"y": np.full((len(inputs), 2), 0.7, np.float32)}


class Unseeded(NaNs):
    spec = spec("unseeded")
    def finalize(self, outputs, inputs, prepared):
        return {"y": np.random.default_rng().normal(size=len(inputs)).astype(np.float32)}


class ChunkSeeded(NaNs):
    spec = spec("chunk_seeded")
    def finalize(self, outputs, inputs, prepared):
        rng = inputs.random.generator(inputs.chunk.entrystart)  # per chunk, not per object
        return {"y": rng.normal(size=len(inputs)).astype(np.float32)}


class Plugin:
    @hookimpl
    def jetplug_register_models(self, registry):
        for m in (Good, BadShape, NaNs, NotProbabilities, Unseeded, ChunkSeeded):
            registry.add(m)

    @hookimpl
    def jetplug_register_backends(self, registry):
        registry.add(Echo)


class Base(PluginContract):
    autoload = False
    host_plugins = (Plugin(),)

'''


def test_plugin_contract_fails_each_broken_plugin_in_its_own_test(
    pytester: pytest.Pytester,
) -> None:
    names = ("good", "bad_shape", "nans", "not_probs", "unseeded", "chunk_seeded")
    classes = "\n".join(f"class Test_{n}(Base):\n    plugin = {n!r}\n" for n in names)
    pytester.makepyfile(test_broken=BROKEN + classes)
    reprec = pytester.inline_run(*kit_args(), "-p", "no:cacheprovider")
    failed: dict[str, set[str]] = {n: set() for n in names}
    for report in reprec.getreports("pytest_runtest_logreport"):
        if report.failed:
            cls, test = report.nodeid.split("::")[1:3]
            failed[cls.removeprefix("Test_")].add(test.removeprefix("test_"))
    assert failed["good"] == set()
    assert "tensors_match_spec" in failed["bad_shape"]
    assert failed["nans"] == {"outputs_finite_and_valid"}
    assert failed["not_probs"] == {"outputs_finite_and_valid"}
    assert failed["unseeded"] == {"deterministic", "random_numbers_independent_of_chunking"}
    assert failed["chunk_seeded"] == {"random_numbers_independent_of_chunking"}
    passed, skipped, _ = reprec.listoutcomes()
    assert len(passed) == 7 * len(names) - sum(map(len, failed.values())) - len(names)
    assert len(skipped) == len(names)  # local vs Triton, without a server


# -- jetplug check --------------------------------------------------------------------------------
def test_check_runs_a_plugin_on_a_synthetic_chunk() -> None:
    result = CliRunner().invoke(main, ["check", "top_bdt", "-n", "50"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "preflight: synthetic pfnano chunk (50 entries) ok"
    assert "prepare: {'features': 'float32 (" in result.output
    header = next(i for i, line in enumerate(lines) if line.startswith("output"))
    assert lines[header].split() == ["output", "count", "mean", "min", "max", "NaN"]
    row = lines[header + 1].split()
    assert row[0] == "FatJet.top_bdt.score" and row[-1] == "0"
    assert 0 < float(row[3]) < float(row[2]) < float(row[4]) < 1


def test_check_on_a_file_reports_json(real_data: Path) -> None:
    path = real_data / "pfnano.root"
    result = CliRunner().invoke(main, ["check", "pfn", str(path), "--json", "-n", "5"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["file"] == str(path) and report["events"] == 5
    probs = report["outputs"]["FatJet.pfn.probs"]
    assert probs["shape"] == [5] and probs["nan"] == 0 and 0 <= probs["min"] <= probs["max"] <= 1
    assert report["outputs"]["FatJet.pfn.probs_top"]["count"] == probs["count"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["top_bdt", "--option", "foo=1"], "plugin 'top_bdt': unknown option(s) 'foo'"),
        (["top_bd"], "unknown plugin 'top_bd'"),
        (["top_bdt", "--backend", "tritn"], "unknown backend 'tritn'"),
        (["top_bdt", "--option", "novalue"], "expected KEY=VALUE"),
        (["top_bdt", "--collection", "Jet"], "needs field 'Jet.msoftdrop', which is missing"),
        (
            ["example_multiplicity", "--schema", "nanoaod", "REAL/nano_dy.root"],
            "cannot be derived",
        ),
    ],
)
def test_check_fails_with_one_line(args: list[str], message: str, real_data: Path) -> None:
    args = [a.replace("REAL", str(real_data)) for a in args]
    result = CliRunner().invoke(main, ["check", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output.splitlines()[-1] or message in result.output.splitlines()[0]


def test_check_on_a_truncated_file_is_one_line(real_data: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.root"
    cut.write_bytes((real_data / "nano_tt_v15.root").read_bytes()[:1_710_000])
    result = CliRunner().invoke(main, ["check", "top_bdt", str(cut)])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: file {cut}, entries [0, 200): cannot read its columns (")


@pytest.mark.parametrize("n", ["0", "-5"])
def test_check_refuses_a_chunk_without_events(n: str) -> None:
    result = CliRunner().invoke(main, ["check", "top_bdt", "-n", n])
    assert result.exit_code == 2 and f"{n} is not in the range x>=1" in result.output


def _calibrator_in_check(
    models: dict[str, type[JetModel]],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    finalize: Callable[..., dict[str, object]],
) -> None:
    """``jetplug check`` sees ``pt_calibrator`` renamed ``name`` with another ``finalize``."""
    calibrator = models["pt_calibrator"]
    spec = calibrator.spec.__class__(**{**vars(calibrator.spec), "name": name})
    model = type(name, (calibrator,), {"spec": spec, "finalize": finalize})
    monkeypatch.setattr(
        "jetplug.cli.check.PluginHost", lambda: PluginHost(plugins=[ContractPlugins({name: model})])
    )


def test_check_fails_on_nan_outputs_from_finite_inputs(
    models: dict[str, type[JetModel]], monkeypatch: pytest.MonkeyPatch
) -> None:
    calibrator = models["pt_calibrator"]

    def finalize(self: JetModel, *args: object) -> dict[str, object]:
        out = dict(calibrator.finalize(self, *args))  # type: ignore[arg-type]
        out["pt"] = np.where(np.arange(len(out["pt"])) % 2 == 0, np.nan, out["pt"])
        return out

    _calibrator_in_check(models, monkeypatch, "nan", finalize)
    result = CliRunner().invoke(main, ["check", "nan", "-n", "50"])
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: plugin 'nan' gave NaN or infinite outputs to ")
    assert "whose inputs were finite" in last and "ok:" not in result.output


def test_check_takes_a_target_and_a_seed(real_data: Path) -> None:
    def created(*extra: str) -> dict[str, object]:  # a file: its numbers are keyed by it
        args = ["check", "fastsim_gan", str(real_data / "pfnano.root"), "--json", *extra]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)  # type: ignore[no-any-return]

    report = created("--target", "MyJets", "--seed", "5")
    assert report["multiplicity"]["collection"] == "MyJets"  # type: ignore[index]
    assert set(report["outputs"]) >= {"MyJets.pt", "MyJets.mass"}  # type: ignore[arg-type]
    again, other = created("--target", "MyJets", "--seed", "5"), created("--seed", "6")
    assert again["outputs"] == report["outputs"]
    assert other["outputs"]["FastSimFatJet.pt"] != report["outputs"]["MyJets.pt"]  # type: ignore[index]


def test_check_names_the_stage_a_plugin_fails_in(
    models: dict[str, type[JetModel]], monkeypatch: pytest.MonkeyPatch
) -> None:

    def finalize(self: JetModel, *args: object) -> dict[str, object]:
        msg = "no calibration for this eta"
        raise ValueError(msg)

    _calibrator_in_check(models, monkeypatch, "broken", finalize)
    result = CliRunner().invoke(main, ["check", "broken"])
    assert result.exit_code == 2, result.output
    first = result.output.splitlines()[0]
    assert first == (
        "error: plugin 'broken' failed in finalize: ValueError: no calibration for this eta"
    )


def test_check_reports_the_multiplicity_of_a_created_collection(
    models: dict[str, type[JetModel]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "jetplug.cli.check.PluginHost", lambda: PluginHost(plugins=[ContractPlugins(models)])
    )
    result = CliRunner().invoke(
        main, ["check", "smear_fastsim", "--option", "resolution=0.1", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    m = report["multiplicity"]
    assert m["collection"] == "SmearedJet" and m["input_collection"] == "GenJetAK8"
    assert 0.6 < m["created"] / m["input"] < 0.95  # the plugin keeps 80 %
    assert set(report["outputs"]) == {f"SmearedJet.{f}" for f in ("pt", "eta", "phi", "mass")}
    text = CliRunner().invoke(main, ["check", "score_decorrelator"]).output
    assert "ran first: top_bdt" in text and "ran first: pt_calibrator" in text
