"""Write a standard Triton ``model_repository/`` for installed jetplug plugins.

Each model gets ``<name>/config.pbtxt`` (python backend, inputs/outputs with
names, dtypes and dims from the plugin's :class:`~jetplug.spec.ModelSpec`,
``max_batch_size``, ``dynamic_batching``, an instance group) and a versioned
directory ``<name>/<version>/`` holding ``model.py`` and the served model
file: an xgboost or ONNX artifact as shipped, or a torch plugin's module
with its weights exported as TorchScript (default) or ONNX
(``ExportSettings.torch_format``); ONNX files are run by ``model.py`` with
onnxruntime in the server's environment. Only
standard configuration fields are used (jetplug's own information travels
in ``parameters``), so a stock Triton container reads the same repository.

Triton's ``dims`` exclude the batch dimension and cannot be empty: a scalar
per object (``TensorSpec(shape=())``) is served as ``dims: [1]``; the client
reshapes it back.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..backends.onnx import OnnxBackend
from ..backends.torch import TorchBackend
from ..backends.xgboost import XGBoostBackend
from ..errors import JetplugError
from ..host import PluginHost
from ..spec import TRITON_DATATYPES, Artifact, ModelSpec, TensorSpec, sha256_file

__all__ = ["ExportSettings", "config_pbtxt", "export_repository", "triton_dims", "triton_dtype"]

SERVABLE_FORMATS = tuple(
    f for backend in (XGBoostBackend, TorchBackend, OnnxBackend) for f in backend.formats
)
"""Every format a core local backend runs: the server's ``model.py`` runs the same ones."""
TORCH_FORMATS = ("torchscript", "onnx")
"""How a torch plugin is served: traced to TorchScript or exported to ONNX."""
PYTHON_MODEL = Path(__file__).with_name("python_model.py")


@dataclass(frozen=True)
class ExportSettings:
    """Serving settings written to every ``config.pbtxt``."""

    max_batch_size: int = 65536
    max_queue_delay_us: int = 200
    instances: int = 1
    threads: int = 1
    version: int = 1
    torch_format: str = "torchscript"
    """``torchscript`` or ``onnx``: the file a ``torch-state-dict`` plugin is served as."""

    def __post_init__(self) -> None:
        if self.torch_format not in TORCH_FORMATS:
            msg = f"torch_format {self.torch_format!r} unknown; use one of {TORCH_FORMATS}"
            raise JetplugError(msg)


def triton_dtype(dtype: str) -> str:
    """``float32`` -> ``TYPE_FP32``."""
    return f"TYPE_{TRITON_DATATYPES[dtype]}"


def triton_dims(tensor: TensorSpec) -> list[int]:
    """Triton ``dims`` of a tensor: its shape, or ``[1]`` for a scalar per object."""
    return list(tensor.shape) if tensor.shape else [1]


def _tensors(kind: str, tensors: Sequence[TensorSpec]) -> str:
    items = []
    for t in tensors:
        dims = ", ".join(str(d) for d in triton_dims(t))
        items.append(
            f'  {{\n    name: "{t.name}"\n    data_type: {triton_dtype(t.dtype)}\n'
            f"    dims: [ {dims} ]\n  }}"
        )
    return f"{kind} [\n" + ",\n".join(items) + "\n]\n"


def config_pbtxt(spec: ModelSpec, settings: ExportSettings, served: Artifact | None = None) -> str:
    """The ``config.pbtxt`` text of one model; ``served`` is the file the server loads."""
    served = served or spec.artifact
    params = {
        "jetplug_artifact": served.path.name,
        "jetplug_format": served.format,
        "jetplug_sha256": served.sha256,
        "jetplug_source_sha256": spec.artifact.sha256,
        "jetplug_plugin_version": spec.version,
        "jetplug_threads": str(settings.threads),
    }
    parameters = "".join(
        f'parameters: {{\n  key: "{k}"\n  value: {{ string_value: "{v}" }}\n}}\n'
        for k, v in params.items()
    )
    return (
        f'name: "{spec.name}"\n'
        'backend: "python"\n'
        f"max_batch_size: {settings.max_batch_size}\n"
        + _tensors("input", spec.tensors_in)
        + _tensors("output", spec.tensors_out)
        + "dynamic_batching {\n"
        f"  max_queue_delay_microseconds: {settings.max_queue_delay_us}\n"
        "}\n"
        f"instance_group [\n  {{\n    kind: KIND_CPU\n    count: {settings.instances}\n  }}\n]\n"
        "version_policy: { latest: { num_versions: 1 } }\n" + parameters
    )


def _torchscript(host: PluginHost, name: str, path: Path) -> Artifact:
    """Trace the plugin's module with its verified weights into TorchScript at ``path``.

    The server then needs torch but not the plugin's code; the weights were
    loaded with ``weights_only=True``.
    """
    import torch

    from ..backends.torch import load_module

    model = host.create_model(name)
    module = load_module(model, "cpu")
    examples = tuple(
        torch.zeros((2, *t.shape), dtype=getattr(torch, t.dtype)) for t in model.spec.tensors_in
    )
    traced = torch.jit.trace(module, examples if len(examples) > 1 else examples[0])
    traced.save(str(path))
    return Artifact(path, sha256_file(path), "torchscript")


def export_repository(
    host: PluginHost,
    names: Sequence[str],
    outdir: Path,
    settings: ExportSettings | None = None,
) -> list[Path]:
    """Write ``outdir/<name>/{config.pbtxt, <version>/model.py, <version>/<artifact>}``."""
    settings = settings or ExportSettings()
    written = []
    for name in names:
        spec = host.spec(name)
        if spec.artifact.format not in SERVABLE_FORMATS:
            msg = (
                f"plugin {name!r}: artifact format {spec.artifact.format!r} cannot be served yet "
                f"(servable: {', '.join(SERVABLE_FORMATS)})"
            )
            raise JetplugError(msg)
        xgb = spec.artifact.format.startswith("xgboost")
        if xgb and (len(spec.tensors_in) != 1 or len(spec.tensors_out) != 1):
            msg = f"plugin {name!r}: an xgboost model is served with one input and one output"
            raise JetplugError(msg)
        artifact = spec.artifact.verify()
        model_dir = outdir / name
        version_dir = model_dir / str(settings.version)
        version_dir.mkdir(parents=True, exist_ok=True)
        if spec.artifact.format == "torch-state-dict" and settings.torch_format == "onnx":
            from ..export_onnx import export_onnx

            served = export_onnx(host.create_model(name), version_dir / f"{name}.onnx")
        elif spec.artifact.format == "torch-state-dict":
            served = _torchscript(host, name, version_dir / f"{name}.torchscript.pt")
        else:
            if spec.artifact.format == "onnx":  # the file's tensors must be the spec's
                from ..backends.onnx import check_session, load_session

                check_session(spec, load_session(spec, "cpu", 1))
            shutil.copyfile(artifact, version_dir / artifact.name)
            served = spec.artifact
        (model_dir / "config.pbtxt").write_text(config_pbtxt(spec, settings, served))
        shutil.copyfile(PYTHON_MODEL, version_dir / "model.py")
        written.append(model_dir)
    return written
