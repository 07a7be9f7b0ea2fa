"""The configured plugins of a run, in dependency order, applied to a chunk of events."""

from __future__ import annotations

import graphlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import awkward as ak

from .backends.base import Backend
from .columns import attach_outputs, gather_inputs
from .config import PluginConfig
from .errors import DependencyError, JetplugError
from .host import PluginHost
from .model import JetModel
from .spec import ModelSpec

__all__ = ["PluginChain", "PluginRunError", "Step", "dependency_order"]


class PluginRunError(JetplugError):
    """A plugin failed on a chunk; wraps the original error and names the plugin."""

    def __init__(self, plugin: str, error: BaseException) -> None:
        self.plugin = plugin
        self.error = error
        super().__init__(f"{type(error).__name__}: {error}")


def dependency_order(specs: Sequence[ModelSpec]) -> list[ModelSpec]:
    """Sort specs so that every plugin runs after the plugins it ``requires``.

    Raises :class:`DependencyError` when a requirement is not in the run or
    when requirements form a cycle.
    """
    by_name = {s.name: s for s in specs}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for spec in specs:
        missing = [r for r in spec.requires if r not in by_name]
        if missing:
            msg = (
                f"plugin {spec.name!r} requires {missing}, which the run does not include; "
                "add them to 'plugins' in the run config"
            )
            raise DependencyError(msg)
        sorter.add(spec.name, *spec.requires)
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as e:
        msg = f"plugin dependencies form a cycle: {' -> '.join(e.args[1])}"
        raise DependencyError(msg) from None
    return [by_name[n] for n in order]


@dataclass
class Step:
    """One plugin of the chain: its model object and the backend that runs it."""

    config: PluginConfig
    model: JetModel
    backend: Backend

    @property
    def spec(self) -> ModelSpec:
        """The plugin's spec."""
        return self.model.spec

    def provenance(self) -> dict[str, Any]:
        """What ran: plugin name, version, artifact sha256, backend details."""
        return {
            **self.spec.summary(),
            "options": dict(self.model.options),
            "backend": self.backend.describe(self.spec),
        }


class PluginChain:
    """Plugins of a run, built once per worker process from plain configuration."""

    def __init__(self, plugins: Sequence[PluginConfig], host: PluginHost | None = None) -> None:
        self.host = host or PluginHost()
        configs = {p.name: p for p in plugins}
        specs = [self.host.spec(p.name) for p in plugins]
        self.steps = []
        for spec in dependency_order(specs):
            config = configs[spec.name]
            model = self.host.create_model(spec.name, dict(config.options))
            backend = self.host.create_backend(
                spec, config.backend, dict(config.backend_options), model
            )
            self.steps.append(Step(config=config, model=model, backend=backend))

    @property
    def specs(self) -> list[ModelSpec]:
        """Specs in execution order."""
        return [s.spec for s in self.steps]

    def apply(self, events: ak.Array, *, source: str | None = None) -> ak.Array:
        """Run every plugin on ``events`` and return them with the outputs attached."""
        for step in self.steps:
            try:
                inputs, counts = gather_inputs(
                    events, step.spec, self.host.derivations, source=source
                )
                tensors = step.model.prepare(inputs)
                raw = step.backend.infer(step.spec, tensors)
                columns = step.model.finalize(raw, inputs)
                events = attach_outputs(events, step.spec, columns, counts)
            except Exception as e:
                raise PluginRunError(step.spec.name, e) from e
        return events

    def reports(self) -> dict[str, dict[str, int]]:
        """Backend counters per plugin since the last call (non-empty ones only)."""
        out = {}
        for step in self.steps:
            report = step.backend.report()
            if any(report.values()):
                out[step.spec.name] = report
        return out

    def provenance(self) -> list[dict[str, Any]]:
        """Provenance of each step, in execution order."""
        return [s.provenance() for s in self.steps]


_CHAINS: dict[tuple[str, ...], PluginChain] = {}
_CHAINS_LOCK = threading.Lock()


def chain_for(plugins: Sequence[PluginConfig], key: str) -> PluginChain:
    """The process-wide chain for a configuration ``key``: built once per worker process.

    Processors are pickled to workers and may be unpickled for every chunk;
    keying the chain by the configuration hash keeps models loaded once.
    """
    with _CHAINS_LOCK:
        chain = _CHAINS.get((key,))
        if chain is None:
            chain = PluginChain(plugins)
            _CHAINS[(key,)] = chain
    return chain
