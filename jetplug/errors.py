"""Exceptions raised by jetplug.

Every error derives from :class:`JetplugError` and says *what* was wrong and
*where* (plugin, dataset, file, entry range) so that a user can act on it
without reading a traceback from deep inside coffea or uproot.
"""

from __future__ import annotations

import difflib
import traceback
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "ArtifactError",
    "BackendError",
    "ChunksFailedError",
    "ConfigError",
    "DependencyError",
    "ExpressionError",
    "FileReadError",
    "InputFileError",
    "JetplugError",
    "MissingInputError",
    "NonFiniteInputError",
    "OnnxExportError",
    "OutputError",
    "PluginMissingOnWorkerError",
    "PluginUnavailableError",
    "PluginValidationError",
    "ServerUnavailableError",
    "SkimError",
    "TensorSpecError",
    "TritonMismatchError",
    "TritonServerError",
    "UnknownPluginError",
    "annotate",
    "error_context",
    "is_file_read_error",
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


class PluginUnavailableError(JetplugError):
    """A plugin is installed but cannot run (e.g. its model file is not trained yet)."""

    def __init__(self, plugin: str, package: str, reason: str) -> None:
        self.plugin = plugin
        self.reason = reason
        super().__init__(f"plugin {plugin!r} (from {package}) is unavailable: {reason}")


class PluginMissingOnWorkerError(JetplugError):
    """A worker process lacks a plugin that the driver has (its package, or its entry point)."""


class DependencyError(JetplugError):
    """Plugins in a run depend on plugins that are missing or form a cycle."""


class ArtifactError(JetplugError):
    """A model artifact is missing, corrupt or does not match its sha256."""


class BackendError(JetplugError):
    """An inference backend failed to load a model or to run it."""


class InputFileError(JetplugError):
    """An input file does not exist, cannot be read, or lacks the tree."""

    def __init__(
        self,
        path: str,
        message: str,
        *,
        dataset: str | None = None,
        entries: tuple[int, int] | None = None,
    ) -> None:
        self.path = path
        self.dataset = dataset
        self.entries = entries
        where = f"dataset {dataset!r}, file {path}" if dataset else f"file {path}"
        if entries is not None:
            where += f", entries [{entries[0]}, {entries[1]})"
        super().__init__(f"{where}: {message}")


def _type_name(error: BaseException) -> str:
    """``OSError``, ``zlib.error``, ``uproot.deserialization.DeserializationError``."""
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class FileReadError(InputFileError):
    """Reading a chunk's columns from its input file failed (corrupt basket, truncated file, I/O).

    Raised instead of the reader's exception (kept as ``__cause__``) so that
    the failure is blamed on the file and entry range, not on the plugin or
    histogram that happened to read the column first; ``reader`` names it.
    """

    def __init__(
        self,
        path: str,
        cause: BaseException,
        *,
        dataset: str | None = None,
        entries: tuple[int, int] | None = None,
        reader: str | None = None,
    ) -> None:
        self.reader = reader
        by = f" (read for {reader})" if reader else ""
        text = " ".join(str(cause).split())
        super().__init__(
            path,
            f"cannot read its columns ({_type_name(cause)}: {text}); "
            f"the file is corrupt or truncated, or its storage failed{by}",
            dataset=dataset,
            entries=entries,
        )


_READER = "coffea.nanoevents.mapping"
"""The modules that read a lazy NanoEvents column from its file (uproot, parquet)."""


def is_file_read_error(error: BaseException) -> bool:
    """Whether ``error`` (or an exception it chains) was raised while reading a file's columns.

    True when its traceback passes through coffea's column mapping, which
    materialises a lazy NanoEvents column from the file (through uproot): a
    corrupt basket, a truncated file or an I/O failure, whichever plugin or
    histogram asked for the column. A plugin reading a file of its own with
    uproot does not count.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, FileReadError):
            return True
        seen.add(id(current))
        for frame, _ in traceback.walk_tb(current.__traceback__):
            module = str(frame.f_globals.get("__name__", ""))
            if module == _READER or module.startswith(_READER + "."):
                return True
        current = current.__cause__ or current.__context__
    return False


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
        available = list(available)
        relative = field.split(".", 1)[-1]  # plugin outputs are offered as "top_bdt.score"
        dotted = "." in relative and any("." in a for a in available)
        name = relative if dotted else field.rsplit(".", 1)[-1]
        super().__init__(
            f"{consumer} needs field {field!r}, which is missing{where} and cannot be derived."
            f"{_did_you_mean(name, available)}"
            f"{' ' + hint if hint else ''}"
        )


class NonFiniteInputError(JetplugError):
    """Objects have NaN or infinite inputs and the plugin's policy is ``refuse``.

    ``inputs`` maps each input (a field, a constituent field
    ``<candidates>.<field>`` or a prepared tensor ``tensor <name>``) to the
    number of objects with a non-finite value in it.
    """

    def __init__(
        self,
        plugin: str,
        *,
        collection: str,
        objects: int,
        total: int,
        inputs: Mapping[str, int],
        source: str | None = None,
    ) -> None:
        self.plugin = plugin
        self.objects = objects
        self.inputs = dict(inputs)
        self.source = source
        listing = ", ".join(f"{name}: {n}" for name, n in self.inputs.items())
        where = f" in {source}" if source else ""
        super().__init__(
            f"plugin {plugin!r}: {objects} of {total} {collection} objects{where} have NaN "
            f"or infinite inputs ({listing}); the plugin's nonfinite policy is 'refuse' "
            "(with 'nonfinite: propagate' or 'mask' for it in the run config they get NaN outputs)"
        )


class TensorSpecError(PluginValidationError):
    """What a plugin's ``prepare``/``finalize`` returned does not match its declaration."""


