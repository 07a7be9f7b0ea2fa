"""Helpers every ``jetplug validate`` section shares (inputs, number lists, reports)."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import click

from ..artifacts import recorded_command, relative_path
from ..errors import JetplugError
from ..host import PluginHost
from ..spec import Kind

__all__ = [
    "anomaly_plugins",
    "echo_written",
    "input_dirs",
    "installed_of_kind",
    "parse_floats",
    "report_source",
]


def input_dirs(files: tuple[Path, ...]) -> dict[str, int]:
    """Number of input files per directory."""
    return dict(sorted(Counter(relative_path(f.parent) for f in files).items()))


def parse_floats(text: str, option: str = "--pt-bins", edges: bool = True) -> list[float]:
    """Comma-separated numbers; with ``edges``, at least two and increasing."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        msg = f"{option} {text!r}: give comma-separated numbers, e.g. 500,550,650,700"
        raise JetplugError(msg) from None
    if edges and (len(values) < 2 or any(b <= a for a, b in itertools.pairwise(values))):
        msg = f"{option} {text!r}: need at least two increasing edges"
        raise JetplugError(msg)
    if not edges and not all(v > 0 for v in values):
        msg = f"{option} {text!r}: need positive numbers"
        raise JetplugError(msg)
    return values


def report_source(files: tuple[Path, ...]) -> dict[str, Any]:
    """What every section's report records first: the command and its input files."""
    return {"command": recorded_command("validate", files), "inputs": input_dirs(files)}


def echo_written(md: Path, js: Path, plots: list[Path], where: Path) -> None:
    """Print a section's Markdown report and what it wrote."""
    click.echo(md.read_text())
    click.echo(f"wrote {md}, {js} and {len(plots)} plots in {where}")


def installed_of_kind(host: PluginHost, kind: Kind) -> list[str]:
    """The available plugins of ``kind`` (a section's default)."""
    return [n for n in host.models.names() if host.models.get(n).spec.kind == kind]


def anomaly_plugins(host: PluginHost) -> list[str]:
    """The anomaly section's default: anomaly plugins that declare ``normal_truth``.

    A score that does not say which class it was trained on (the example
    plugin's) has no "other classes" to be measured against.
    """
    return [
        n
        for n in installed_of_kind(host, Kind.ANOMALY)
        if host.models.get(n).normal_truth is not None
    ]
