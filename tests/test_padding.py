"""Padding-invariant plugins run with each batch's padding trimmed: same outputs, input order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

from jetplug import PluginHost
from jetplug.backends.torch import TorchBackend, _trimmed_batches
from jetplug.columns import gather_inputs


@pytest.mark.parametrize(
    ("name", "atol"),
    [
        ("pfn", 1e-6),
        ("part", 1e-6),
        ("calib_pfn", 1e-6),
        # a 64-d sum over constituents with entries up to ~100: float32 round-off of
        # the large entries reaches 1e-5 on the small ones (a padding leak is O(1))
        ("jetclr", 1e-4),
        ("jetclr_qcd", 1e-6),
    ],
)
def test_trimmed_padding_gives_the_same_outputs(
    name: str, atol: float, generated: dict[str, list[Path]], real_data: Path
) -> None:
    host = PluginHost()
    model = host.create_model(name)
    assert type(model).padding_invariant
    spec = model.spec
    for path in (generated["ttbar"][0], real_data / "pfnano.root"):
        events = NanoEventsFactory.from_root(
            {str(path): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
        ).events()
        inputs, _ = gather_inputs(events, spec, host.derivations)
        tensors = model.prepare(inputs)
        counts = tensors["mask"].sum(axis=1)
        assert counts.min() < counts.max() <= tensors["mask"].shape[1]  # jets differ
        backend = TorchBackend({"device": "cpu", "batch_size": 7})  # several batches
        backend.bind(model)
        trimmed = backend.infer(spec, tensors)
        type(model).padding_invariant = False
        try:
            full = backend.infer(spec, tensors)
        finally:
            type(model).padding_invariant = True
        for key, value in full.items():
            np.testing.assert_allclose(trimmed[key], value, rtol=1e-5, atol=atol, err_msg=key)


def test_trimming_needs_a_prefix_mask() -> None:
    mask = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=np.float32)
    batches = _trimmed_batches({"mask": mask}, batch=2)
    assert batches is not None
    assert [(list(rows), width) for rows, width in batches] == [([1, 0], 2), ([2], 3)]
    holes = np.array([[1, 0, 1]], dtype=np.float32)  # a real slot after a padded one
    assert _trimmed_batches({"mask": holes}, batch=2) is None
    assert _trimmed_batches({"x": mask}, batch=2) is None


@pytest.mark.parametrize("name", ["part", "calib_pfn"])
def test_onnxruntime_runtime_gives_the_torch_outputs(
    name: str, generated: dict[str, list[Path]]
) -> None:
    host = PluginHost()
    model = host.create_model(name)
    spec = model.spec
    events = NanoEventsFactory.from_root(
        {str(generated["ttbar"][0]): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()
    inputs, _ = gather_inputs(events, spec, host.derivations)
    tensors = model.prepare(inputs)
    outputs = {}
    for runtime in ("torch", "onnxruntime"):
        backend = TorchBackend({"device": "cpu", "runtime": runtime})
        backend.bind(model)
        outputs[runtime] = backend.infer(spec, tensors)
        assert backend.describe(spec)["runtime"] == runtime
    for key, value in outputs["torch"].items():
        np.testing.assert_allclose(outputs["onnxruntime"][key], value, rtol=1e-4, atol=1e-5)
    with pytest.raises(Exception, match="runtime"):
        TorchBackend({"runtime": "tensorrt"})
