"""Hook specifications: the whole surface a jetplug plugin can implement.

Each hook is documented here and in ``docs/hooks.md`` (a test fails when a
hook is missing from the docs). A plugin is a module or object with functions
decorated by :data:`jetplug.hookimpl`, registered through the ``jetplug``
entry-point group::

    [project.entry-points.jetplug]
    mytagger = "jetplug_mytagger.plugin"

Hooks receive a registry and add to it; they never touch global state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .registry import BackendRegistry, DerivationRegistry, ModelRegistry

PROJECT = "jetplug"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def jetplug_register_models(registry: ModelRegistry) -> None:
    """Declare the ML models this plugin provides.

    Call ``registry.add(ModelClass)`` for each :class:`jetplug.JetModel`
    subclass. Its ``spec`` (a :class:`jetplug.ModelSpec`) gives the name,
    kind (tagger, calibrator, anomaly, fastsim, decorrelator, representation),
    version, inputs, tensors, outputs, dependencies and artifact. Names are
    global: two plugins registering the same model name is an error.
    """


@hookspec
def jetplug_register_backends(registry: BackendRegistry) -> None:
    """Declare inference backends (local runtimes or remote servers).

    Call ``registry.add(BackendClass)`` for each :class:`jetplug.Backend`
    subclass. A backend advertises the artifact formats it can run locally
    (``formats``); a run config selects it by ``name`` per plugin, and
    ``backend: local`` picks the first backend that runs the artifact's format.
    """


@hookspec
def jetplug_register_derivations(registry: DerivationRegistry) -> None:
    """Declare how to derive fields that some files lack.

    Call ``registry.add(Derivation(...))``. A plugin input
    ``FieldSpec(name, derive="<derivation name>")`` is derived with it when the
    file has no such branch, provided the file has the branches the derivation
    ``requires``; otherwise the run fails with a missing-input error naming
    the plugin, the field and the file.
    """
