"""``jetplug train PLUGIN FILES...``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..artifacts import metadata_path
from ..host import PluginHost
from ..training import TrainSettings
from ..training.dispatch import train_plugin

F = TypeVar("F", bound=Callable[..., Any])

_SETTINGS_OPTIONS = [
    click.option("--signal", type=int, default=1, show_default=True, help="Truth label of signal."),
    click.option(
        "--background", type=int, default=0, show_default=True, help="Truth label of background."
    ),
    click.option("--pt-min", type=float, default=550.0, show_default=True),
    click.option("--pt-max", type=float, default=650.0, show_default=True),
    click.option(
        "--eta-max", type=click.FloatRange(min=0, min_open=True), default=2.0, show_default=True
    ),
    click.option("--seed", type=int, default=42, show_default=True),
    click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True),
    *(
        click.option(name, type=click.IntRange(min=1), default=default, show_default=True, help=h)
        for name, default, h in (
            ("--epochs", 60, "torch: maximum epochs."),
            ("--batch-size", 512, "torch: minibatch."),
            ("--patience", 8, "torch: epochs without validation improvement before stopping."),
        )
    ),
    click.option(
        "--lr",
        type=click.FloatRange(min=0, min_open=True),
        default=2e-3,
        show_default=True,
        help="torch: AdamW rate.",
    ),
]


def settings_options(command: F) -> F:
    """The selection and training options shared by ``jetplug train`` and ``jetplug tune``."""
    for option in reversed(_SETTINGS_OPTIONS):
        command = option(command)
    return command


def settings_from(options: dict[str, Any]) -> TrainSettings:
    """The :class:`TrainSettings` of the options :func:`settings_options` added."""
    if options["pt_max"] <= options["pt_min"]:
        msg = f"--pt-max {options['pt_max']:g} must exceed --pt-min {options['pt_min']:g}"
        raise click.BadParameter(msg, param_hint="--pt-max")
    return TrainSettings(**options)


@click.command()
@click.argument("plugin")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    default=None,
    help="Model file to write (default: the plugin's shipped artifact).",
)
@click.option("--model-version", default="1.0.0", show_default=True)
@settings_options
def train(
    plugin: str,
    files: tuple[Path, ...],
    output: str | None,
    model_version: str,
    **options: Any,
) -> None:
    """Train PLUGIN's model on generated FILES (split by event into train/val/test).

    Taggers with xgboost or torch models use the built-in trainers; other
    plugins train through their own ``JetModel.train`` on the same inputs
    their ``prepare`` sees, with truth labels and gen-matched targets.
    """
    if output is not None and (Path(output).is_dir() or output.endswith(("/", os.sep))):
        msg = f"{output} is a directory; give the model file to write (e.g. {output}/model.ubj)"
        raise click.BadParameter(msg, param_hint="-o/--output")
    settings = settings_from(options)
    written, meta = train_plugin(
        PluginHost(),
        plugin,
        files,
        None if output is None else Path(output),
        version=model_version,
        settings=settings,
        log=click.echo,
    )
    click.echo(f"wrote {written} (sha256 {meta['sha256'][:12]}…) and {metadata_path(written)}")
