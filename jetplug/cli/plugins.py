"""``jetplug plugins``: list installed ML plugins, backends and their declared options."""

from __future__ import annotations

import json

import click

from ..host import PluginHost
from ..options import options_table


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--options", "show_options", is_flag=True, help="Also list each plugin's and backend's options."
)
def plugins(as_json: bool, show_options: bool) -> None:
    """List installed plugins: name, kind, version, package (and unavailable ones, with why)."""
    host = PluginHost()
    rows = host.describe()
    if as_json:
        click.echo(json.dumps([vars(r) for r in rows], indent=2))
        return
    header = ("name", "kind", "version", "package")
    table = [header, *[(r.name, r.kind, r.version, r.package) for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        click.echo("(no plugins installed)")
    for r in rows:
        if r.problem:
            click.secho(f"unavailable: {r.name}: {r.problem}", fg="yellow")
    backends = ", ".join(host.backends.names())
    click.echo(f"\nbackends: {backends}")
    if show_options:
        for r in rows:
            if not r.problem and host.spec(r.name).options:
                click.echo(f"\n## plugin {r.name}\n\n{options_table(host.spec(r.name).options)}")
        for name in host.backends.names():
            declared = host.backends.get(name).options_spec
            if declared:
                click.echo(f"\n## backend {name}\n\n{options_table(declared)}")
