"""``jetplug validate FILES...``."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from pathlib import Path

import click

from ..artifacts import recorded_command, relative_path
from ..errors import JetplugError
from ..host import PluginHost
from ..spec import Kind


def _inputs(files: tuple[Path, ...]) -> dict[str, int]:
    """Number of input files per directory."""
    return dict(sorted(Counter(relative_path(f.parent) for f in files).items()))


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        msg = f"--pt-bins {text!r}: give comma-separated numbers, e.g. 500,550,650,700"
        raise JetplugError(msg) from None
    if len(values) < 2 or any(b <= a for a, b in itertools.pairwise(values)):
        msg = f"--pt-bins {text!r}: need at least two increasing edges"
        raise JetplugError(msg)
    return values


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-p",
    "--plugin",
    "plugins",
    multiple=True,
    help="Tagger plugin to validate (repeat; default: every installed tagger).",
)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), default=Path("validation"), show_default=True
)
@click.option(
    "--split",
    type=click.Choice(["test", "val", "train", "all"]),
    default="test",
    show_default=True,
    help="Event split of jetplug train to use ('all': independent files).",
)
@click.option("--pt-bins", default="500,550,650,700", show_default=True, help="pT bin edges [GeV].")
@click.option("--eta-max", type=float, default=2.0, show_default=True)
@click.option("--n-bootstrap", type=int, default=200, show_default=True)
@click.option("--backend", default="local", show_default=True, help="Backend of every plugin.")
@click.option(
    "--reference",
    default="top_bdt",
    show_default=True,
    help="Tagger whose R50 every row is divided by ('' for none).",
)
@click.option(
    "--cms",
    "cms_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Real CMS PFNano file for the validity/correlation check (repeat).",
)
def validate(
    files: tuple[Path, ...],
    plugins: tuple[str, ...],
    output: Path,
    split: str,
    pt_bins: str,
    eta_max: float,
    n_bootstrap: int,
    backend: str,
    reference: str,
    cms_files: tuple[Path, ...],
) -> None:
    """ROC, AUC, R50 (R30) per pT bin of every tagger on held-out generated FILES.

    Writes OUTPUT/validation.md, validation.json and plots/ (ROC curves, score
    distributions per class, QCD soft-drop mass sculpting).
    """
    from ..plotting import files_energy
    from ..validation import (
        cms_check,
        cms_markdown,
        collect,
        discriminants,
        evaluate,
        plot_all,
        r50_ratios,
        scores_of,
        write_report,
    )

    edges = _floats(pt_bins)
    host = PluginHost()
    names = list(plugins) or [
        n for n in host.models.names() if host.models.get(n).spec.kind == Kind.TAGGER
    ]
    discs = discriminants(host, names)
    if not discs:
        msg = f"none of {names} declares a signal truth label (signal_truth or truth_classes)"
        raise JetplugError(msg)
    used = sorted({d.plugin for d in discs})
    start = time.perf_counter()
    table = collect(
        files,
        used,
        split=None if split == "all" else split,
        pt_range=(edges[0], edges[-1]),
        eta_max=eta_max,
        backend=backend,
        host=host,
    )
    click.echo(
        f"scored {len(table)} jets of {table.events} events in {time.perf_counter() - start:.0f} s"
    )
    rows = evaluate(table, discs, edges, n_bootstrap=n_bootstrap)
    if reference and any(r.tagger == reference for r in rows):
        rows = r50_ratios(rows, reference)
    else:
        reference = ""
    checks = [c for path in cms_files for c in cms_check(path, discs, host)]
    info = {
        "command": recorded_command("validate", files),
        "inputs": _inputs(files),
        "split": split,
        "files": len(files),
        "events": table.events,
        "eta_max": eta_max,
        "n_bootstrap": n_bootstrap,
        "reference": reference,
        "plugins": {n: host.models.get(n).spec.version for n in used},
        "cms": [vars(c) for c in checks],
    }
    md, js = write_report(output, rows, info, cms_markdown(checks) if checks else "")
    energy = files_energy(files)
    plots = plot_all(table, scores_of(table, discs), edges, output / "plots", energy=energy)
    click.echo(md.read_text())
    click.echo(f"wrote {md}, {js} and {len(plots)} plots in {output / 'plots'}")
