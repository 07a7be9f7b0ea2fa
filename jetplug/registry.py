"""Registries that hooks fill in: models, backends, derivations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import awkward as ak

from .backends.base import Backend
from .errors import JetplugError, PluginUnavailableError, PluginValidationError, UnknownPluginError
from .model import JetModel, declared_name

__all__ = ["BackendRegistry", "Derivation", "DerivationRegistry", "ModelRegistry", "Registered"]

T = TypeVar("T")


@dataclass(frozen=True)
class Registered(Generic[T]):
    """A registered item and the distribution that provided it."""

    item: T
    package: str


class _Registry(Generic[T]):
    what = "item"

    def __init__(self) -> None:
        self._items: dict[str, Registered[T]] = {}
        self.origin = "?"
        """Distribution (or plugin name) whose hook is filling the registry now."""
        self.installed = False
        """Whether that hook comes from an installed entry point (not registered by hand)."""

    def _add(self, name: str, item: T) -> None:
        package = self.origin
        if name in self._items:
            other = self._items[name].package
            msg = f"{self.what} name registered twice, by {other!r} and by {package!r}"
            raise PluginValidationError(name, msg)
        self._items[name] = Registered(item, package)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def get(self, name: str) -> T:
        """The item registered as ``name``; unknown names list the available ones."""
        try:
            return self._items[name].item
        except KeyError:
            raise UnknownPluginError(name, self.names(), what=self.what) from None

    def package(self, name: str) -> str:
        """Distribution that registered ``name``."""
        self.get(name)
        return self._items[name].package

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


class ModelRegistry(_Registry[type[JetModel]]):
    """Models declared through ``jetplug_register_models``.

    A model whose spec cannot be built (e.g. its model file is not trained
    yet, see :func:`jetplug.lazy_spec`) is kept in :attr:`unavailable` with
    the reason; asking for it raises :class:`PluginUnavailableError`.
    """

    what = "plugin"

    def __init__(self) -> None:
        super().__init__()
        self.unavailable: dict[str, tuple[str, str]] = {}
        """``name -> (package, reason)`` of plugins whose spec could not be built."""

    def add(self, model: type[JetModel]) -> None:
        """Register a :class:`JetModel` subclass (its ``spec`` is validated)."""
        label = getattr(model, "__name__", repr(model))
        if not (isinstance(model, type) and issubclass(model, JetModel)):
            raise PluginValidationError(label, "must be a JetModel subclass with a `spec`")
        name = declared_name(model)
        if name is None:
            raise PluginValidationError(label, "must be a JetModel subclass with a `spec`")
        try:
            spec = model.spec
            spec.validate()
        except JetplugError as e:
            if not self.installed and isinstance(e, PluginValidationError):
                raise  # registered by hand: its author wants to know now
            self.unavailable[name] = (self.origin, str(e))
            return
        except Exception as e:  # a bug in a lazy spec: name the plugin, keep the others
            why = f"its spec could not be built: {type(e).__name__}: {e}"
            if not self.installed:
                raise PluginValidationError(name, why) from e
            self.unavailable[name] = (self.origin, why)
            return
        self._add(spec.name, model)

    def get(self, name: str) -> type[JetModel]:
        """The class registered as ``name``."""
        if name in self.unavailable:
            package, reason = self.unavailable[name]
            raise PluginUnavailableError(name, package, reason)
        return super().get(name)


class BackendRegistry(_Registry[type[Backend]]):
    """Inference backends declared through ``jetplug_register_backends``."""

    what = "backend"

    def add(self, backend: type[Backend]) -> None:
        """Register a :class:`Backend` subclass under its ``name``."""
        if not (isinstance(backend, type) and issubclass(backend, Backend)):
            raise PluginValidationError(repr(backend), "must be a Backend subclass")
        self._add(backend.name, backend)

    def for_format(self, fmt: str) -> type[Backend]:
        """The first registered backend that runs artifacts of format ``fmt`` locally."""
        for name in self.names():
            backend = self.get(name)
            if fmt in backend.formats:
                return backend
        formats = sorted({f for n in self.names() for f in self.get(n).formats})
        raise UnknownPluginError(fmt, formats, what="local backend for artifact format")


@dataclass(frozen=True)
class Derivation:
    """How to compute a field that a file may lack.

    Parameters
    ----------
    name
        Name that a :class:`~jetplug.spec.FieldSpec` refers to in ``derive``.
    requires
        Branch names the file must have, with ``{collection}`` standing for the
        collection name, e.g. ``("{collection}PFCands_jetIdx",)``.
    func
        ``func(events, collection) -> jagged array`` with one value per object
        of ``events[collection]``.
    description
        One line for docs and error messages.
    """

    name: str
    requires: tuple[str, ...]
    func: Callable[[ak.Array, str], ak.Array]
    description: str = ""

    def required_branches(self, collection: str) -> tuple[str, ...]:
        """Branches needed to derive a field of ``collection``."""
        return tuple(r.format(collection=collection) for r in self.requires)


class DerivationRegistry(_Registry[Derivation]):
    """Field derivations declared through ``jetplug_register_derivations``."""

    what = "derivation"

    def add(self, derivation: Derivation) -> None:
        """Register a :class:`Derivation` under its name."""
        self._add(derivation.name, derivation)
