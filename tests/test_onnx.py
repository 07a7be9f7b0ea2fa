"""ONNX: the shipped torch taggers exported to ONNX give torch's outputs, locally and on Triton.

Golden comparisons run on real inputs (the CMS PFNano file and generated
ttbar/QCD samples) through the same gathering and ``prepare`` as a run; no
mocks. A hand-written ONNX file (made with ``onnx.helper``, two outputs)
stands for a plugin that brings its own model file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema
from onnx import TensorProto, helper

from jetplug import (
    Artifact,
    ArtifactError,
    BackendError,
    ConfigError,
    FieldSpec,
    InputSpec,
    JetModel,
    JetplugError,
    Kind,
    ModelInputs,
    ModelRegistry,
    ModelSpec,
    OutputSpec,
    PluginHost,
    TensorSpec,
    hookimpl,
)
from jetplug.backends.onnx import OnnxBackend
from jetplug.backends.triton import TritonBackend
from jetplug.chain import PluginChain
from jetplug.chunk import ChunkContext
from jetplug.cli import main
from jetplug.columns import gather_inputs
from jetplug.config import PluginConfig
from jetplug.export_onnx import OnnxExportError, export_onnx
from jetplug.spec import sha256_file
from jetplug.triton import ExportSettings, TritonServer, export_repository

ATOL = 5e-5
"""Largest |torch - ONNX Runtime| accepted on every output (probabilities and scores).

