"""``jetplug demo``."""

from __future__ import annotations

from pathlib import Path

import click

from ..demo import run_demo
from ..runner import EXECUTORS


@click.command()
@click.option(
    "-o",
    "--outdir",
    type=click.Path(path_type=Path),
    default=Path("demo-results"),
    show_default=True,
)
@click.option(
    "-n",
    "--events",
    "n_events",
    type=int,
    default=2000,
    show_default=True,
    help="Events generated per sample (ttbar, QCD).",
)
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=None,
    help="Where generated samples are cached (default $JETPLUG_CACHE or ~/.cache/jetplug).",
)
@click.option(
    "-e", "--executor", type=click.Choice(EXECUTORS), default="futures", show_default=True
)
@click.option("-j", "--workers", type=int, default=2, show_default=True)
def demo(outdir: Path, n_events: int, cache: Path | None, executor: str, workers: int) -> None:
    """Generate a small ttbar + QCD sample, tag FatJets with the top BDT, plot."""
    result = run_demo(
        outdir, n_events=n_events, cache=cache, executor=executor, workers=workers, log=click.echo
    )
    click.echo(f"processed {result.events} events; outputs in {outdir}:")
    for path in result.outputs:
        click.echo(f"  {path}")
