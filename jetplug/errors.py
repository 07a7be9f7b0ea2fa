"""Exceptions raised by jetplug.

Every error derives from :class:`JetplugError` and says *what* was wrong and
*where* (plugin, dataset, file, entry range) so that a user can act on it
without reading a traceback from deep inside coffea or uproot.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = [
    "ArtifactError",
    "BackendError",
    "ChunkError",
    "ChunksFailedError",
    "ConfigError",
    "DependencyError",
    "InputFileError",
    "JetplugError",
    "MissingInputError",
    "PluginValidationError",
    "UnknownPluginError",
]


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates that look like ``name`` (for "did you mean")."""
    return difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = closest(name, candidates)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


class JetplugError(Exception):
    """Base class of every error jetplug raises on purpose."""


class ConfigError(JetplugError):
    """A run configuration is invalid; the message names the key at fault."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class UnknownPluginError(JetplugError, KeyError):
    """A plugin name was asked for that no installed package provides."""

    def __init__(self, name: str, available: Sequence[str], *, what: str = "plugin") -> None:
        self.name = name
        self.available = sorted(available)
        listing = ", ".join(self.available) if self.available else "(none installed)"
        super().__init__(
            f"unknown {what} {name!r}.{_did_you_mean(name, self.available)} "
            f"Available {what}s: {listing}"
        )

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class PluginValidationError(JetplugError):
    """A plugin declared something inconsistent (bad spec, duplicate name, ...)."""

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}")


class DependencyError(JetplugError):
    """Plugins in a run depend on plugins that are missing or form a cycle."""


class ArtifactError(JetplugError):
    """A model artifact is missing, corrupt or does not match its sha256."""


class BackendError(JetplugError):
    """An inference backend failed to load a model or to run it."""


class InputFileError(JetplugError):
    """An input file does not exist, cannot be read, or lacks the tree."""

    def __init__(self, path: str, message: str, *, dataset: str | None = None) -> None:
        self.path = path
        self.dataset = dataset
        where = f"dataset {dataset!r}, file {path}" if dataset else f"file {path}"
        super().__init__(f"{where}: {message}")


class MissingInputError(JetplugError):
    """A plugin (or a histogram) needs a field that a file neither has nor can derive."""

    def __init__(
        self,
        *,
        consumer: str,
        field: str,
        path: str | None = None,
        available: Iterable[str] = (),
        hint: str = "",
    ) -> None:
        self.consumer = consumer
        self.field = field
        self.path = path
        where = f" in file {path}" if path else ""
        super().__init__(
            f"{consumer} needs field {field!r}, which is missing{where} and cannot be derived."
            f"{_did_you_mean(field.rsplit('.', 1)[-1], available)}"
            f"{' ' + hint if hint else ''}"
        )


class ChunkError(JetplugError):
    """Processing one chunk failed; carries the dataset, file and entry range."""

    def __init__(
        self,
        message: str,
        *,
        dataset: str,
        path: str,
        entrystart: int,
        entrystop: int,
        plugin: str | None = None,
    ) -> None:
        self.dataset = dataset
        self.path = path
        self.entrystart = entrystart
        self.entrystop = entrystop
        self.plugin = plugin
        by = f" in plugin {plugin!r}" if plugin else ""
        super().__init__(
            f"chunk failed{by}: dataset {dataset!r}, file {path}, "
            f"entries [{entrystart}, {entrystop}): {message}"
        )


class ChunksFailedError(JetplugError):
    """A run finished but some chunks failed; their records are in ``failures``."""

    def __init__(self, failures: Sequence[dict[str, object]], total: int) -> None:
        self.failures = list(failures)
        first = self.failures[0]
        super().__init__(
            f"{len(self.failures)} of {total} chunks failed (recorded in provenance.json). "
            f"First: dataset {first['dataset']!r}, file {first['file']}, entries "
            f"[{first['entrystart']}, {first['entrystop']})"
            f"{' in plugin ' + repr(first['plugin']) if first.get('plugin') else ''}: "
            f"{first['error']}"
        )