float32 kernels summing in another order: part 2.0.0's probabilities differ by up
to 2e-5 on the real tensors (1.0.0's by under 1e-5); a wrong export differs by
orders of magnitude more."""
TORCH_TAGGERS = ("top_mlp", "pfn", "part", "top_cnn")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelSpec]:
    """Each shipped torch tagger's spec with its artifact exported to ONNX."""
    host = PluginHost()
    out = tmp_path_factory.mktemp("onnx")
    return {
        name: dataclasses.replace(
            host.spec(name), artifact=export_onnx(host.create_model(name), out / f"{name}.onnx")
        )
        for name in TORCH_TAGGERS
    }


def _events(path: Path) -> Any:
    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()


def _tensors(host: PluginHost, name: str, events: Any) -> dict[str, np.ndarray]:
    spec = host.spec(name)
    inputs, _ = gather_inputs(events, spec, host.derivations)
    return host.create_model(name).prepare(inputs)


@pytest.fixture(scope="module")
def real_tensors(
    real_data: Path, generated: dict[str, list[Path]]
) -> dict[str, list[dict[str, np.ndarray]]]:
    """Per torch tagger: its input tensors on pfnano.root, generated ttbar and generated QCD."""
    host = PluginHost()
    files = [real_data / "pfnano.root", generated["ttbar"][0], generated["qcd"][0]]
    events = [_events(f) for f in files]
    return {name: [_tensors(host, name, e) for e in events] for name in TORCH_TAGGERS}


def _max_diff(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].shape == b[key].shape, key
        assert a[key].dtype == b[key].dtype, key
    return max(float(np.max(np.abs(a[k] - b[k]), initial=0.0)) for k in a)


# -- export ------------------------------------------------------------------------------
def test_export_names_tensors_and_keeps_the_batch_dynamic(exported: dict[str, ModelSpec]) -> None:
    for name, spec in exported.items():
        assert spec.artifact.format == "onnx"
        assert spec.artifact.sha256 == sha256_file(spec.artifact.path)
        onnx.checker.check_model(str(spec.artifact.path))
        session = ort.InferenceSession(str(spec.artifact.path), providers=["CPUExecutionProvider"])
        inputs = {i.name: i.shape for i in session.get_inputs()}
        outputs = {o.name: o.shape for o in session.get_outputs()}
        assert inputs == {t.name: ["batch", *t.shape] for t in spec.tensors_in}, name
        assert outputs == {t.name: ["batch", *t.shape] for t in spec.tensors_out}, name


def test_export_is_reproducible(exported: dict[str, ModelSpec], tmp_path: Path) -> None:
    again = export_onnx(PluginHost().create_model("part"), tmp_path / "part.onnx")
    assert again.sha256 == exported["part"].artifact.sha256


def test_only_torch_plugins_export(tmp_path: Path) -> None:
    with pytest.raises(OnnxExportError, match="plugin 'top_bdt': only torch-state-dict"):
        export_onnx(PluginHost().create_model("top_bdt"), tmp_path / "bdt.onnx")


# -- golden: torch backend == onnx backend on real inputs -------------------------------
@pytest.mark.parametrize("name", TORCH_TAGGERS)
def test_golden_torch_equals_onnx_locally(
    name: str,
    exported: dict[str, ModelSpec],
    real_tensors: dict[str, list[dict[str, np.ndarray]]],
) -> None:
    host = PluginHost()
    spec = host.spec(name)
    torch_backend = host.create_backend(spec, "local")
    onnx_run = host.create_backend(exported[name], "local")
    assert isinstance(onnx_run, OnnxBackend)
    rows = 0
    for tensors in real_tensors[name]:
        expected = torch_backend.infer(spec, tensors)
        got = onnx_run.infer(exported[name], tensors)
        assert _max_diff(got, expected) <= ATOL, name
        rows += len(next(iter(tensors.values())))
    assert rows > 100  # real jets, not an empty file


def test_batches_are_bounded_and_empty_input_works(
    exported: dict[str, ModelSpec], real_tensors: dict[str, list[dict[str, np.ndarray]]]
) -> None:
    spec = exported["pfn"]
    tensors = real_tensors["pfn"][0]
    whole = OnnxBackend({"batch_size": 1 << 20}).infer(spec, tensors)
    small = OnnxBackend({"batch_size": 7, "threads": 2}).infer(spec, tensors)
    np.testing.assert_allclose(small["probs"], whole["probs"], rtol=1e-6, atol=1e-7)
    empty = {k: v[:0] for k, v in tensors.items()}
    out = OnnxBackend().infer(spec, empty)
    assert out["probs"].shape == (0, 5) and out["probs"].dtype == np.float32


def test_session_loaded_once_and_described(exported: dict[str, ModelSpec]) -> None:
    spec = exported["top_mlp"]
    a, b = OnnxBackend({"device": "cpu"}), OnnxBackend({"device": "cpu"})
    assert a.session(spec) is b.session(spec)
    assert OnnxBackend({"threads": 2}).session(spec) is not a.session(spec)
    info = a.describe(spec)
    assert info == {
        "backend": "onnx",
        "onnxruntime": ort.__version__,
        "device": "cpu",
        "providers": ["CPUExecutionProvider"],
        "threads": 1,
    }


# -- errors ------------------------------------------------------------------------------
def test_option_typo_says_did_you_mean() -> None:
    with pytest.raises(ConfigError, match=r"unknown option\(s\) 'thread' \(did you mean 'threads'"):
        OnnxBackend({"thread": 2})
    with pytest.raises(ConfigError, match=r"'batchsize' \(did you mean 'batch_size'"):
        OnnxBackend({"batchsize": 2})
    with pytest.raises(ConfigError, match="'threads' and 'batch_size' must be >= 1"):
        OnnxBackend({"threads": 0})


def test_devices(exported: dict[str, ModelSpec]) -> None:
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    assert OnnxBackend().device == ("cuda" if has_cuda else "cpu")
    with pytest.raises(BackendError, match="device 'tpu' unknown; use auto, cpu or cuda"):
        OnnxBackend({"device": "tpu"}).infer(exported["top_mlp"], {"features": np.zeros((1, 6))})
    if not has_cuda:
        with pytest.raises(
            BackendError, match=r"device 'cuda:1' requested but onnxruntime .* no CUDAExecution"
        ):
            OnnxBackend({"device": "cuda:1"}).infer(
                exported["top_mlp"], {"features": np.zeros((1, 6), np.float32)}
            )


def test_other_artifact_formats_are_refused() -> None:
    host = PluginHost()
    spec = host.spec("top_mlp")
    with pytest.raises(ConfigError, match="plugin 'top_mlp': backend 'onnx' runs onnx models"):
        host.create_backend(spec, "onnx")  # when the plugins are built
    backend = OnnxBackend()  # built by hand: refused when it runs
    with pytest.raises(BackendError, match="plugin 'top_mlp': the onnx backend runs 'onnx' art"):
        backend.infer(spec, {"features": np.zeros((2, 6), np.float32)})


def test_tensor_mismatch_names_plugin_and_tensor(exported: dict[str, ModelSpec]) -> None:
    spec = exported["top_mlp"]
    x = {"feats": np.zeros((3, 6), np.float32), "features": np.zeros((3, 6), np.float32)}
    renamed = dataclasses.replace(spec, tensors_in=(TensorSpec("feats", "float32", (6,)),))
    with pytest.raises(
        BackendError,
        match=r"plugin 'top_mlp': ONNX model top_mlp.onnx has no input tensor 'feats' "
        r"\(its inputs: \['features'\]\).*needs input\(s\) \['features'\] that the spec",
    ):
        OnnxBackend().infer(renamed, x)
    out = dataclasses.replace(spec, tensors_out=(TensorSpec("prob", "float32", ()),))
    with pytest.raises(BackendError, match=r"has no output tensor 'prob' \(its outputs: \['score'"):
        OnnxBackend().infer(out, x)
    shape = dataclasses.replace(spec, tensors_in=(TensorSpec("features", "float32", (7,)),))
    with pytest.raises(BackendError, match=r"input 'features' has shape \['batch', 6\] in the"):
        OnnxBackend().infer(shape, x)
    dtype = dataclasses.replace(spec, tensors_in=(TensorSpec("features", "float64", (6,)),))
    with pytest.raises(BackendError, match=r"has type tensor\(float\), expected tensor\(double\)"):
        OnnxBackend().infer(dtype, x)


def test_missing_and_corrupt_artifacts(exported: dict[str, ModelSpec], tmp_path: Path) -> None:
    spec = exported["top_mlp"]
    x = {"features": np.zeros((3, 6), np.float32)}
    missing = dataclasses.replace(spec, artifact=Artifact(tmp_path / "nope.onnx", "0" * 64, "onnx"))
    with pytest.raises(ArtifactError, match=r"nope.onnx does not exist"):
        OnnxBackend().infer(missing, x)
    # a file never loaded in this process (a loaded one is cached by its sha256)
    fresh = _sum_and_double(tmp_path / "fresh.onnx", factor=5.0)
    spec = dataclasses.replace(spec, tensors_out=SUM_AND_DOUBLE, artifact=fresh)
    data = fresh.path.read_bytes()
    fresh.path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match=r"fresh.onnx has sha256 .* the file is corrupt"):
        OnnxBackend().infer(spec, x)
    # a damaged file whose metadata was updated to match: onnxruntime refuses it, by name
    rehashed = Artifact(fresh.path, sha256_file(fresh.path), "onnx")
    with pytest.raises(BackendError, match=r"plugin 'top_mlp': onnxruntime cannot load .*fresh"):
        OnnxBackend().infer(dataclasses.replace(spec, artifact=rehashed), x)


