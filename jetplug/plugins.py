"""jetplug inside any coffea processor: :class:`Plugins`.

``coffea.ml_tools`` is used as ``tagger(events.FatJet)`` inside a user's
``ProcessorABC``; :class:`Plugins` is the same for jetplug's plugins::

    import jetplug
    from coffea import processor

    class MyProcessor(processor.ProcessorABC):
        def __init__(self):
            self.plugins = jetplug.Plugins(
                ["top_bdt", {"name": "part", "backend": "triton",
                             "backend_options": {"url": "127.0.0.1:8001"}}]
            )

        def process(self, events):
            events = self.plugins(events)          # FatJet.top_bdt.score, FatJet.part.probs_top ...
            ...
            return {"hists": ..., "nonfinite": self.plugins.nonfinite()}

        def postprocess(self, accumulator):
            return accumulator

The object holds plain configuration and a picklable description of the
plugin host, so it travels to futures and Dask workers; each worker process
builds the models once (cached by configuration and host) and reuses them for
every chunk. Constructing it checks everything that can be checked without
data (plugin names, options, backends, execution order, the sha256 of the
model files the backends load), so a typo or a replaced model file fails in
the user's ``__init__``, not in every chunk.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

import awkward as ak

from .chain import PluginChain, chain_for, release_chain
from .chunk import ChunkContext
from .config import PluginConfig, plugin_configs
from .errors import UnknownPluginError, annotate
from .host import HostDescription, PluginHost
from .plan import Plan
from .providers import Provider, missing_on_worker, providers
from .spec import ModelSpec

__all__ = ["Plugins"]


class Plugins:
    """Run named plugins (with their backends and options) on a chunk's events.

    Parameters
    ----------
    plugins
        Plugin names, or mappings with the keys of a run config's ``plugins``
        entries (``name``, ``backend``, ``options``, ``backend_options``,
        ``collection``, ``target``, ``seed``, ``nonfinite``), or :class:`PluginConfig`.
    host
        The plugin host (default: a new :class:`PluginHost` with the
        installed entry points). Plugins registered on it by hand run in the
        workers too.
    """

    def __init__(
        self,
        plugins: Iterable[str | Mapping[str, Any] | PluginConfig],
        *,
        host: PluginHost | HostDescription | None = None,
    ) -> None:
        self.configs = plugin_configs(plugins)
        live = host.build() if isinstance(host, HostDescription) else host or PluginHost()
        self.host = live.description()
        blob = json.dumps([asdict(c) for c in self.configs], sort_keys=True, default=str)
        self.key = hashlib.sha256(blob.encode()).hexdigest()
        self.providers: dict[str, Provider] = providers(live, [c.name for c in self.configs])
        """The distributions providing the plugins here: a worker lacking one names it."""
        # build here: unknown plugins, options, backends, cycles and changed model files fail now
        self._local: PluginChain | None = chain_for(self.configs, self.key, live)
        self._local.verify_artifacts()

    # -- pickling: plain data travels, the chain is rebuilt once per process ----------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_local"] = None
        return state

    @property
    def chain(self) -> PluginChain:
        """This process's plugin chain (built on first use, then cached)."""
        if self._local is None:
            try:
                self._local = chain_for(self.configs, self.key, self.host)
            except UnknownPluginError as e:  # a worker whose environment lacks the package
                missing = missing_on_worker(e, getattr(self, "providers", {}))
                if missing is None:
                    raise
                raise annotate(missing, plugin=e.name) from e
        return self._local

    @property
    def specs(self) -> list[ModelSpec]:
        """The plugins' specs as run (re-targeted), in execution order."""
        return self.chain.specs

    @property
    def names(self) -> list[str]:
        """Plugin names in execution order."""
        return [s.name for s in self.specs]

    def outputs(self) -> list[str]:
        """Fields the plugins write, as ``Collection.field`` paths."""
        refs = sorted({ref for plan in self.chain.plans for ref in plan.writes})
        return [f"{c}.{f}" if f else c for c, f in refs]

    def plans(self) -> list[Plan]:
        """Reads and writes of each plugin, in execution order."""
        return self.chain.plans

    def __call__(self, events: ak.Array, *, chunk: ChunkContext | None = None) -> ak.Array:
        """``events`` with every plugin's outputs attached.

        The chunk's dataset, file and entry range come from coffea's
        ``events.metadata`` unless ``chunk`` is given (pass it for a slice of
        a chunk, ``events[a:b]``, whose metadata still says where the chunk
        started: the per-object random numbers are keyed by entry). Errors
        keep their type and gain a note naming the plugin, the stage and the
        chunk.
        """
        return self.chain.apply(events, chunk=ChunkContext.of(events, chunk))

    def report(self) -> dict[str, dict[str, int]]:
        """Backend counters per plugin since the last call (e.g. rows on a Triton fallback)."""
        return self.chain.reports()

    def nonfinite(self) -> dict[str, dict[str, Any]]:
        """Objects with NaN or infinite inputs per plugin since the last call, then reset.

        ``{plugin: {"objects": n, "fields": {name: n}, "tensors": {name: n}}}``,
        plugins without any left out (:mod:`jetplug.nonfinite`).
        """
        return self.chain.nonfinite_reports()

    def overflowed(self) -> dict[str, dict[str, Any]]:
        """Objects whose float outputs did not fit their declared dtype (stored as +-inf),
        per plugin since the last call, then reset: ``{plugin: {"objects": n, "outputs":
        {name: n}}}``, plugins without any left out."""
        return self.chain.overflow_reports()

    def provenance(self) -> list[dict[str, Any]]:
        """What runs, per plugin: version, artifact sha256, options, backend, in order."""
        return self.chain.provenance()

    def fingerprint(self) -> dict[str, str]:
        """``plugin -> "version sha256"`` in this process (to check workers ran the same)."""
        return self.chain.fingerprint()

    def resolved(self) -> dict[str, dict[str, Any]]:
        """``plugin -> {"device": ...}``: what the backends resolved in this process."""
        return self.chain.resolved()

    def close(self) -> None:
        """Close this process's backends (server connections) and forget its models.

        Optional: clients are also closed at interpreter exit. A later call
        builds the chain again.
        """
        release_chain(self.key, self.host)
        self._local = None

    def __repr__(self) -> str:
        return f"Plugins({[c.name for c in self.configs]!r})"
