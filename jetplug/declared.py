"""Bring your own model file: plugins declared in a run config, no Python package needed.

A model someone else trained (xgboost JSON/UBJ, TorchScript, ONNX) is
declared under ``models:`` in a run config and then used under ``plugins:``
like any installed plugin::

    models:
      wtag:
        file: models/w_tagger.json      # relative to the config file
        sha256: 3f1c...                 # optional: checked; computed and recorded when absent
        kind: tagger                    # tagger (default), calibrator, anomaly, decorrelator, ...
        collection: FatJet
        inputs: [msoftdrop, "tau2 / tau1", "log(pt)"]   # fields or expressions of fields
        outputs: [score]                # or [{name: probs, labels: [QCD, W]}]
    plugins:
      - wtag

The format follows the file suffix (``.json``/``.ubj``: xgboost, ``.onnx``,
``.pt``/``.ts``: TorchScript) unless ``format`` says otherwise. The model gets
one input tensor, the ``inputs`` stacked as float32 columns (named
``input_tensor``, default ``features``; for ONNX the file's own input name),
and one output tensor per output (``output_tensors``, default the output
names; for ONNX the file's own output names). A calibrator replaces the
fields its outputs name (``outputs: [pt]`` replaces ``FatJet.pt``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .configkit import ConfigContext
from .errors import ArtifactError, ConfigError, ExpressionError
from .expressions import Expression, parse_expression
from .hookspecs import hookimpl
from .model import JetModel, ModelInputs
from .registry import ModelRegistry
from .spec import (
    Artifact,
    FieldSpec,
    InputSpec,
    Kind,
    ModelSpec,
    OutputSpec,
    Target,
    TargetMode,
    TensorSpec,
    sha256_file,
)

__all__ = ["DeclaredModels", "ModelDeclaration", "declared_model", "parse_models"]

_SUFFIX_FORMATS = {
    ".json": "xgboost-json",
    ".ubj": "xgboost-ubj",
    ".onnx": "onnx",
    ".pt": "torchscript",
    ".ts": "torchscript",
}
FORMATS = ("xgboost-json", "xgboost-ubj", "onnx", "torchscript")
_KEYS = (
    "file",
    "format",
    "sha256",
    "kind",
    "collection",
    "inputs",
    "outputs",
    "input_tensor",
    "output_tensors",
    "version",
    "description",
)


@dataclass(frozen=True)
class ModelDeclaration:
    """One ``models:`` entry of a run config (plain data)."""

    name: str
    file: str
    format: str
    sha256: str
    kind: str = "tagger"
    collection: str = "FatJet"
    inputs: tuple[str, ...] = ()
    outputs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    input_tensor: str = "features"
    output_tensors: tuple[str, ...] = ()
    version: str = "0"
    description: str = ""
    sha256_given: bool = field(default=True, compare=False)


def _onnx_names(path: Path) -> tuple[str, tuple[str, ...]]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.get_inputs()[0].name, tuple(o.name for o in session.get_outputs())


def _outputs(ctx: ConfigContext, raw: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(raw, list) or not raw:
        ctx.fail(where, "needs a non-empty list of output names")
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            item = {"name": item}
        item = ctx.mapping(item, f"{where}[{i}]")
        ctx.keys(item, f"{where}[{i}]", ("name", "labels"))
        labels = item.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            ctx.fail(f"{where}[{i}].labels", "must be a list of names")
        out.append((str(item.get("name")), tuple(labels)))
    return tuple(out)


def parse_models(ctx: ConfigContext, raw: Any, base: Path) -> tuple[ModelDeclaration, ...]:
    """Validate the ``models:`` section; files are resolved against ``base`` and hashed."""
    if raw is None:
        return ()
    decls = []
    for name, spec in ctx.mapping(raw, "models").items():
        where = f"models.{name}"
        spec = ctx.mapping(spec, where)
        ctx.keys(spec, where, _KEYS)
        if not isinstance(spec.get("file"), str):
            ctx.fail(where, "needs 'file', the model file")
        path = Path(spec["file"])
        path = path if path.is_absolute() else (base / path).resolve()
        if not path.is_file():
            ctx.fail(f"{where}.file", f"{path} does not exist")
        fmt = spec.get("format") or _SUFFIX_FORMATS.get(path.suffix)
        if fmt not in FORMATS:
            ctx.fail(f"{where}.format", f"give one of {list(FORMATS)} (suffix {path.suffix!r})")
        kind = str(spec.get("kind", "tagger"))
        if kind not in {k.value for k in Kind}:
            ctx.fail(f"{where}.kind", f"{kind!r} unknown; use one of {[k.value for k in Kind]}")
        inputs = spec.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            ctx.fail(f"{where}.inputs", "needs a non-empty list of fields or expressions")
        for i, text in enumerate(inputs):
            try:
                parse_expression(str(text))
            except ExpressionError as e:
                ctx.fail(f"{where}.inputs[{i}]", str(e))
        outputs = _outputs(ctx, spec.get("outputs", ["score"]), f"{where}.outputs")
        digest = sha256_file(path)
        given = spec.get("sha256")
        if given is not None and given != digest:
            ctx.fail(f"{where}.sha256", f"{path} has sha256 {digest}, the config says {given}")
        input_tensor = str(spec.get("input_tensor", "features"))
        output_tensors = tuple(spec.get("output_tensors") or ())
        if fmt == "onnx" and ("input_tensor" not in spec or not output_tensors):
            file_in, file_out = _onnx_names(path)
            input_tensor = str(spec.get("input_tensor", file_in))
            output_tensors = output_tensors or file_out
        output_tensors = output_tensors or tuple(n for n, _ in outputs)
        if len(output_tensors) != len(outputs):
            ctx.fail(
                f"{where}.output_tensors",
                f"{len(output_tensors)} tensors {list(output_tensors)} for {len(outputs)} outputs",
            )
        decls.append(
            ModelDeclaration(
                name=str(name),
                file=str(path),
                format=str(fmt),
                sha256=digest,
                kind=kind,
                collection=str(spec.get("collection", "FatJet")),
                inputs=tuple(str(x) for x in inputs),
                outputs=outputs,
                input_tensor=input_tensor,
                output_tensors=tuple(str(t) for t in output_tensors),
                version=str(spec.get("version", "0")),
                description=str(spec.get("description", "")),
                sha256_given=given is not None,
            )
        )
    return tuple(decls)


def _spec(decl: ModelDeclaration) -> ModelSpec:
    exprs = [parse_expression(text) for text in decl.inputs]
    fields = tuple(dict.fromkeys(f for e in exprs for f in e.fields))
    kind = Kind(decl.kind)
    outputs = tuple(
        OutputSpec(name, "float32", (len(labels),) if labels else (), labels)
        for name, labels in decl.outputs
    )
    tensors_out = tuple(
        TensorSpec(t, "float32", o.shape) for t, o in zip(decl.output_tensors, outputs, strict=True)
    )
    mode = TargetMode.REPLACE if kind is Kind.CALIBRATOR else TargetMode.ADD
    return ModelSpec(
        name=decl.name,
        kind=kind,
        version=decl.version,
        description=decl.description or f"{decl.format} model {Path(decl.file).name} (run config)",
        inputs=InputSpec(decl.collection, tuple(FieldSpec(f) for f in fields)),
        tensors_in=(TensorSpec(decl.input_tensor, "float32", (len(exprs),)),),
        tensors_out=tensors_out,
        outputs=outputs,
        target=Target(mode),
        artifact=Artifact(Path(decl.file), decl.sha256, decl.format),
    )


class DeclaredModel(JetModel):
    """Base of the classes :func:`declared_model` makes; inputs are expressions."""

    expressions: tuple[Expression, ...] = ()
    output_tensors: tuple[str, ...] = ()

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """The declared inputs, evaluated and stacked as float32 columns.

        A division by zero gives inf or NaN, as in histogram expressions; the
        model decides what it makes of them.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            columns = [
                np.asarray(e.evaluate(lambda name: inputs.fields[name]), dtype=np.float32)
                for e in self.expressions
            ]
        x = np.stack(columns, axis=1) if len(inputs) else np.zeros((0, len(columns)), np.float32)
        return {self.spec.tensors_in[0].name: x}

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """Each output from its tensor."""
        del inputs, prepared
        return {
            out.name: np.asarray(outputs[t], dtype=out.dtype)
            for out, t in zip(self.spec.outputs, self.output_tensors, strict=True)
        }


def declared_model(decl: ModelDeclaration) -> type[JetModel]:
    """A :class:`JetModel` class for a ``models:`` entry."""
    spec = _spec(decl)
    try:
        spec.validate()
    except Exception as e:
        msg = f"models.{decl.name}: {e}"
        raise ConfigError(msg) from None
    if not Path(decl.file).is_file():
        msg = f"model file {decl.file} of models.{decl.name} does not exist"
        raise ArtifactError(msg)
    attrs = {
        "spec": spec,
        "expressions": tuple(parse_expression(t) for t in decl.inputs),
        "output_tensors": decl.output_tensors,
        "__module__": __name__,
    }
    return type(f"Declared_{decl.name}", (DeclaredModel,), attrs)


class DeclaredModels:
    """A pluggy plugin registering the ``models:`` of a run config."""

    def __init__(self, declarations: Sequence[ModelDeclaration]) -> None:
        self.declarations = tuple(declarations)

    @hookimpl
    def jetplug_register_models(self, registry: ModelRegistry) -> None:
        """Register one plugin per declaration."""
        for decl in self.declarations:
            registry.add(declared_model(decl))