# -- bring your own model file -----------------------------------------------------------
SUM_AND_DOUBLE = (TensorSpec("total", "float32", ()), TensorSpec("double", "float32", (6,)))


def _sum_and_double(path: Path, factor: float = 2.0) -> Artifact:
    """An ONNX file written by hand: ``total`` = row sum, ``double`` = ``factor`` x features."""
    x = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", 6])
    total = helper.make_tensor_value_info("total", TensorProto.FLOAT, ["n"])
    double = helper.make_tensor_value_info("double", TensorProto.FLOAT, ["n", 6])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [factor])
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["features", "axes"], ["total"], keepdims=0),
            helper.make_node("Mul", ["features", "two"], ["double"]),
        ],
        "sum_and_double",
        [x],
        [total, double],
        initializer=[axes, two],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Artifact(path, sha256_file(path), "onnx")


class _OwnModels:
    def __init__(self, *models: type[JetModel]) -> None:
        self.models = models

    @hookimpl
    def jetplug_register_models(self, registry: ModelRegistry) -> None:
        for model in self.models:
            registry.add(model)


@pytest.fixture(scope="module")
def own_host(
    tmp_path_factory: pytest.TempPathFactory, exported: dict[str, ModelSpec]
) -> PluginHost:
    """A host with two plugins shipping ONNX files: the hand-written one and top_mlp's export."""
    artifact = _sum_and_double(tmp_path_factory.mktemp("byo") / "sum_and_double.onnx")
    fields = ("msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1")

    class SumAndDouble(JetModel):
        spec = ModelSpec(
            name="sum_and_double",
            kind=Kind.REPRESENTATION,
            version="1",
            inputs=InputSpec("FatJet", tuple(FieldSpec(f) for f in fields)),
            tensors_in=(TensorSpec("features", "float32", (6,)),),
            tensors_out=SUM_AND_DOUBLE,
            outputs=(OutputSpec("total"), OutputSpec("double", shape=(6,))),
            artifact=artifact,
        )

        def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
            x = np.stack([np.asarray(inputs.fields[f], np.float32) for f in fields], axis=1)
            return {"features": x}

    from jetplug_taggers import TopMLP

    class TopMLPOnnx(TopMLP):
        spec = dataclasses.replace(exported["top_mlp"], name="top_mlp_onnx")

    return PluginHost(plugins=[_OwnModels(SumAndDouble, TopMLPOnnx)])


