"""The plugin host: owns a ``pluggy.PluginManager`` and offers a typed facade.

There is no module-global plugin manager: each :class:`PluginHost` has its
own, so tests get a fresh host and workers build one per process.

Environment variables
---------------------
``JETPLUG_DISABLE_PLUGIN_AUTOLOAD``
    If set to a non-empty value other than ``0``, entry points of the
    ``jetplug`` group are not loaded (only the core's default plugins and
    those registered by hand are active).
``JETPLUG_BLOCK_PLUGINS``
    Comma-separated entry-point names that are never loaded. A name that is
    no entry point (nor a core module, nor registered by hand) blocks
    nothing and warns once per process (:class:`UnknownBlockWarning`).
"""

from __future__ import annotations

import importlib.metadata
import os
import types
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from . import hookspecs
from .backends.base import Backend
from .errors import ConfigError, PluginValidationError, UnknownPluginError, closest
from .model import JetModel
from .registry import BackendRegistry, Derivation, DerivationRegistry, ModelRegistry
from .spec import ModelSpec

_AnyRegistry = ModelRegistry | BackendRegistry | DerivationRegistry

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "HostDescription",
    "PluginHost",
    "PluginInfo",
    "UnknownBlockWarning",
    "blocked_by_env",
]

ENTRY_POINT_GROUP = "jetplug"
DISABLE_AUTOLOAD_ENV = "JETPLUG_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "JETPLUG_BLOCK_PLUGINS"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "jetplug.backends.xgboost",
    "jetplug.backends.torch",
    "jetplug.backends.onnx",
    "jetplug.backends.triton",
    "jetplug.derivations",
)
"""Core modules registered by every host, like pytest's ``default_plugins``."""


def blocked_by_env() -> list[str]:
    """The entry-point names ``JETPLUG_BLOCK_PLUGINS`` lists in this process, in order."""
    return [b.strip() for b in os.environ.get(BLOCK_ENV, "").split(",") if b.strip()]


class UnknownBlockWarning(UserWarning):
    """``JETPLUG_BLOCK_PLUGINS`` names something that is not an entry point: it blocks nothing."""


_WARNED_BLOCKS: set[str] = set()
"""Names of ``JETPLUG_BLOCK_PLUGINS`` already warned about in this process (warned once)."""


@dataclass(frozen=True)
class PluginInfo:
    """One row of ``jetplug plugins``; ``problem`` says why a plugin is unavailable."""

    name: str
    kind: str
    version: str
    package: str
    description: str
    problem: str = ""


@dataclass(frozen=True)
class _ModuleRef:
    """A hand-registered module, carried to workers by name (modules do not pickle)."""

    name: str


@dataclass(frozen=True)
class HostDescription:
    """What a :class:`PluginHost` was built from; picklable, so workers rebuild the same host.

    Hand-registered plugin objects travel by value (coffea and Dask send
    processors with cloudpickle), modules by name. ``token`` identifies the
    host: processes cache one plugin chain per token and configuration.
    """

    autoload: bool
    block: tuple[str, ...]
    plugins: tuple[tuple[str, object], ...]
    token: str

    def build(self) -> PluginHost:
        """A host equal to the one described (entry points loaded afresh in this process)."""
        host = PluginHost(autoload=self.autoload, block=self.block)
        for name, plugin in self.plugins:
            obj = importlib.import_module(plugin.name) if isinstance(plugin, _ModuleRef) else plugin
            host.register(obj, name=name)
        host.token = self.token
        return host


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip() not in ("", "0", "false", "False")


