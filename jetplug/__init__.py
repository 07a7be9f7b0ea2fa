"""jetplug: ML plugins for coffea analyses.

Public API; everything else is internal. See ``docs/`` for the guides.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .artifacts import (
    SpecBuilder,
    load_model_metadata,
    shipped_spec,
    untrained_spec,
    write_model_metadata,
)
from .backends.base import Backend
from .chunk import ChunkContext, NoFileIdentityWarning, ObjectRandom, PartialChunkWarning
from .errors import (
    ArtifactError,
    BackendError,
    ChunksFailedError,
    ConfigError,
    DependencyError,
    FileReadError,
    InputFileError,
    JetplugError,
    MissingInputError,
    NonFiniteInputError,
    OutputError,
    PluginUnavailableError,
    PluginValidationError,
    TensorSpecError,
    UnknownPluginError,
)
from .hookspecs import hookimpl, hookspec
from .host import HostDescription, PluginHost
from .model import JetModel, LazySpec, ModelInputs, lazy_spec
from .options import Option
from .plugins import Plugins
from .registry import BackendRegistry, Derivation, DerivationRegistry, ModelRegistry
from .spec import (
    Artifact,
    ConstituentSpec,
    FieldSpec,
    InputSpec,
    Kind,
    ModelSpec,
    NonFinite,
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
    "ChunkContext",
    "ChunksFailedError",
    "ConfigError",
    "ConstituentSpec",
    "DependencyError",
    "Derivation",
    "DerivationRegistry",
    "FieldSpec",
    "FileReadError",
    "HostDescription",
    "InputFileError",
    "InputSpec",
    "JetModel",
    "JetplugError",
    "Kind",
    "LazySpec",
    "MissingInputError",
    "ModelInputs",
    "ModelRegistry",
    "ModelSpec",
    "NoFileIdentityWarning",
    "NonFinite",
    "NonFiniteInputError",
    "ObjectRandom",
    "Option",
    "OutputError",
    "OutputSpec",
    "PartialChunkWarning",
    "PluginHost",
    "PluginUnavailableError",
    "PluginValidationError",
    "Plugins",
    "SpecBuilder",
    "Target",
    "TargetMode",
    "TensorSpec",
    "TensorSpecError",
    "UnknownPluginError",
    "__version__",
    "hookimpl",
    "hookspec",
    "lazy_spec",
    "load_model_metadata",
    "shipped_spec",
    "untrained_spec",
    "write_model_metadata",
]
