"""Which trainer trains a plugin: its own :meth:`~jetplug.JetModel.train`, or a built-in one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import JetplugError
from ..host import PluginHost
from ..model import JetModel
from ..spec import Kind
from .data import TrainSettings
from .inputs import training_inputs
from .torch import train_torch_tagger
from .xgboost import train_xgboost_tagger

__all__ = ["TAGGER_TRAINERS", "tagger_trainer", "train_plugin"]

TAGGER_TRAINERS: dict[str, Callable[..., dict[str, Any]]] = {
    "xgboost-ubj": train_xgboost_tagger,
    "xgboost-json": train_xgboost_tagger,
    "torch-state-dict": train_torch_tagger,
}
"""Built-in trainers of taggers, by artifact format."""


def train_plugin(
    host: PluginHost,
    name: str,
    files: Sequence[Path],
    output: Path | None = None,
    *,
    version: str = "1.0.0",
    settings: TrainSettings | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Path, dict[str, Any]]:
    """Train plugin ``name`` on ``files``; returns the written model file and its metadata.

    A plugin that implements :meth:`JetModel.train` is trained by it (on
    :func:`training_inputs`); a tagger with an xgboost or torch-state-dict
    model by the built-in trainer; anything else is refused with what to do.
    """
    model = host.create_model(name)
    spec = model.spec
    settings = settings or TrainSettings()
    output = output or spec.artifact.path
    if type(model).train is not JetModel.train:
        data = training_inputs(files, spec, host.derivations)
        log(f"{len(data)} {spec.inputs.collection} objects, {int(data.matched.sum())} gen-matched")
        meta = model.train(data, output, version=version, settings=settings, log=log)
        return output, meta
    trainer = tagger_trainer(model, name)
    return output, trainer(model, files, output, version=version, settings=settings, log=log)


def tagger_trainer(model: JetModel, name: str) -> Callable[..., dict[str, Any]]:
    """The built-in trainer of tagger ``model`` (plugin ``name``); else a refusal saying why."""
    spec = model.spec
    trainer = TAGGER_TRAINERS.get(spec.artifact.format)
    if spec.kind is Kind.TAGGER and trainer is not None:
        return trainer
    if spec.kind is Kind.TAGGER:
        what = f"no built-in trainer for {spec.artifact.format} models"
    else:
        what = f"the built-in trainers train taggers, and {name!r} is a {spec.kind.value}"
    msg = (
        f"plugin {name!r} cannot be trained by jetplug: {what} "
        f"(built-in: taggers with {', '.join(TAGGER_TRAINERS)} models). Implement "
        "JetModel.train() in the plugin; it receives jetplug.training.training_inputs(), "
        "the inputs prepare() sees with truth labels and gen-matched targets"
    )
    raise JetplugError(msg)
