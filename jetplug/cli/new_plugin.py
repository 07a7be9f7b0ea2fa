"""``jetplug new-plugin --kind KIND --format FORMAT DIR``: a plugin package to start from."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import JetplugError
from ..host import PluginHost
from ..scaffold import FORMATS, KINDS, PluginNames, render_plugin


@click.command("new-plugin")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--kind", type=click.Choice(list(KINDS)), required=True, help="What the plugin does.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="xgboost-json",
    show_default=True,
    help="Model artifact format (and how train.py fits it).",
)
@click.option("--name", default=None, help="Plugin name (default: from DIRECTORY).")
@click.option(
    "--reads",
    default=None,
    help="decorrelator: the <plugin>.<output> it decorrelates (default: top_bdt.score).",
)
@click.option("--force", is_flag=True, help="Write into a directory that is not empty.")
def new_plugin(
    directory: Path, kind: str, fmt: str, name: str | None, reads: str | None, force: bool
) -> None:
    """Write a plugin package of KIND into DIRECTORY: model, entry point, training script, tests."""
    names = PluginNames.from_name(name or directory.resolve().name)
    host = PluginHost()
    if names.name in host.models or names.name in host.models.unavailable:
        msg = (
            f"a plugin named {names.name!r} is already installed "
            f"(package {host.models.package(names.name) if names.name in host.models else '?'}); "
            "choose another --name"
        )
        raise JetplugError(msg)
    written = render_plugin(
        directory, kind, fmt, name=names.name, reads=reads, force=force, host=host
    )
    for path in written:
        click.echo(f"  {path}")
    click.echo(
        f"\nwrote {names.dist} ({kind}, {fmt}). Next:\n"
        f"  cd {directory}\n"
        "  pip install -e .\n"
        "  python train.py\n"
        "  pytest\n"
        f"  jetplug check {names.name}"
    )