class PluginHost:
    """Discovers plugins and answers what models, backends and derivations exist.

    Parameters
    ----------
    autoload
        Load the ``jetplug`` entry-point group. ``None`` (default) loads it
        unless ``JETPLUG_DISABLE_PLUGIN_AUTOLOAD`` is set.
    block
        Entry-point names never to load, added to ``JETPLUG_BLOCK_PLUGINS``.
    plugins
        Extra plugin modules or objects to register (e.g. in tests).
    """

    def __init__(
        self,
        *,
        autoload: bool | None = None,
        block: Iterable[str] = (),
        plugins: Iterable[object] = (),
    ) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._dists: dict[int, tuple[str, str, str]] = {}
        self._by_hand: list[tuple[str, object]] = []
        self.problems: dict[str, str] = {}
        """Entry points that could not be loaded: ``name -> reason``."""
        self.token = uuid.uuid4().hex
        self._models: ModelRegistry | None = None
        self._backends: BackendRegistry | None = None
        self._derivations: DerivationRegistry | None = None
        self._pm.add_hookspecs(hookspecs)
        for modname in DEFAULT_PLUGINS:
            self._pm.register(importlib.import_module(modname), name=modname)
        blocked = set(blocked_by_env())
        blocked.update(block)
        self._blocked = tuple(sorted(blocked))
        for name in blocked:
            self._pm.set_blocked(name)
        if autoload is None:
            autoload = not _env_flag(DISABLE_AUTOLOAD_ENV)
        self._autoload = autoload
        if autoload:
            self._load_entry_points()
        for plugin in plugins:
            self.register(plugin)
        self._warn_unknown_blocks()

    def _warn_unknown_blocks(self) -> None:
        """Warn once per name of ``JETPLUG_BLOCK_PLUGINS`` that names no entry point.

        Such a name (a typo, or a plugin's name instead of its entry point's)
        blocks nothing; the warning lists the entry-point names it could
        take, with a "did you mean", and for a plugin's name its entry point.
        """
        given = blocked_by_env()
        known = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
        # registered names (blocked ones are listed with plugin None), hand-registered included
        known |= {n for n, p in self._pm.list_name_plugin() if p is not None}
        known |= set(DEFAULT_PLUGINS)
        unknown = [b for b in dict.fromkeys(given) if b not in known and b not in _WARNED_BLOCKS]
        if not unknown:
            return
        _WARNED_BLOCKS.update(unknown)
        names = sorted(known - set(DEFAULT_PLUGINS))
        for name in unknown:
            close = closest(name, names)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            if name in self.models or name in self.models.unavailable:
                package = (
                    self.models.unavailable[name][0]
                    if name in self.models.unavailable
                    else self.models.package(name)
                )
                eps = sorted(ep for dist, _, ep in self._dists.values() if dist == package)
                hint = f"; {name!r} is a plugin, provided by {package}" + (
                    f" through entry point {eps[0]!r}: block that" if eps else ""
                )
            msg = (
                f"{BLOCK_ENV} names {name!r}, which is no jetplug entry point here, so it blocks "
                f"nothing{hint} (entry points: {', '.join(names) or 'none installed'})"
            )
            warnings.warn(msg, UnknownBlockWarning, stacklevel=3)

    def _load_entry_points(self) -> None:
        """Load the ``jetplug`` entry points one by one.

        One that fails to import, or implements a hook that does not exist, is
        recorded in :attr:`problems` (``jetplug plugins`` lists it) and left
        out; everything else keeps working.
        """
        for dist in importlib.metadata.distributions():
            for ep in dist.entry_points:
                if ep.group != ENTRY_POINT_GROUP or self._pm.is_blocked(ep.name):
                    continue
                if self._pm.get_plugin(ep.name) is not None:
                    continue
                where = f"{dist.metadata['name']} ({ep.name} = {ep.value})"
                try:
                    plugin = ep.load()
                except Exception as e:
                    self.problems[ep.name] = f"{where} failed to load: {type(e).__name__}: {e}"
                    continue
                self._pm.register(plugin, name=ep.name)
                unknown = self._unknown_hooks(plugin)
                if unknown:
                    self._pm.unregister(plugin)
                    self.problems[ep.name] = f"{where}: {unknown}"
                    continue
                self._dists[id(plugin)] = (str(dist.metadata["name"]), dist.version, ep.name)

    def _unknown_hooks(self, plugin: object) -> str:
        """Why ``plugin`` implements hooks that no hookspec declares ('' if it does not)."""
        known = [n for n in dir(hookspecs) if n.startswith("jetplug_")]
        problems = []
        for name, caller in vars(self._pm.hook).items():
            if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not impl.optionalhook:
                    close = closest(name, known)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    problems.append(f"implements unknown hook {name!r}{hint}")
        return "; ".join(problems)

    # -- registration ---------------------------------------------------------------
    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin module/object by hand; returns its name.

        A hook implementation whose name is not a jetplug hook (a typo) is a
        :class:`PluginValidationError` at once, as pluggy's ``check_pending``.
        The registration travels to worker processes with :meth:`description`.
        """
        self._models = self._backends = self._derivations = None
        registered: str | None = self._pm.register(plugin, name=name)
        if registered is None:
            label = str(name or getattr(plugin, "__name__", repr(plugin)))
            raise PluginValidationError(label, "is blocked and was not registered")
        unknown = self._unknown_hooks(plugin)
        if unknown:
            self._pm.unregister(plugin)
            label = name or getattr(plugin, "__name__", None) or type(plugin).__qualname__
            raise PluginValidationError(str(label), unknown)
        ref = _ModuleRef(plugin.__name__) if isinstance(plugin, types.ModuleType) else plugin
        self._by_hand.append((registered, ref))
        return registered

    def description(self) -> HostDescription:
        """A picklable description that rebuilds this host in another process."""
        return HostDescription(self._autoload, self._blocked, tuple(self._by_hand), self.token)

    def plugin_names(self) -> list[str]:
        """Names of the registered pluggy plugins (modules), for diagnostics."""
        return sorted(name for name, _ in self._pm.list_name_plugin())

    def provider(self, name: str) -> tuple[str, str, str] | None:
        """``(distribution, version, entry point)`` that provides plugin ``name``.

        ``None`` for a plugin registered by hand (or by jetplug itself).
        """
        package = self.models.package(name)
        for dist, version, ep in self._dists.values():
            if dist == package:
                return dist, version, ep
        return None

    def entry_point_distributions(self) -> dict[str, str]:
        """Loaded entry points -> ``distribution==version``."""
        return {ep: f"{name}=={version}" for name, version, ep in self._dists.values()}

    # -- typed facade over pm.hook ---------------------------------------------------
    def _collect(self, hook: str, registry: _AnyRegistry) -> None:
        """Call ``hook`` plugin by plugin, so each entry is attributed to its package."""
        dists = {key: name for key, (name, _, _) in self._dists.items()}
        plugins = self._pm.get_plugins()
        implementers = {id(impl.plugin) for impl in getattr(self._pm.hook, hook).get_hookimpls()}
        for plugin in plugins:
            if id(plugin) not in implementers:
                continue
            name = self._pm.get_name(plugin) or ""
            registry.installed = id(plugin) in dists
            if id(plugin) in dists:
                registry.origin = dists[id(plugin)]
            elif name in DEFAULT_PLUGINS:
                registry.origin = "jetplug"
            else:  # registered by hand: name it by its module or class
                registry.origin = getattr(plugin, "__name__", None) or type(plugin).__qualname__
            others = [p for p in plugins if p is not plugin]
            self._pm.subset_hook_caller(hook, remove_plugins=others)(registry=registry)

    @property
    def models(self) -> ModelRegistry:
        """Models from ``jetplug_register_models``."""
        if self._models is None:
            registry = ModelRegistry()
            self._collect("jetplug_register_models", registry)
            self._models = registry
        return self._models

    @property
    def backends(self) -> BackendRegistry:
        """Backends from ``jetplug_register_backends``."""
        if self._backends is None:
            registry = BackendRegistry()
            self._collect("jetplug_register_backends", registry)
            self._backends = registry
        return self._backends

    @property
    def derivations(self) -> DerivationRegistry:
        """Derivations from ``jetplug_register_derivations``."""
        if self._derivations is None:
            registry = DerivationRegistry()
            self._collect("jetplug_register_derivations", registry)
            self._derivations = registry
        return self._derivations

    def spec(self, name: str) -> ModelSpec:
        """The spec of model ``name``; unknown names list the available ones."""
        return self.model_class(name).spec

    def model_class(self, name: str) -> type[JetModel]:
        """The class registered as ``name`` (unknown: lists the available ones and
        the entry points that failed to load)."""
        try:
            return self.models.get(name)
        except UnknownPluginError as e:
            for ep, problem in sorted(self.problems.items()):
                e.add_note(f"entry point {ep!r} is not loaded: {problem}")
            raise

    def create_model(self, name: str, options: dict[str, Any] | None = None) -> JetModel:
        """Instantiate model ``name`` with run-config options (declared; unknown keys fail)."""
        return self.model_class(name)(options)

    def create_backend(
        self,
        spec: ModelSpec,
        backend: str = "local",
        options: dict[str, Any] | None = None,
        model: JetModel | None = None,
    ) -> Backend:
        """Instantiate the backend that runs ``spec``, bound to ``model`` (default: a new one).

        ``"local"`` picks the in-process backend for the artifact's format.
        """
        fmt = spec.artifact.format
        cls = self.backends.for_format(fmt) if backend == "local" else self.backends.get(backend)
        if cls.formats and fmt not in cls.formats:  # an in-process backend for other models
            can = [n for n in self.backends.names() if fmt in self.backends.get(n).formats]
            anything = [n for n in self.backends.names() if not self.backends.get(n).formats]
            msg = (
                f"plugin {spec.name!r}: backend {backend!r} runs {', '.join(cls.formats)} "
                f"models; this plugin's model is {fmt!r}: use backend 'local' "
                f"({', '.join(can) or 'none installed'}) or one taking any model "
                f"({', '.join(anything)})"
            )
            raise ConfigError(msg)
        try:
            instance = cls(options)
        except ConfigError as e:
            msg = f"plugin {spec.name!r}: {e}"
            raise ConfigError(msg) from None
        instance.bind(model if model is not None else self.create_model(spec.name))
        return instance

    def derivation(self, name: str) -> Derivation:
        """The derivation registered as ``name``."""
        return self.derivations.get(name)

    def describe(self) -> list[PluginInfo]:
        """One :class:`PluginInfo` per model (unavailable ones with their problem), by name."""
        out = []
        for name in self.models.names():
            spec = self.spec(name)
            out.append(
                PluginInfo(
                    name=name,
                    kind=spec.kind.value,
                    version=spec.version,
                    package=self.models.package(name),
                    description=spec.description,
                )
            )
        for name, (package, problem) in self.models.unavailable.items():
            out.append(PluginInfo(name, "?", "?", package, "", problem))
        for ep, problem in self.problems.items():
            out.append(PluginInfo(ep, "?", "?", "?", "", problem))
        return sorted(out, key=lambda i: i.name)

    def check_pending(self) -> None:
        """Fail if a registered plugin implements a hook that does not exist.

        Hand-registered plugins are checked when registered and entry points
        when loaded; this re-checks everything (pluggy's ``check_pending``).
        """
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as e:
            raise PluginValidationError(str(e.plugin), str(e)) from e