def test_own_onnx_file_runs_through_the_local_backend(own_host: PluginHost) -> None:
    spec = own_host.spec("sum_and_double")
    backend = own_host.create_backend(spec, "local")
    assert isinstance(backend, OnnxBackend)
    x = np.arange(18, dtype=np.float32).reshape(3, 6)
    out = backend.infer(spec, {"features": x})
    np.testing.assert_array_equal(out["total"], x.sum(axis=1))
    np.testing.assert_array_equal(out["double"], 2 * x)


def test_chain_with_an_onnx_plugin_matches_torch_and_records_onnxruntime(
    own_host: PluginHost, real_data: Path, generated: dict[str, list[Path]]
) -> None:
    configs = [
        PluginConfig("top_mlp"),
        PluginConfig("top_mlp_onnx", backend_options={"batch_size": 50}),
    ]
    chain = PluginChain(configs, own_host)
    for path in (real_data / "pfnano.root", generated["qcd"][0]):
        out = chain.apply(_events(path), chunk=ChunkContext(file=path.name))
        torch_score = ak.to_numpy(ak.flatten(out.FatJet.top_mlp.score))
        onnx_score = ak.to_numpy(ak.flatten(out.FatJet.top_mlp_onnx.score))
        assert len(torch_score) > 10
        np.testing.assert_allclose(onnx_score, torch_score, rtol=0, atol=ATOL)
    backends = {p["name"]: p["backend"] for p in chain.provenance()}
    assert backends["top_mlp_onnx"] == {
        "backend": "onnx",
        "onnxruntime": ort.__version__,
        "device": "cpu",
        "providers": ["CPUExecutionProvider"],
        "threads": 1,
    }


# -- Triton ------------------------------------------------------------------------------
def test_export_repository_writes_onnx(own_host: PluginHost, tmp_path: Path) -> None:
    settings = ExportSettings(max_batch_size=512, torch_format="onnx")
    export_repository(own_host, ["top_mlp", "sum_and_double", "top_bdt"], tmp_path, settings)
    config = (tmp_path / "top_mlp" / "config.pbtxt").read_text()
    served = tmp_path / "top_mlp" / "1" / "top_mlp.onnx"
    assert 'string_value: "onnx"' in config and 'string_value: "top_mlp.onnx"' in config
    assert f'string_value: "{sha256_file(served)}"' in config
    assert own_host.spec("top_mlp").artifact.sha256 in config  # jetplug_source_sha256
    assert (tmp_path / "top_mlp" / "1" / "model.py").is_file()
    own = tmp_path / "sum_and_double" / "1" / "sum_and_double.onnx"
    assert own.read_bytes() == own_host.spec("sum_and_double").artifact.path.read_bytes()
    both = (tmp_path / "sum_and_double" / "config.pbtxt").read_text()
    assert 'name: "total"' in both and 'name: "double"' in both
    assert (tmp_path / "top_bdt" / "1" / "top_bdt.ubj").is_file()  # xgboost stays as it is
    with pytest.raises(JetplugError, match="torch_format 'tensorrt' unknown"):
        ExportSettings(torch_format="tensorrt")


