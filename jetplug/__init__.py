"""jetplug: ML plugins for coffea analyses.

Public API; everything else is internal. See ``docs/`` for the guides.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .artifacts import load_model_metadata, write_model_metadata
from .backends.base import Backend
from .errors import (
    ArtifactError,
    BackendError,
    ChunksFailedError,
    ConfigError,
    DependencyError,
    InputFileError,
    JetplugError,
    MissingInputError,
    PluginValidationError,
    UnknownPluginError,
)
from .hookspecs import hookimpl, hookspec
from .host import PluginHost
from .model import JetModel, ModelInputs
from .options import Option
from .registry import BackendRegistry, Derivation, DerivationRegistry, ModelRegistry
from .spec import (
    Artifact,
    ConstituentSpec,
    FieldSpec,
    InputSpec,
    Kind,
    ModelSpec,
    OutputSpec,
    Target,
    TargetMode,
    TensorSpec,
)

try:
    __version__ = version("jetplug")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Artifact",
    "ArtifactError",
    "Backend",
    "BackendError",
    "BackendRegistry",
    "ChunksFailedError",
    "ConfigError",
    "ConstituentSpec",
    "DependencyError",
    "Derivation",
    "DerivationRegistry",
    "FieldSpec",
    "InputFileError",
    "InputSpec",
    "JetModel",
    "JetplugError",
    "Kind",
    "MissingInputError",
    "ModelInputs",
    "ModelRegistry",
    "ModelSpec",
    "Option",
    "OutputSpec",
    "PluginHost",
    "PluginValidationError",
    "Target",
    "TargetMode",
    "TensorSpec",
    "UnknownPluginError",
    "__version__",
    "hookimpl",
    "hookspec",
    "load_model_metadata",
    "write_model_metadata",
]
