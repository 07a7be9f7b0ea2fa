"""``jetplug run CONFIG``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from ..config import load_config
from ..errors import ChunksFailedError
from ..runner import EXECUTORS, SCHEDULER_TIMEOUT_S, RunResult
from ..runner import run as run_config


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--outdir",
    type=click.Path(path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Directory for histograms, skims, provenance and plots.",
)
@click.option(
    "-e",
    "--executor",
    type=click.Choice(EXECUTORS),
    default="iterative",
    show_default=True,
    help="coffea executor.",
)
@click.option(
    "-j",
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Processes for the futures executor / LocalCluster workers.",
)
@click.option(
    "--scheduler",
    default=None,
    help="Address of an existing Dask scheduler (with --executor dask).",
)
@click.option(
    "--scheduler-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=SCHEDULER_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the --scheduler before giving up.",
)
@click.option(
    "--chunksize",
    type=click.IntRange(min=1),
    default=None,
    help="Override the config's chunksize (events per chunk).",
)
@click.option(
    "--max-failures",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Chunks allowed to fail before the run exits non-zero.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds a remote file's server may take to answer; overrides the config's "
    "'timeout' (default 30).",
)
@click.option("--no-plots", is_flag=True, help="Skip the plots.")
def run(
    config: Path,
    outdir: Path,
    executor: str,
    workers: int,
    scheduler: str | None,
    scheduler_timeout: float,
    chunksize: int | None,
    max_failures: int,
    timeout: float | None,
    no_plots: bool,
) -> None:
    """Run the processor configured in CONFIG (YAML or TOML)."""
    cfg = load_config(config)
    if chunksize is not None:
        from dataclasses import replace

        cfg = replace(cfg, chunksize=chunksize)
    if timeout is not None:
        cfg = dataclasses.replace(cfg, timeout=timeout)
    try:
        result = run_config(
            cfg,
            outdir,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            scheduler_timeout=scheduler_timeout,
            max_failures=max_failures,
            progress=True,
            plots=not no_plots,
        )
    except ChunksFailedError as e:  # what served the chunks that ran, then the error
        for line in backend_rows(e.provenance or {}):
            click.echo(line)
        raise
    click.echo(
        f"processed {result.events} events in {len(result.chunks)} chunks "
        f"({len(result.failed)} failed) -> {outdir}"
    )
    for line in summary_lines(result):
        click.echo(line)
    for path in result.outputs:
        click.echo(f"  {path}")
    if result.skims:
        click.echo(f"  {len(result.skims)} skim file(s) in {outdir / 'skims'}")
    for line in backend_rows(result.provenance):
        click.echo(line)


def summary_lines(result: RunResult) -> list[str]:
    """The counts printed under the summary line, when there are any: objects with NaN/inf
    inputs, histogram entries dropped for NaN, objects whose outputs did not fit their
    declared dtype."""
    lines = []
    steps = {s["label"]: s for s in result.provenance.get("plugins", [])}
    if result.nonfinite:
        counted = ", ".join(
            f"{p} {n} ({steps[p]['nonfinite']})" for p, n in result.nonfinite.items()
        )
        lines.append(f"  objects with NaN/inf inputs: {counted}")
    if result.dropped_nan:
        counted = ", ".join(f"{h} {n}" for h, n in result.dropped_nan.items())
        lines.append(f"  histogram entries dropped for NaN: {counted}")
    if result.overflowed:
        counted = ", ".join(
            f"{p} {n} ("
            + ", ".join(f"{o} {k}" for o, k in steps[p]["outputs_overflowed"]["outputs"].items())
            + ")"
            for p, n in result.overflowed.items()
        )
        lines.append(
            f"  objects with outputs beyond their declared type (stored as inf): {counted}"
        )
    return lines


def backend_rows(provenance: dict[str, Any]) -> list[str]:
    """One line per plugin on a remote backend: objects served remotely and by the fallback.

    Read from provenance (``rows_remote`` / ``rows_fallback``, summed over
    the chunks); a fallback that served anything is flagged, since those
    objects did not run where the config said.
    """
    lines = []
    for step in provenance.get("plugins", []):
        backend = step.get("backend", {})
        if "rows_fallback" not in backend:
            continue
        remote, fallback = int(backend.get("rows_remote", 0)), int(backend["rows_fallback"])
        line = (
            f"{step['label']} ({backend.get('backend', '?')}): {remote} objects on the server, "
            f"{fallback} on the local fallback"
        )
        if fallback:
            line += " (the server was unavailable; see provenance.json)"
        lines.append(line)
    return lines