class ServerUnavailableError(BackendError):
    """No Triton server answered within the retry budget."""


class TritonMismatchError(BackendError):
    """The server's model does not match the plugin's declared tensors."""


class TritonServerError(JetplugError):
    """A local ``tritonserver`` could not be started or stopped."""


class ExpressionError(JetplugError, ValueError):
    """A field expression (histogram axis, cut) cannot be parsed or is not allowed."""


class SkimError(JetplugError, ValueError):
    """A skim's columns or cuts do not fit the events of a chunk."""


class OnnxExportError(JetplugError):
    """A torch plugin could not be exported to ONNX, or the export does not reproduce torch."""


_CONTEXT_ATTR = "_jetplug_context"


def annotate(error: BaseException, **where: object) -> BaseException:
    """Add a PEP 678 note saying where ``error`` happened, keeping its type.

    ``where`` gives ``plugin``, ``stage``, ``dataset``, ``file``, ``entrystart``
    and ``entrystop`` (any subset); they are also kept on the exception (see
    :func:`error_context`) so that a failed-chunk record can name the plugin.
    Annotating twice adds only what is new.
    """
    context: dict[str, object] = dict(getattr(error, _CONTEXT_ATTR, {}))
    new = {k: v for k, v in where.items() if v is not None and k not in context}
    if not new:
        return error
    context.update(new)
    try:
        setattr(error, _CONTEXT_ATTR, context)
    except AttributeError:  # pragma: no cover - exceptions with __slots__
        return error
    parts = []
    if "plugin" in new:
        stage = f" ({new['stage']})" if "stage" in new else ""
        parts.append(f"plugin {new['plugin']!r}{stage}")
    if "dataset" in new:
        parts.append(f"dataset {new['dataset']!r}")
    if "file" in new:
        parts.append(f"file {new['file']}")
    if "entrystart" in new and "entrystop" in new:
        parts.append(f"entries [{new['entrystart']}, {new['entrystop']})")
    error.add_note("jetplug: while running " + ", ".join(parts))
    return error


def error_context(error: BaseException) -> dict[str, object]:
    """What :func:`annotate` recorded on ``error`` (empty if nothing)."""
    return dict(getattr(error, _CONTEXT_ATTR, {}))


class ChunksFailedError(JetplugError):
    """A run finished but some chunks failed; their records are in ``failures``."""

    def __init__(self, failures: Sequence[dict[str, object]], total: int) -> None:
        self.failures = list(failures)
        self.provenance: dict[str, Any] | None = None
        """The run's provenance (outputs were written), set by :func:`jetplug.runner.run`."""
        first = self.failures[0]
        where = (
            f"dataset {first['dataset']!r}, file {first['file']}, entries "
            f"[{first['entrystart']}, {first['entrystop']})"
        )
        error = str(first["error"]).replace(f"{where}: ", "", 1)  # a FileReadError says it too
        super().__init__(
            f"{len(self.failures)} of {total} chunks failed (recorded in provenance.json). "
            f"First: {where}"
            f"{' in plugin ' + repr(first['plugin']) if first.get('plugin') else ''}: "
            f"{error}"
        )


class OutputError(JetplugError):
    """Some outputs of a run could not be written; the others were, and provenance records it.

    ``failures`` holds ``{"output", "error", "traceback"}`` per output that
    failed, as recorded in ``provenance.json`` under ``outputs_failed``;
    ``provenance`` says whether ``provenance.json`` was written (None: it was
    no part of this write).
    """

    def __init__(
        self,
        failures: Sequence[Mapping[str, object]],
        outdir: object,
        *,
        provenance: bool | None = None,
    ) -> None:
        self.failures = [dict(f) for f in failures]
        first = self.failures[0]
        more = len(self.failures) - 1
        also = f" and {more} more output(s) (see provenance.json)" if more else ""
        if provenance is None:
            rest = f"the other outputs were written to {outdir}"
        elif provenance:
            rest = (
                f"the other outputs and provenance.json, which records the failure, "
                f"were written to {outdir}"
            )
        else:
            rest = f"the other outputs were written to {outdir}, but not provenance.json"
        super().__init__(f"could not write {first['output']} ({first['error']}){also}; {rest}")
