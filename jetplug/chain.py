"""The configured plugins of a run, in execution order, applied to a chunk of events.

Execution order follows from what each plugin reads and writes (its
:class:`~jetplug.plan.Plan`), not from the order of the run config:

* a plugin that reads a field runs after every plugin that writes it (a
  calibrator of ``FatJet.pt`` runs before a tagger reading ``FatJet.pt``;
  a plugin reading ``FatJet.top_bdt.score`` after ``top_bdt``; a plugin on a
  created collection after the plugin creating it);
* plugins that replace the same field are chained in run-config order, each
  reading the previous one's result;
* ``requires`` adds explicit edges;
* otherwise the run-config order is kept.

A cycle (two plugins each reading what the other writes) is a
:class:`~jetplug.errors.DependencyError` that names every edge and why.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np

from .backends.base import Backend
from .checks import check_tensors
from .chunk import ChunkContext
from .columns import attach_outputs, gather_inputs
from .config import PluginConfig
from .errors import (
    ConfigError,
    DependencyError,
    FileReadError,
    annotate,
    closest,
    is_file_read_error,
)
from .host import HostDescription, PluginHost
from .model import JetModel
from .nonfinite import (
    NonFiniteCounts,
    OverflowCounts,
    bad_constituents,
    bad_fields,
    bad_tensors,
    cast_outputs,
    nan_outputs,
    refuse,
    scatter_rows,
)
from .perthread import PerThread
from .plan import COLLECTION, Plan
from .spec import ModelSpec, NonFinite, TargetMode

__all__ = [
    "PluginChain",
    "Step",
    "chain_for",
    "execution_order",
    "file_read_error",
    "release_chain",
    "step_labels",
]


def _ref(ref: tuple[str, str]) -> str:
    coll, field = ref
    return coll if field == COLLECTION else f"{coll}.{field}"


def step_labels(plans: Sequence[Plan]) -> list[str]:
    """What names each plan in reports and provenance: the plugin's name, or
    ``name@Collection`` for a plugin the run gives several collections.

    Raises :class:`ConfigError` when one plugin would write the same collection twice.
    """
    names = [p.spec.name for p in plans]
    labels = [
        n if names.count(n) == 1 else f"{n}@{p.target}" for n, p in zip(names, plans, strict=True)
    ]
    twice = sorted({lb for lb in labels if labels.count(lb) > 1})
    if twice:
        creates = {p.spec.name for p in plans if p.mode is TargetMode.CREATE}
        if all(lb.split("@")[0] in creates for lb in twice):
            msg = (
                f"plugin(s) {twice} create the same collection twice; give one entry "
                "another 'target' (the name of the collection it creates)"
            )
        else:
            msg = (
                f"plugin(s) {twice} run twice on the same collection; give one entry another "
                "'collection' (a plugin may run once per collection)"
            )
        raise ConfigError(msg)
    return labels


def execution_order(plans: Sequence[Plan]) -> list[Plan]:
    """Sort ``plans`` (given in run-config order) as the module docstring says.

    Raises :class:`DependencyError` when a ``requires`` entry is not in the
    run or when the plugins form a cycle. A plugin run on several collections
    is one node per collection (:func:`step_labels`); requiring it means
    running after every one of them.
    """
    names = step_labels(plans)
    index = {n: i for i, n in enumerate(names)}
    instances: dict[str, list[str]] = {}
    for p, label in zip(plans, names, strict=True):
        instances.setdefault(p.spec.name, []).append(label)
    why: dict[tuple[str, str], str] = {}
    for b, lb in zip(plans, names, strict=True):
        missing = [r for r in b.spec.requires if r not in instances]
        if missing:
            msg = (
                f"plugin {b.spec.name!r} requires {missing}, which the run does not include; "
                "add them to 'plugins' in the run config"
            )
            raise DependencyError(msg)
        for r in b.spec.requires:
            for ra in instances[r]:
                why[(ra, lb)] = f"{lb!r} requires {r!r}"
        for a, la in zip(plans, names, strict=True):
            if a is b:
                continue
            shared = a.writes & b.reads
            if not shared:
                continue
            both = shared & b.writes
            if both and index[la] > index[lb]:
                continue  # replacements of one field are chained in config order
            ref = _ref(min(shared))
            why.setdefault((la, lb), f"{lb!r} reads {ref}, which {la!r} writes")
    preds: dict[str, set[str]] = {n: set() for n in names}
    for before, after in why:
        preds[after].add(before)
    ready = [(index[n], n) for n in names if not preds[n]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for m in names:
            if n in preds[m]:
                preds[m].discard(n)
                if not preds[m]:
                    heapq.heappush(ready, (index[m], m))
    if len(order) < len(names):
        stuck = [n for n in names if n not in order]
        edges = [text for (x, y), text in why.items() if x in stuck and y in stuck]
        msg = f"plugins {stuck} form a dependency cycle: " + "; ".join(edges)
        raise DependencyError(msg)
    return [plans[index[n]] for n in order]


@dataclass
class Step:
    """One plugin of the chain: its spec as run (re-targeted), model and backend."""

    config: PluginConfig
    spec: ModelSpec
    model: JetModel
    backend: Backend
    label: str
    """The step's name in reports and provenance (:func:`step_labels`); the plugin's name
    unless the run gives the plugin several collections."""
    _nonfinite: PerThread[NonFiniteCounts] = field(
        default_factory=lambda: PerThread(NonFiniteCounts), init=False, repr=False
    )
    _overflowed: PerThread[OverflowCounts] = field(
        default_factory=lambda: PerThread(OverflowCounts), init=False, repr=False
    )

    @property
    def nonfinite(self) -> NonFiniteCounts:
        """Objects with NaN or infinite inputs since :meth:`nonfinite_report` was last called
        in this thread (:mod:`jetplug.perthread`: one chunk's, on a multi-threaded worker)."""
        return self._nonfinite.get()

    @property
    def overflowed(self) -> OverflowCounts:
        """Objects whose float output did not fit its declared dtype (stored as +-inf), since
        :meth:`overflow_report` was last called in this thread."""
        return self._overflowed.get()

    _plan: Plan | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def plan(self) -> Plan:
        """What the step reads and writes (built once: the spec as run does not change)."""
        if self._plan is None or self._plan.spec is not self.spec:
            self._plan = Plan(self.spec)
        return self._plan

    def run(
        self,
        events: ak.Array,
        host: PluginHost,
        chunk: ChunkContext | None,
        record: Callable[[str, Any], None] | None = None,
    ) -> ak.Array:
        """Gather, prepare, infer, finalize and attach; errors keep their type, gain a note.

        Objects with NaN or infinite inputs (gathered fields, constituents,
        prepared tensors) are counted and handled by the spec's
        :class:`~jetplug.spec.NonFinite` policy (:mod:`jetplug.nonfinite`).
        ``record(stage, value)``, if given, sees what each stage produced:
        ``gather`` (inputs, counts), ``prepare`` and ``infer`` (tensors),
        ``nonfinite`` (input name -> per-object mask of the objects with a
        non-finite value in it; only when there are any),
        ``finalize`` (columns), as ``jetplug check`` reports them. An error
        raised while reading the chunk's columns from its file (a corrupt
        basket) is a :class:`FileReadError` naming the file and entry range:
        the plugin only asked for the column.
        """
        spec = self.spec
        seen = record or (lambda stage, value: None)
        source = chunk.source if chunk is not None else None
        stage = "gathering inputs"
        try:
            plan = self.plan
            inputs, counts = gather_inputs(
                events, spec, host.derivations, chunk=chunk, seed=self.config.seed, plan=plan
            )
            n = int(counts.sum())
            seen("gather", (inputs, counts))
            stage = "checking inputs for NaN and inf"
            masks = bad_fields(inputs) | bad_constituents(inputs, spec.inputs)
            refuse(spec.name, spec.inputs, masks, n, source)
            stage = "prepare"
            with _quiet(bool(masks)):
                prepared = self.model.prepare(inputs)
            check_tensors(spec.name, "prepare() returned", prepared, spec.tensors_in, n)
            seen("prepare", prepared)
            stage = "checking prepared tensors for NaN and inf"
            tensor_masks = bad_tensors(prepared, n)
            refuse(spec.name, spec.inputs, tensor_masks, n, source)
            masks |= tensor_masks
            bad = np.logical_or.reduce([*masks.values(), np.zeros(n, bool)])
            if masks:
                self.nonfinite.add(masks, bad)
                seen("nonfinite", masks)
            stage = f"inference on backend {self.backend.name!r}"
            with _quiet(bool(masks)):
                outputs = self._infer(prepared, n, bad)
            check_tensors(spec.name, "the backend returned", outputs, spec.tensors_out, n)
            seen("infer", outputs)
            stage = "finalize"
            with _quiet(bool(masks)):
                columns = self.model.finalize(outputs, inputs, prepared)
            if masks:
                columns = nan_outputs(columns, spec.outputs, bad)
            columns, beyond = cast_outputs(columns, spec.outputs, n)  # declared dtypes
            if beyond:
                self.overflowed.add(beyond)
            seen("finalize", columns)
            stage = "attaching outputs"
            return attach_outputs(events, spec, columns, counts, plan=plan)
        except Exception as e:
            if is_file_read_error(e):
                raise file_read_error(e, chunk, f"plugin {self.label!r}") from e
            where = chunk.where() if chunk is not None else {}
            raise annotate(e, plugin=self.label, stage=stage, **where) from None

    def _infer(
        self, prepared: Mapping[str, np.ndarray], n: int, bad: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The backend's outputs; under ``mask`` the ``bad`` rows are not sent (NaN/0 instead)."""
        spec = self.spec
        if spec.inputs.nonfinite is not NonFinite.MASK or not bad.any():
            return self.backend.infer(spec, prepared) if n else _empty(spec)
        keep = ~bad
        sent = {name: values[keep] for name, values in prepared.items()}
        n_sent = int(keep.sum())
        outputs = self.backend.infer(spec, sent) if n_sent else _empty(spec)
        check_tensors(spec.name, "the backend returned", outputs, spec.tensors_out, n_sent)
        return scatter_rows(outputs, keep, n)

    def nonfinite_report(self) -> dict[str, Any]:
        """Counts of objects with non-finite inputs since the last call (then reset)."""
        return self._nonfinite.take().as_dict()

    def overflow_report(self) -> dict[str, Any]:
        """Counts of objects with outputs beyond their declared dtype since the last call."""
        return self._overflowed.take().as_dict()

    def provenance(self) -> dict[str, Any]:
        """What ran: plugin name, its label in reports, version, artifact sha256, options,
        backend details."""
        return {
            **self.spec.summary(),
            "label": self.label,
            "seed": self.config.seed,
            "options": dict(self.model.options),
            "backend": self.backend.describe(self.spec),
        }


def file_read_error(
    error: BaseException, chunk: ChunkContext | None, reader: str | None = None
) -> FileReadError:
    """``error``, raised while reading ``chunk``'s columns, as a :class:`FileReadError`."""
    if isinstance(error, FileReadError):
        return error
    if chunk is None or chunk.file is None:
        return FileReadError("(unknown: events without coffea metadata)", error, reader=reader)
    return FileReadError(
        chunk.file,
        error,
        dataset=chunk.dataset,
        entries=(chunk.entrystart, chunk.entrystop),
        reader=reader,
    )


def _misplaced(
    error: ConfigError, config: PluginConfig, spec: ModelSpec, host: PluginHost
) -> ConfigError:
    """``error``, plus a hint when a key sits under ``options`` instead of ``backend_options``."""
    if config.backend == "local":
        backend = host.backends.for_format(spec.artifact.format)
    else:
        backend = host.backends.get(config.backend)
    backend_keys = {o.name for o in backend.options_spec}
    plugin_keys = {o.name for o in spec.options}
    hints: list[str] = []
    for keys, own, other, owner, under in (
        (config.options, plugin_keys, backend_keys, f"backend {backend.name!r}", "backend_options"),
        (config.backend_options, backend_keys, plugin_keys, f"plugin {spec.name!r}", "options"),
    ):
        for k in keys:
            if k in own:
                continue
            if k in other:
                hints.append(f"{k!r} is an option of {owner}: put it under {under!r}")
            elif not closest(k, own) and (close := closest(k, other)):
                # misspelt and in the wrong list: the "did you mean" looked in the right one
                hints.append(f"did you mean {close[0]!r}, an option of {owner}, under {under!r}?")
    if not hints:
        return error
    return ConfigError(f"{error} ({'; '.join(hints)})")


def _quiet(nonfinite: bool) -> contextlib.AbstractContextManager[Any]:
    """No numpy floating-point warnings while objects known to be non-finite are processed.

    Their NaN/inf make ``prepare`` and ``finalize`` warn ("invalid value
    encountered in cast"); they are counted, and their outputs are NaN.
    """
    return np.errstate(all="ignore") if nonfinite else contextlib.nullcontext()


def _empty(spec: ModelSpec) -> dict[str, np.ndarray]:
    return {t.name: np.zeros((0, *t.shape), dtype=t.dtype) for t in spec.tensors_out}


class PluginChain:
    """Plugins of a run, built once per worker process from plain configuration."""

    def __init__(self, plugins: Sequence[PluginConfig], host: PluginHost | None = None) -> None:
        self.host = host or PluginHost()
        plans = [
            Plan(
                self.host.spec(p.name).retarget(p.collection, p.target).with_nonfinite(p.nonfinite)
            )
            for p in plugins
        ]
        labels = step_labels(plans)
        position = {id(plan): i for i, plan in enumerate(plans)}
        self.steps: list[Step] = []
        for plan in execution_order(plans):
            config, label = plugins[position[id(plan)]], labels[position[id(plan)]]
            try:
                model = self.host.create_model(plan.spec.name, dict(config.options))
                backend = self.host.create_backend(
                    plan.spec, config.backend, dict(config.backend_options), model
                )
            except ConfigError as e:
                raise _misplaced(e, config, plan.spec, self.host) from None
            self.steps.append(
                Step(config=config, spec=plan.spec, model=model, backend=backend, label=label)
            )

    @property
    def specs(self) -> list[ModelSpec]:
        """Specs as run (re-targeted), in execution order."""
        return [s.spec for s in self.steps]

    @property
    def plans(self) -> list[Plan]:
        """Plans in execution order."""
        return [s.plan for s in self.steps]

    def apply(self, events: ak.Array, *, chunk: ChunkContext | None = None) -> ak.Array:
        """Run every plugin on ``events`` and return them with the outputs attached."""
        for step in self.steps:
            events = step.run(events, self.host, chunk)
        return events

    def _per_step(
        self, report: Callable[[Step], dict[str, Any]], keep: Callable[[dict[str, Any]], bool]
    ) -> dict[str, dict[str, Any]]:
        """``{label: report(step)}`` for the steps whose report ``keep`` accepts (every step
        is asked: asking resets the counters)."""
        reports = {step.label: report(step) for step in self.steps}
        return {label: r for label, r in reports.items() if keep(r)}

    def reports(self) -> dict[str, dict[str, int]]:
        """Backend counters per plugin since the last call (non-empty ones only)."""
        return self._per_step(lambda s: s.backend.report(), lambda r: any(r.values()))

    def nonfinite_reports(self) -> dict[str, dict[str, Any]]:
        """Objects with NaN or infinite inputs per plugin since the last call (non-empty only).

        ``{plugin: {"objects": n, "fields": {name: n}, "tensors": {name: n}}}``
        (:class:`~jetplug.nonfinite.NonFiniteCounts`); the counters are reset.
        """
        return self._per_step(Step.nonfinite_report, lambda r: bool(r["objects"]))

    def overflow_reports(self) -> dict[str, dict[str, Any]]:
        """Objects whose float outputs did not fit their declared dtype, per plugin, since the
        last call (non-empty only): ``{plugin: {"objects": n, "outputs": {name: n}}}``."""
        return self._per_step(Step.overflow_report, lambda r: bool(r["objects"]))

    def resolved(self) -> dict[str, dict[str, Any]]:
        """What each step's backend resolved in this process (its device), non-empty only."""
        return self._per_step(lambda s: s.backend.resolved(), bool)

    def provenance(self) -> list[dict[str, Any]]:
        """Provenance of each step, in execution order."""
        return [s.provenance() for s in self.steps]

    def close(self) -> None:
        """Close every backend (connections to servers); the chain is not used afterwards."""
        for step in self.steps:
            step.backend.close()

    def verify_artifacts(self) -> None:
        """Check every model file a backend loads here against its recorded sha256.

        Raises :class:`~jetplug.errors.ArtifactError` naming the plugin, the
        file, the recorded and the actual sha256.
        """
        for step in self.steps:
            if step.backend.reads_artifact(step.spec):
                step.spec.artifact.verify(step.spec.name)

    def check_servers(self) -> None:
        """Ask every backend to check what it will run (:meth:`Backend.preflight`).

        A Triton-backed step whose server serves another model raises
        :class:`~jetplug.errors.TritonMismatchError`, before any chunk runs.
        """
        for step in self.steps:
            step.backend.preflight(step.spec)

    def fingerprint(self) -> dict[str, str]:
        """``plugin -> version sha256`` of what this process runs (checked against the driver)."""
        return {s.label: f"{s.spec.version} {s.spec.artifact.sha256}" for s in self.steps}


_CHAINS: dict[tuple[int, str, str], PluginChain] = {}
_CHAINS_LOCK = threading.Lock()


def chain_for(
    plugins: Sequence[PluginConfig], key: str, host: HostDescription | PluginHost
) -> PluginChain:
    """The process-wide chain for configuration ``key`` on ``host``: built once per process.

    Processors are pickled to workers and may be unpickled for every chunk;
    keying the chain by the configuration hash and the host's token keeps
    models loaded once. In the process that made ``host`` (a live
    :class:`PluginHost`) that host is used; elsewhere it is rebuilt from its
    description, hand-registered plugins included.
    """
    # keyed by process id too: a forked worker must not reuse its parent's clients
    cache_key = (os.getpid(), host.token, key)
    with _CHAINS_LOCK:
        chain = _CHAINS.get(cache_key)
        if chain is None:
            live = host if isinstance(host, PluginHost) else host.build()
            chain = PluginChain(plugins, live)
            _CHAINS[cache_key] = chain
    return chain


def release_chain(key: str, host: HostDescription | PluginHost) -> None:
    """Close and forget this process's chain for ``key`` on ``host`` (if it was built)."""
    with _CHAINS_LOCK:
        chain = _CHAINS.pop((os.getpid(), host.token, key), None)
    if chain is not None:
        chain.close()
