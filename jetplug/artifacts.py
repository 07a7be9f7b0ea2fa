"""Model metadata files: ``<model>.json`` next to each shipped artifact.

The metadata records the artifact's sha256 and version (read by the plugin
to build its :class:`~jetplug.spec.ModelSpec`) and how it was trained
(command, seed, data, metrics), so a shipped model can be reproduced.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ArtifactError
from .spec import Artifact, ModelSpec, sha256_file

__all__ = [
    "SpecBuilder",
    "load_model_metadata",
    "metadata_path",
    "recorded_command",
    "relative_path",
    "shipped_spec",
    "untrained_spec",
    "write_model_metadata",
]


def relative_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def recorded_command(
    subcommand: str, files: Sequence[Path], argv: Sequence[str] | None = None
) -> str:
    """The ``jetplug <subcommand>`` command line to record, free of this machine's paths.

    The input files (recorded beside it with their sha256) become one ``FILES``
    token, other absolute paths are made relative to the working directory.
    Called from code rather than the command line: ``jetplug <subcommand> FILES``.
    """
    argv = list(sys.argv if argv is None else argv)
    if argv[1:2] != [subcommand]:
        return f"jetplug {subcommand} FILES"
    names = {str(f) for f in files}
    words: list[str] = []
    for arg in argv[2:]:
        if arg in names:
            if "FILES" not in words:
                words.append("FILES")
        else:
            words.append(relative_path(Path(arg)) if Path(arg).is_absolute() else arg)
    return " ".join(["jetplug", subcommand, *words])


def metadata_path(model: Path) -> Path:
    """``models/top_bdt.ubj`` -> ``models/top_bdt.json``; ``m.json`` -> ``m.meta.json``.

    A model that is itself a JSON file (xgboost JSON) keeps its metadata
    beside it under another name, never on top of it.
    """
    if model.suffix == ".json":
        return model.with_name(f"{model.stem}.meta.json")
    return model.with_suffix(".json")


def load_model_metadata(model: Path) -> dict[str, Any]:
    """Read the metadata of ``model``; it must give ``version`` and ``sha256``."""
    path = metadata_path(model)
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        msg = f"model metadata {path} is missing (train the model to create it)"
        raise ArtifactError(msg) from None
    except json.JSONDecodeError as e:
        msg = f"model metadata {path} is not valid JSON: {e}"
        raise ArtifactError(msg) from None
    for key in ("version", "sha256"):
        if key not in meta:
            msg = f"model metadata {path} lacks {key!r}"
            raise ArtifactError(msg)
    return dict(meta)


def write_model_metadata(model: Path, version: str, **info: Any) -> dict[str, Any]:
    """Write ``<model>.json`` with the artifact's sha256, ``version`` and ``info``."""
    meta = {"version": version, "sha256": sha256_file(model), "file": model.name, **info}
    metadata_path(model).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    return meta


SpecBuilder = Callable[[Artifact, Mapping[str, Any]], ModelSpec]
"""Builds a plugin's spec from its artifact and its metadata (``version``, ...)."""


def shipped_spec(model: Path, fmt: str, build: SpecBuilder) -> ModelSpec:
    """``build``'s spec for a shipped ``model`` file, its sha256 and version from its metadata.

    What a plugin package's ``lazy_spec`` calls: ``lazy_spec(NAME, lambda:
    shipped_spec(MODEL, "torch-state-dict", build_spec))``.
    """
    meta = load_model_metadata(model)
    return build(Artifact(model, str(meta["sha256"]), fmt), meta)


def untrained_spec(
    model: Path, fmt: str, build: SpecBuilder, meta: Mapping[str, Any] | None = None
) -> ModelSpec:
    """``build``'s spec before ``model`` exists (version ``0``, a placeholder sha256).

    A training script gathers its inputs with it (``jetplug.training.training_inputs``)
    before there is a model file or metadata to read.
    """
    return build(Artifact(model, "0" * 64, fmt), {"version": "0", **(meta or {})})
