"""``jetplug plugins``: list installed ML plugins."""

from __future__ import annotations

import json

import click

from ..host import PluginHost


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List installed plugins: name, kind, version, package."""
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
    backends = ", ".join(host.backends.names())
    click.echo(f"\nbackends: {backends}")