def test_export_refuses_an_onnx_file_that_does_not_match(
    exported: dict[str, ModelSpec], tmp_path: Path
) -> None:
    spec = dataclasses.replace(
        exported["top_mlp"], name="wrong", tensors_out=(TensorSpec("prob", "float32", ()),)
    )

    class Wrong(JetModel):
        def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
            raise NotImplementedError

    Wrong.spec = spec
    host = PluginHost(plugins=[_OwnModels(Wrong)])
    with pytest.raises(
        BackendError, match=r"plugin 'wrong': ONNX model .* no output tensor 'prob'"
    ):
        export_repository(host, ["wrong"], tmp_path)
    assert not (tmp_path / "wrong" / "config.pbtxt").exists()


def test_cli_export_format_onnx(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["triton", "export", "--format", "onnx", "-o", str(tmp_path), "pfn"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pfn" / "1" / "pfn.onnx").is_file()
    assert 'string_value: "onnx"' in (tmp_path / "pfn" / "config.pbtxt").read_text()
    bad = CliRunner().invoke(main, ["triton", "export", "--format", "trt", "pfn"])
    assert bad.exit_code == 2 and "'trt' is not one of 'torchscript', 'onnx'" in bad.output


@pytest.fixture(scope="module")
def onnx_server(
    tmp_path_factory: pytest.TempPathFactory, own_host: PluginHost
) -> Iterator[TritonServer]:
    repo = tmp_path_factory.mktemp("onnx_repository")
    settings = ExportSettings(max_batch_size=4096, torch_format="onnx")
    export_repository(own_host, [*TORCH_TAGGERS, "sum_and_double"], repo, settings)
    server = TritonServer(repo, log_path=tmp_path_factory.mktemp("triton_onnx") / "server.log")
    server.start()
    yield server
    assert server.stop() == 0


@pytest.mark.triton
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_golden_torch_equals_onnx_on_triton(
    onnx_server: TritonServer,
    protocol: str,
    real_tensors: dict[str, list[dict[str, np.ndarray]]],
) -> None:
    host = PluginHost()
    url = onnx_server.grpc_url if protocol == "grpc" else onnx_server.http_url
    remote = TritonBackend({"url": url, "protocol": protocol, "max_batch_size": 1000})
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(onnx_server.http_url)
    for name in TORCH_TAGGERS:
        params = client.get_model_config(name)["parameters"]
        assert params["jetplug_format"]["string_value"] == "onnx"  # served by onnxruntime
        spec = host.spec(name)
        local = host.create_backend(spec, "local")
        for tensors in real_tensors[name]:
            assert _max_diff(remote.infer(spec, tensors), local.infer(spec, tensors)) <= ATOL, name


@pytest.mark.triton
def test_own_onnx_file_with_two_outputs_on_triton(
    onnx_server: TritonServer, own_host: PluginHost
) -> None:
    spec = own_host.spec("sum_and_double")
    x = np.random.default_rng(3).standard_normal((1234, 6)).astype(np.float32)
    served = TritonBackend({"url": onnx_server.grpc_url, "max_batch_size": 500}).infer(
        spec, {"features": x}
    )
    local = OnnxBackend().infer(spec, {"features": x})
    np.testing.assert_array_equal(served["double"], local["double"])
    np.testing.assert_allclose(served["total"], local["total"], rtol=1e-6)
    assert served["total"].shape == (1234,)
