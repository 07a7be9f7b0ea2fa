"""``jetplug run``: preflight, coffea ``Runner`` on a chosen executor, outputs.

Executors are coffea's (iterative, futures, Dask); jetplug never schedules
work itself. The futures executor is coffea's with one change
(:class:`~jetplug.workers.ResilientFuturesExecutor`): a worker process that
dies loses only its chunk, which is rerun or recorded as failed, as Dask does.
The Dask executor starts a ``distributed.LocalCluster`` on 127.0.0.1 unless a
scheduler address is given.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from coffea import processor

from . import __version__
from .backends.base import merge_resolved
from .config import RunConfig
from .declared import DeclaredModels
from .errors import ChunksFailedError, JetplugError, OutputError
from .histograms import book
from .host import PluginHost
from .nonfinite import NonFiniteCounts, OverflowCounts
from .normalisation import normalise
from .outputs import (
    clear_previous,
    commit_staged,
    failure_record,
    histogram_writers,
    staged,
    write_outputs,
    write_provenance,
)
from .perthread import NoAnswer, call_within
from .plugins import Plugins
from .preflight import RUN_SCHEMAS, FileInfo, preflight
from .processor import PluginProcessor
from .providers import check_dask_workers
from .skims import clear_skims
from .workers import ResilientFuturesExecutor, describe_item

__all__ = ["EXECUTORS", "SCHEDULER_TIMEOUT_S", "RunResult", "connect_scheduler", "run"]

EXECUTORS = ("iterative", "futures", "dask")
SCHEDULER_TIMEOUT_S = 5.0
"""Seconds to wait for an existing Dask scheduler (``--scheduler``) before giving up."""
Executor = Literal["iterative", "futures", "dask"]


@dataclass
class RunResult:
    """What a run produced."""

    hists: dict[str, dict[str, Any]]
    chunks: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    files: list[FileInfo]
    outputs: list[Path] = field(default_factory=list)
    skims: list[Path] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> int:
        """Events processed successfully."""
        return sum(int(c["events"]) for c in self.chunks)

    @property
    def nonfinite(self) -> dict[str, int]:
        """Objects with NaN or infinite inputs per plugin (plugins with none left out)."""
        return self._objects("nonfinite")

    @property
    def overflowed(self) -> dict[str, int]:
        """Objects whose float outputs did not fit their declared dtype, per plugin (none:
        left out); those outputs were stored as +-inf."""
        return self._objects("overflowed")

    def _objects(self, key: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.chunks:
            for plugin, counts in c.get(key, {}).items():
                out[plugin] = out.get(plugin, 0) + int(counts["objects"])
        return {k: v for k, v in out.items() if v}

    @property
    def dropped_nan(self) -> dict[str, int]:
        """Histogram entries left out for a NaN value, per histogram (none: left out)."""
        out: dict[str, int] = {}
        for c in self.chunks:
            for name, n in c.get("dropped_nan", {}).items():
                out[name] = out.get(name, 0) + int(n)
        return {k: v for k, v in out.items() if v}


def connect_scheduler(scheduler: str, timeout: float) -> Any:
    """A ``distributed.Client`` of ``scheduler``; one clear error if it is unreachable."""
    from distributed import Client

    wait = 2 * timeout + 1
    try:  # in a thread: Client's own timeout misses a silent listener
        return call_within(lambda: Client(scheduler, timeout=timeout), wait, "jetplug-connect")
    except NoAnswer:
        msg = (
            f"the Dask scheduler at {scheduler} accepted the connection but did not answer "
            f"within {wait:g} s; is it a Dask scheduler, and is it alive? "
            "(--scheduler-timeout sets the wait)"
        )
        raise JetplugError(msg) from None
    except ValueError as e:
        msg = f"--scheduler {scheduler!r} is not a Dask scheduler address ({e})"
        raise JetplugError(msg) from None
    except (OSError, TimeoutError) as e:
        msg = (
            f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s "
            f"({type(e).__name__}: {e}); is it running? (--scheduler-timeout sets the wait)"
        )
        raise JetplugError(msg) from None


SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"
MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"


def local_worker_environ() -> dict[str, Any]:
    """Dask's pre-spawn environment for the LocalCluster's workers, without ``MALLOC_TRIM``.

    Dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` in every worker it spawns
    (and in the spawning process's own ``os.environ``, where later worker
    processes of any executor inherit it). With that variable set, glibc
    stops adapting its mmap threshold: every array above 128 KiB is mapped
    and unmapped afresh, page faults and all, and a chunk of the Particle
    Transformer took 1.3 s instead of 0.85 s in a worker here
    (docs/benchmarks.md, executor scaling). The thread caps stay.
    """
    import dask

    environ: dict[str, Any] = dict(dask.config.get(SPAWN_ENVIRON, default={}) or {})
    environ.pop(MALLOC_TRIM, None)
    return environ


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A ``distributed.Client`` of a LocalCluster: ``workers`` one-thread processes on 127.0.0.1.

    Its workers start without ``MALLOC_TRIM_THRESHOLD_`` (:func:`local_worker_environ`).
    """
    import dask
    from distributed import Client, LocalCluster

    with (
        dask.config.set({SPAWN_ENVIRON: local_worker_environ()}),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _lost_chunk(item: Any, reason: str) -> dict[str, Any]:
    """The output recorded for a chunk whose worker died every time it ran (``on_lost``)."""
    where = describe_item(item)
    if "entrystart" not in where:  # coffea's preprocessing: a file's metadata
        msg = f"dataset {where['dataset']!r}, file {where['file']}: reading its metadata: {reason}"
        raise JetplugError(msg)
    record = {**where, "plugin": None, "error": reason, "traceback": ""}
    # wrapped as coffea's Runner wraps each chunk's output
    return {"out": {"hists": {}, "chunks": [], "failed": [record]}, "processed": {item}}


@contextlib.contextmanager
def _executor(
    name: str,
    workers: int,
    scheduler: str | None,
    progress: bool,
    scheduler_timeout: float,
    worker_retries: int,
) -> Iterator[tuple[processor.executor.ExecutorBase, dict[str, Any]]]:
    if name == "iterative":
        yield processor.IterativeExecutor(status=progress), {"name": name}
    elif name == "futures":
        yield (
            ResilientFuturesExecutor(
                workers=workers,
                status=progress,
                worker_retries=worker_retries,
                on_lost=_lost_chunk,
            ),
            {"name": name, "workers": workers, "worker_retries": worker_retries},
        )
    elif name == "dask":
        if scheduler:
            with connect_scheduler(scheduler, scheduler_timeout) as client:
                yield (
                    processor.DaskExecutor(client=client, status=progress, retries=0),
                    {"name": name, "scheduler": scheduler},
                )
        else:
            with local_cluster(workers) as client:
                yield (
                    processor.DaskExecutor(client=client, status=progress, retries=0),
                    {"name": name, "workers": workers, "scheduler": "LocalCluster(127.0.0.1)"},
                )
    else:
        msg = f"unknown executor {name!r}; use one of {', '.join(EXECUTORS)}"
        raise JetplugError(msg)


def _root_cause(e: BaseException) -> BaseException:
    seen = set()
    while (e.__cause__ or e.__context__) is not None and id(e) not in seen:
        seen.add(id(e))
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return e


def _workers_ran(chunks: list[dict[str, Any]], driver: dict[str, str]) -> dict[str, Any]:
    """What the workers ran, checked against the driver: ``{"same": bool, "differing": [...]}``."""
    differing = [ran for ran in _distinct(c.get("ran", {}) for c in chunks) if ran != driver]
    return {"same_as_driver": not differing, "differing": differing}


def _distinct(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The distinct JSON-like ``records``, in the order of their sorted JSON."""
    seen = {json.dumps(r, sort_keys=True) for r in records}
    return [json.loads(s) for s in sorted(seen)]


def run(
    config: RunConfig,
    outdir: Path | None = None,
    *,
    executor: str = "iterative",
    workers: int = 2,
    scheduler: str | None = None,
    max_failures: int = 0,
    progress: bool = False,
    plots: bool = True,
    host: PluginHost | None = None,
    scheduler_timeout: float = SCHEDULER_TIMEOUT_S,
    worker_retries: int = 1,
) -> RunResult:
    """Run ``config`` and, if ``outdir`` is given, write histograms, skims, provenance and plots.

    Raises :class:`ChunksFailedError` (after writing outputs) when more than
    ``max_failures`` chunks failed, and :class:`OutputError` when an output
    could not be written (after writing the others and ``provenance.json``,
    which records the failure). ``scheduler_timeout``: seconds to wait for
    the Dask scheduler at ``scheduler`` before failing with one clear error.

    On the futures executor, a chunk whose worker process dies is rerun on
    its own up to ``1 + worker_retries`` times, then recorded as failed
    ("worker died"); the other chunks lost with the pool are rerun.
    """
    for what, value, least in (("workers", workers, 1), ("max_failures", max_failures, 0)):
        if value < least:
            msg = f"{what} must be at least {least}, got {value}"
            raise JetplugError(msg)
    if not scheduler_timeout > 0:
        msg = f"scheduler_timeout must be a positive number of seconds, got {scheduler_timeout}"
        raise JetplugError(msg)
    host = host or PluginHost()
    declared = f"run-config:{config.hash()[:16]}"
    if config.models and declared not in host.plugin_names():  # model files as plugins
        host.register(DeclaredModels(config.models), name=declared)
    plugins = Plugins(config.plugins, host=host)
    try:
        return _execute(
            config,
            plugins,
            outdir,
            executor,
            workers,
            scheduler,
            scheduler_timeout,
            max_failures,
            progress,
            plots,
            worker_retries,
        )
    finally:
        plugins.close()  # this process's backends: server connections closed, models freed


def _execute(
    config: RunConfig,
    plugins: Plugins,
    outdir: Path | None,
    executor: str,
    workers: int,
    scheduler: str | None,
    scheduler_timeout: float,
    max_failures: int,
    progress: bool,
    plots: bool,
    worker_retries: int = 1,
) -> RunResult:
    started = dt.datetime.now(dt.UTC)
    chain = plugins.chain
    checked = preflight(config, chain.specs, chain.host.derivations)
    chain.check_servers()  # a Triton server serving another model: refused before any chunk
    normalisation = normalise(config)
    with contextlib.ExitStack() as stack:
        # this run's skims, until it replaces the last run's outputs (gone either way)
        staging = stack.enter_context(staged(outdir)) if outdir is not None else None
        files = checked.files
        proc = PluginProcessor(
            config,
            plugins,
            outdir=None if staging is None else staging.resolve(),
            normalisation=normalisation,
        )
        # worker processes inherit this: coffea's schema warns about PFNano cross-references
        # that generated files do not have (JetSVs, SubJet, ...), once per chunk
        os.environ.setdefault(
            "PYTHONWARNINGS",
            "ignore:Missing cross-reference:RuntimeWarning,ignore:Branch:RuntimeWarning,"
            "ignore:Missing event_ids:RuntimeWarning",
        )
        with _executor(
            executor, workers, scheduler, progress, scheduler_timeout, worker_retries
        ) as (
            exe,
            exe_info,
        ):
            if isinstance(exe, processor.DaskExecutor):
                check_dask_workers(exe.client, plugins)  # also builds the chain on each worker
            runner = processor.Runner(
                executor=exe,
                schema=RUN_SCHEMAS[config.schema],
                chunksize=config.chunksize,
                maxchunks=config.maxchunks,
                xrootdtimeout=config.timeout,  # uproot's timeout for remote files, in the workers
                # preflight's entry counts: coffea's preprocessing opens no file again
                metadata_cache=checked.metadata_cache(),
            )
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*Missing cross-reference.*")
                    warnings.filterwarnings("ignore", message="Branch .* already exists")
                    warnings.filterwarnings("ignore", message="Missing event_ids")  # chunk fails
                    # each file names its tree in the fileset (coffea reads them with treename=None)
                    out = runner(config.coffea_fileset(), proc, treename=None)
            except JetplugError:
                raise
            except Exception as e:
                cause = _root_cause(e)
                msg = f"the {executor} executor failed: {type(cause).__name__}: {cause}"
                raise JetplugError(msg) from e
        out = proc.postprocess(dict(out)) if out else {"hists": {}, "chunks": [], "failed": []}
        result = RunResult(
            hists=out.get("hists", {}),
            chunks=out.get("chunks", []),
            failed=out.get("failed", []),
            files=files,
        )
        # datasets whose files have no events still get (empty) histograms
        for dataset in config.fileset:
            hs = result.hists.setdefault(dataset.name, {})
            for h in config.histograms:
                hs.setdefault(h.name, book(h, weighted=config.lumi is not None))
        steps = chain.provenance()
        for entry in steps:
            totals: dict[str, int] = {}
            for c in result.chunks:
                for key, value in c.get("backends", {}).get(entry["label"], {}).items():
                    totals[key] = totals.get(key, 0) + int(value)
            entry["backend"].update(totals)
            counters = (
                ("nonfinite", NonFiniteCounts(), "nonfinite_inputs"),
                ("overflowed", OverflowCounts(), "outputs_overflowed"),
            )
            for key, merged, recorded_as in counters:
                for c in result.chunks:
                    merged.merge(c.get(key, {}).get(entry["label"], {}))
                entry[recorded_as] = merged.as_dict()
            _record_resolved(entry, result.chunks)
        result.provenance = {
            "jetplug_version": __version__,
            "started": started.isoformat(),
            "finished": dt.datetime.now(dt.UTC).isoformat(),
            "config": {"path": config.source, "sha256": config.hash(), "content": config.to_dict()},
            "executor": exe_info,
            "plugins": steps,
            "plugin_packages": chain.host.entry_point_distributions(),
            "workers_ran": _workers_ran(result.chunks, chain.fingerprint()),
            "files": [vars(f) for f in files],
            "normalisation": {name: n.record() for name, n in normalisation.items()},
            "chunks_processed": [dict(c) for c in result.chunks],
            "chunks_failed": result.failed,
            "worker_deaths": list(getattr(exe, "deaths", [])),
            "events_processed": result.events,
            "nonfinite_objects": result.nonfinite,
            "overflowed_outputs": result.overflowed,
            "dropped_nan": result.dropped_nan,
            "skims": [p for c in result.chunks for p in c.get("skims", [])],
            "complete": not result.failed,
        }
        chunks_failed = (
            ChunksFailedError(result.failed, len(result.failed) + len(result.chunks))
            if len(result.failed) > max_failures
            else None
        )
        if outdir is not None and staging is not None:  # the run is done: it replaces the last one
            clear_previous(outdir)
            clear_skims(config, outdir)
            commit_staged(staging, outdir)
            result.skims = [outdir / p for p in result.provenance["skims"]]
            _write_outputs(config, result, outdir, plots=plots, chunks_failed=chunks_failed)
        if chunks_failed is not None:
            chunks_failed.provenance = result.provenance
            raise chunks_failed
        return result


def _record_resolved(entry: dict[str, Any], chunks: list[dict[str, Any]]) -> None:
    """Put in ``entry["backend"]`` what the workers that ran its chunks resolved (a device).

    The driver of a distributed run never ran the model, so its description
    says what was requested (``auto``); one value is recorded as such, several
    (workers on different machines) as ``resolved_by_workers``.
    """
    label = entry["label"]
    seen = _distinct(c["resolved"][label] for c in chunks if label in c.get("resolved", {}))
    if len(seen) == 1:
        entry["backend"] = merge_resolved(entry["backend"], seen[0])
    elif seen:
        entry["backend"]["resolved_by_workers"] = seen


def _write_outputs(
    config: RunConfig,
    result: RunResult,
    outdir: Path,
    *,
    plots: bool,
    chunks_failed: ChunksFailedError | None,
) -> None:
    """Write histograms, plots and, whatever happened to those, ``provenance.json``.

    Each output is written atomically and on its own; outputs that fail are
    recorded in provenance (``outputs_failed``) and raised afterwards as one
    :class:`OutputError` (noting ``chunks_failed`` too, if given).
    """
    outdir.mkdir(parents=True, exist_ok=True)
    writers = histogram_writers(result.hists, outdir)
    failed: list[dict[str, str]] = []
    if plots and config.plots:
        try:
            from .plotting import plot_writers

            writers += plot_writers(config, result.hists, outdir / "plots")
        except Exception as e:
            failed.append(failure_record("plots", e))
    result.outputs, write_failed = write_outputs(writers, outdir)
    failed += write_failed
    result.provenance["outputs"] = [p.relative_to(outdir).as_posix() for p in result.outputs]
    result.provenance["outputs_failed"] = failed
    result.provenance["complete"] = not result.failed and not failed
    try:
        result.outputs.append(write_provenance(outdir / "provenance.json", result.provenance))
    except Exception as e:
        error = OutputError(
            [failure_record("provenance.json", e), *failed],
            outdir,
            provenance=False,
        )
    else:
        if not failed:
            return
        error = OutputError(failed, outdir, provenance=True)
    if chunks_failed is not None:
        error.add_note(f"also: {chunks_failed}")
    raise error
