"""``jetplug validate --section domain`` (the command's options are in :mod:`.validate`)."""

from __future__ import annotations

import glob
import time
from collections.abc import Sequence
from pathlib import Path

import click

from ..errors import JetplugError
from ..host import PluginHost
from ..spec import Kind
from .validate_common import echo_written, input_dirs, installed_of_kind, report_source

__all__ = ["domain_section"]


def domain_section(
    files: tuple[Path, ...],
    plugins: tuple[str, ...],
    targets: tuple[str, ...],
    output: Path,
    n_bootstrap: int,
    backend: str,
    split: str | None,
    edges: list[float],
    eta_max: float,
) -> None:
    """The domain section: every top tagger on the source FILES and on each target."""
    from ..validation import JetTable, collect
    from ..validation.domain import domain_points, domain_rows, write_domain
    from ..validation.domain_plots import plot_domain

    named: dict[str, list[Path]] = {}
    for spec in targets:
        name, sep, pattern = spec.partition("=")
        named[name] = sorted(Path(p) for p in glob.glob(pattern)) if sep else []
        if not name or not named[name]:
            msg = f"--target {spec!r}: give NAME=GLOB matching at least one file"
            raise JetplugError(msg)
    if not named:
        msg = "--section domain needs at least one --target NAME=GLOB"
        raise JetplugError(msg)
    host = PluginHost()
    names = list(plugins) or installed_of_kind(host, Kind.TAGGER)
    points = domain_points(host, names)
    if not points:
        msg = f"none of {names} is a top-vs-QCD tagger (signal_truth or truth_classes)"
        raise JetplugError(msg)
    used = list(dict.fromkeys(p.plugin for p in points))

    def score(paths: Sequence[Path]) -> JetTable:
        pt_range = (edges[0], edges[-1])
        return collect(
            paths, used, split=split, pt_range=pt_range, eta_max=eta_max, backend=backend, host=host
        )

    start = time.perf_counter()
    source = score(files)
    tables = {n: score(f) for n, f in named.items()}
    click.echo(f"scored source and {len(tables)} targets in {time.perf_counter() - start:.0f} s")
    rows = domain_rows(source, tables, points, n_bootstrap=n_bootstrap)
    info = {
        **report_source(files),
        "split": split or "all",
        "source": {"files": len(files), "jets": len(source)},
        "targets": {
            n: {"files": len(named[n]), "jets": len(t), "inputs": input_dirs(tuple(named[n]))}
            for n, t in tables.items()
        },
        "pt_min": edges[0],
        "pt_max": edges[-1],
        "eta_max": eta_max,
        "n_bootstrap": n_bootstrap,
        "plugins": {n: host.models.get(n).spec.version for n in used},
    }
    md, js = write_domain(output, rows, info)
    plots = plot_domain(rows, output / "plots")
    echo_written(md, js, plots, output / "plots")
