"""Local backends: models loaded once per process, no pickle execution, bounded batches, devices."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from jetplug import Artifact, ArtifactError, BackendError, PluginHost
from jetplug.backends import torch as torch_backend
from jetplug.backends import xgboost as xgb_backend
from jetplug.chain import PluginChain
from jetplug.config import PluginConfig
from jetplug.spec import sha256_file


def _features(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.uniform(20, 250, n),
            rng.uniform(0.2, 0.9, n),
            rng.uniform(0.3, 0.95, n),
            rng.uniform(0.5, 1.0, n),
            rng.uniform(0.1, 0.4, n),
            rng.uniform(0.5, 3.0, n),
        ]
    )
    return x.astype(np.float32)


def test_torch_device_resolution() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert torch_backend.resolve_device("auto") == expected
    assert torch_backend.resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(
            BackendError, match="device 'cuda' requested but torch sees no CUDA device"
        ):
            torch_backend.resolve_device("cuda")
    with pytest.raises(BackendError, match="device 'tpu' unknown"):
        torch_backend.resolve_device("tpu")


def test_torch_model_loaded_once_and_batches_bounded(host: PluginHost) -> None:
    spec = host.spec("top_mlp")
    x = {"features": _features(1000)}
    chain = PluginChain(
        [PluginConfig("top_mlp", backend_options={"batch_size": 7, "threads": 1})], host
    )
    backend = chain.steps[0].backend
    small = backend.infer(spec, x)["score"]
    big = host.create_backend(spec)
    unbounded = big.infer(spec, x)["score"]
    np.testing.assert_allclose(small, unbounded, rtol=1e-5, atol=1e-6)
    assert small.shape == (1000,)
    assert ((small >= 0) & (small <= 1)).all()
    keys = [k for k in torch_backend._CACHE if k[0] == spec.artifact.sha256]
    assert keys == [(spec.artifact.sha256, backend.device)]  # one load per process and device
    assert torch.get_num_threads() == 1
    assert backend.describe(spec)["device"] == backend.device
    assert backend.describe(spec)["batch_size"] == 7  # in provenance: it sets the batches


def test_xgboost_model_loaded_once(host: PluginHost) -> None:
    spec = host.spec("top_bdt")
    for _ in range(3):
        PluginChain([PluginConfig("top_bdt")], host).steps[0].backend.infer(
            spec, {"features": _features(10)}
        )
    assert [k for k in xgb_backend._CACHE if k[0] == spec.artifact.sha256] == [
        (spec.artifact.sha256, 1)
    ]


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("touch /tmp/jetplug-pwned",))


def test_torch_weights_never_unpickle_code(host: PluginHost, tmp_path: Path) -> None:
    marker = Path("/tmp/jetplug-pwned")
    marker.unlink(missing_ok=True)
    evil = tmp_path / "evil.pt"
    torch.save({"net.0.weight": _Evil()}, evil, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    model_cls = host.models.get("top_mlp")
    bad_spec = dataclasses.replace(
        model_cls.spec, artifact=Artifact(evil, sha256_file(evil), "torch-state-dict")
    )

    class Evil(model_cls):  # type: ignore[misc, valid-type]
        spec = bad_spec

    with pytest.raises(BackendError, match="holds pickled Python objects") as err:
        torch_backend.load_module(Evil(), "cpu")
    assert not marker.exists()
    assert "\n" not in str(err.value)  # one line, not torch's advice to unpickle anyway


def test_pickled_module_gets_one_line_with_the_fix(host: PluginHost, tmp_path: Path) -> None:
    model_cls = host.models.get("top_mlp")
    whole = tmp_path / "module.pt"
    torch.save(model_cls().build_module(), whole)  # the module, not its state_dict
    spec = dataclasses.replace(
        model_cls.spec, artifact=Artifact(whole, sha256_file(whole), "torch-state-dict")
    )

    class Pickled(model_cls):  # type: ignore[misc, valid-type]
        pass

    Pickled.spec = spec
    with pytest.raises(BackendError) as err:
        torch_backend.load_module(Pickled(), "cpu")
    assert str(err.value) == (
        f"plugin 'top_mlp': {whole} holds pickled Python objects (a module saved with "
        "torch.save(module)?), which jetplug never unpickles: save the weights with "
        "torch.save(module.state_dict(), path)"
    )


def test_corrupt_artifact_is_refused_before_loading(host: PluginHost, tmp_path: Path) -> None:
    spec = host.spec("top_bdt")
    copy = tmp_path / "top_bdt.ubj"
    copy.write_bytes(spec.artifact.path.read_bytes()[:-10] + b"0123456789")
    bad = dataclasses.replace(spec, artifact=dataclasses.replace(spec.artifact, path=copy))
    with pytest.raises(ArtifactError, match=r"has sha256 .* expected .* corrupt or was replaced"):
        xgb_backend.load_booster(bad, threads=7)  # not cached yet for 7 threads: verified


def test_package_version_without_importing() -> None:
    """The driver of a distributed run reads backend library versions from the installed
    distributions: the module's distribution may have another name (scikit-learn provides
    ``sklearn``, onnxruntime-gpu ``onnxruntime``), and a module nothing provides is
    "unknown", never an error after the chunks ran."""
    import json
    import subprocess
    import sys

    code = (
        "import sys, json; from jetplug.backends.base import package_version; "
        "v = [package_version(m) for m in ('sklearn', 'no_such_module_jetplug')]; "
        "print(json.dumps([v, 'sklearn' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    (sklearn_version, unknown), imported = json.loads(out.stdout)
    import importlib.metadata

    assert sklearn_version == importlib.metadata.version("scikit-learn")
    assert unknown == "unknown"
    assert imported is False


def test_torch_on_onnxruntime_describes_what_ran(host: PluginHost) -> None:
    """runtime onnxruntime: provenance names the device and providers the export ran on,
    beside the onnxruntime version (it said device 'auto' before)."""
    import onnxruntime as ort

    chain = PluginChain(
        [PluginConfig("top_mlp", backend_options={"runtime": "onnxruntime", "threads": 1})], host
    )
    step = chain.steps[0]
    assert step.backend.describe(step.spec)["onnx"] == {"onnxruntime": ort.__version__}
    step.backend.infer(step.spec, {"features": _features(50)})
    described = step.backend.describe(step.spec)
    assert described["device"] == "cpu"
    assert described["onnx"] == {
        "onnxruntime": ort.__version__,
        "device": "cpu",
        "providers": ["CPUExecutionProvider"],
    }
    onnx = {"device": "cpu", "providers": ["CPUExecutionProvider"]}
    assert chain.resolved() == {"top_mlp": {"device": "cpu", "onnx": onnx}}  # what chunks carry
