"""The few-shot tagger plugins: each ``models/meta_<name>.pt`` with its JSON is a plugin."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from jetplug import JetModel, ModelInputs, lazy_spec, load_model_metadata, shipped_spec
from jetplug_taggers.features import substructure_features

from .common import MODELS, build_network, tagger_spec

__all__ = ["MODELS_ENV", "FewShotTagger", "few_shot_plugins", "model_dirs", "plugin_class"]

MODELS_ENV = "JETPLUG_META_MODELS"
"""Extra folders (separated by ``os.pathsep``) searched for adapted ``meta_*.pt`` models."""


class FewShotTagger(JetModel):
    """Binary tagger: a meta-learned MLP adapted to one signal; ``score`` = P(signal)."""

    higher_is_signal: ClassVar[bool] = True

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """The six substructure features (standardised inside the module)."""
        return {"features": substructure_features(inputs)}

    def build_module(self) -> Any:
        """The network; its shape from the metadata, weights from the artifact."""
        return build_network(load_model_metadata(self.spec.artifact.path))


def plugin_class(path: Path) -> type[FewShotTagger]:
    """The plugin class of the adapted model ``path`` (``meta_<name>.pt``)."""
    name = path.stem
    meta = load_model_metadata(path)
    attrs = {
        "__doc__": f"``FatJet.{name}.score``: {meta.get('signal')} vs QCD, few-shot adapted.",
        "spec": lazy_spec(
            name,
            lambda: shipped_spec(path, "torch-state-dict", lambda a, m: tagger_spec(name, a, m)),
        ),
        "signal_truth": int(meta["signal_truth"]),
    }
    return type(f"FewShot_{name}", (FewShotTagger,), attrs)


def model_dirs() -> list[Path]:
    """The shipped models folder, then every folder of ``$JETPLUG_META_MODELS``."""
    extra = [Path(p) for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p]
    return [MODELS, *extra]


def few_shot_plugins() -> list[type[FewShotTagger]]:
    """One plugin per adapted model ``meta_*.pt`` (with metadata) in :func:`model_dirs`.

    A name found twice is taken from the first folder (the shipped one wins),
    with a warning naming the model left out.
    """
    found: dict[str, Path] = {}
    for folder in model_dirs():
        for p in sorted(folder.glob("meta_*.pt")):
            if not p.with_suffix(".json").is_file():
                continue
            first = found.setdefault(p.stem, p)
            if first != p:
                warnings.warn(
                    f"{p} is not used: plugin {p.stem!r} is already {first}; give the adapted "
                    "model another name (its .pt and .json)",
                    stacklevel=2,
                )
    return [plugin_class(p) for p in found.values()]
