"""One plugin outside a processor: its inputs, its outputs, events to run it on.

Used by :mod:`jetplug.testing` (the pytest plugin), ``jetplug check`` and
plugin training scripts; it needs no pytest.

* :func:`run_plugin` runs a plugin (after the plugins it requires) on events
  through :class:`jetplug.Plugins` and returns its per-object outputs;
* :func:`model_inputs` gives the :class:`~jetplug.ModelInputs` its
  ``prepare`` receives, gathered by the processor's own code, so that a
  training script computes features exactly as the plugin does at run time;
* :func:`events_from_file` reads NanoEvents from a file and
  :func:`~jetplug.synthetic.synthetic_events` builds them in memory.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak

from .chain import PluginChain
from .chunk import ChunkContext
from .columns import gather_inputs
from .config import plugin_configs
from .host import PluginHost
from .model import ModelInputs
from .plan import Plan
from .plugins import Plugins
from .spec import ModelSpec, TargetMode
from .synthetic import synthetic_events

__all__ = ["events_from_file", "model_inputs", "outputs_of", "run_plugin", "synthetic_events"]


def _with_requirements(host: PluginHost, name: str) -> list[str]:
    """``name`` after every plugin it requires, transitively."""
    order: list[str] = []

    def visit(n: str, path: tuple[str, ...]) -> None:
        if n in order or n in path:
            return
        for r in host.spec(n).requires:
            visit(r, (*path, n))
        order.append(n)

    visit(name, ())
    return order


def entries_for(host: PluginHost, name: str, config: Mapping[str, Any]) -> list[Any]:
    """Run-config entries: what ``name`` requires (with defaults), then ``name`` with ``config``."""
    required: list[Any] = [n for n in _with_requirements(host, name) if n != name]
    return [*required, {"name": name, **config}]


def plugins_for(host: PluginHost, name: str, config: Mapping[str, Any]) -> Plugins:
    """:class:`Plugins` running ``name`` with ``config``, after the plugins it requires."""
    return Plugins(entries_for(host, name, config), host=host)


def chain_of(host: PluginHost, name: str, config: Mapping[str, Any]) -> PluginChain:
    """A new (not process-cached) chain of ``name`` and its requirements on ``host``.

    :class:`Plugins` keeps one chain per host and configuration for the life of
    the process; a test that makes a fresh host per run builds its chain here,
    so that it is freed with the test.
    """
    return PluginChain(plugin_configs(entries_for(host, name, config)), host)


def outputs_of(events: ak.Array, spec: ModelSpec) -> ak.Array:
    """The per-object outputs a plugin attached to ``events`` (``spec`` as run).

    ``add``: the record ``<collection>.<plugin>``; ``replace``: the replaced
    fields of the collection; ``create``: the new collection (with ``sourceIdx``).
    """
    plan = Plan(spec)
    objects = events[plan.target]
    if plan.mode is TargetMode.ADD:
        return objects[spec.name]
    if plan.mode is TargetMode.REPLACE:
        return ak.zip({n: objects[n] for n in plan.stored_names}, depth_limit=2)
    return objects


def run_plugin(
    name: str,
    events: ak.Array,
    *,
    host: PluginHost | None = None,
    chunk: ChunkContext | None = None,
    **config: Any,
) -> ak.Array:
    """Run plugin ``name`` on ``events`` and return its per-object outputs (:func:`outputs_of`).

    ``config`` takes the keys of a run config's plugin entry (``backend``,
    ``options``, ``backend_options``, ``collection``, ``target``, ``seed``).
    The plugins ``name`` requires run first, with their defaults. ``chunk``
    (default: from ``events.metadata``) keys the per-object random numbers.
    """
    host = host or PluginHost()
    plugins = plugins_for(host, name, config)
    out = plugins(events, chunk=chunk)
    spec = next(s for s in plugins.specs if s.name == name)
    return outputs_of(out, spec)


def model_inputs(
    events: ak.Array,
    spec: ModelSpec | str,
    *,
    host: PluginHost | None = None,
    chunk: ChunkContext | None = None,
    seed: int = 0,
) -> ModelInputs:
    """The :class:`~jetplug.ModelInputs` that ``spec``'s ``prepare`` gets for ``events``.

    Gathered by the processor's own code (derivations and padded constituents
    included); a training script uses it to compute features exactly as the
    plugin does at run time. Fields written by other plugins must already be
    in ``events`` (run them first, e.g. with :class:`jetplug.Plugins`).
    """
    host = host or PluginHost()
    if isinstance(spec, str):
        spec = host.spec(spec)
    inputs, _ = gather_inputs(
        events, spec, host.derivations, chunk=ChunkContext.of(events, chunk), seed=seed
    )
    return inputs


def events_from_file(
    path: str | Path,
    *,
    layout: str = "auto",
    entry_start: int = 0,
    entry_stop: int | None = None,
    dataset: str = "file",
) -> ak.Array:
    """Eager NanoEvents from a ROOT file, with coffea-style ``metadata``.

    ``layout``: ``pfnano``, ``nanoaod`` or ``auto`` (``pfnano`` when the file
    has ``PFCands``).
    """
    import uproot
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory, PFNanoAODSchema

    with uproot.open(path) as f:
        tree = f["Events"]
        pfnano = "nPFCands" in tree
        stop = min(tree.num_entries, entry_stop if entry_stop is not None else tree.num_entries)
        uuid = f.file.uuid.hex
    if layout != "auto":
        pfnano = layout == "pfnano"
    metadata = {
        "dataset": dataset,
        "filename": str(path),
        "entrystart": entry_start,
        "entrystop": stop,
        "fileuuid": uuid,
    }
    with warnings.catch_warnings():
        # the schemas warn about cross-references a file lacks (SubJet, JetSVs, ...)
        warnings.filterwarnings(
            "ignore", message="Missing cross-reference", category=RuntimeWarning
        )
        warnings.filterwarnings(
            "ignore", message="Branch .* already exists", category=RuntimeWarning
        )
        return NanoEventsFactory.from_root(
            {str(path): "Events"},
            schemaclass=PFNanoAODSchema if pfnano else NanoAODSchema,
            entry_start=entry_start,
            entry_stop=stop,
            metadata=metadata,
            mode="eager",
        ).events()
