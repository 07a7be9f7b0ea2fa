"""``jetplug generate PROCESS``."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import JetplugError


@click.command()
@click.argument("process")
@click.option("-n", "--events", "n_events", type=int, required=True, help="Events to generate.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Output directory (one file per job of 1000 events).",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--pt-hat-min", type=float, default=None, help="Pythia pT-hat lower bound [GeV].")
@click.option("--pt-hat-max", type=float, default=None, help="Pythia pT-hat upper bound [GeV].")
@click.option(
    "--mpi/--no-mpi",
    default=False,
    show_default=True,
    help="Multiple parton interactions (off: ~4x faster, as in the landscape recipe).",
)
@click.option("--isr/--no-isr", default=True, show_default=True, help="Initial-state radiation.")
@click.option(
    "--pythia",
    "pythia",
    multiple=True,
    metavar="'KEY = VALUE'",
    help="Extra Pythia setting, applied last, e.g. --pythia 'TimeShower:renormMultFac = 0.25'.",
)
@click.option(
    "--detector",
    default=None,
    help="Detector response: a preset (ideal, realistic) or a YAML file [default: realistic].",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one detector parameter (YAML value), e.g. --set hadron_scale=0.95.",
)
@click.option("-j", "--workers", type=int, default=1, show_default=True, help="Processes.")
def generate(
    process: str,
    n_events: int,
    output: Path,
    seed: int,
    pt_hat_min: float | None,
    pt_hat_max: float | None,
    mpi: bool,
    isr: bool,
    pythia: tuple[str, ...],
    detector: str | None,
    overrides: tuple[str, ...],
    workers: int,
) -> None:
    """Generate PROCESS events (ttbar, wjets, zjets, hbb, qcd) as PFNano ROOT files."""
    try:
        from ..generation import DetectorResponse
        from ..generation import generate as run_generate
    except ImportError as e:  # pythia8mc / fastjet are the 'generate' extra
        msg = f"event generation needs the 'generate' extra: pip install 'jetplug[generate]' ({e})"
        raise JetplugError(msg) from e
    try:
        response = DetectorResponse.resolve(detector).with_overrides(_parse_overrides(overrides))
        files = run_generate(
            process,
            n_events,
            output,
            seed=seed,
            pt_hat_min=pt_hat_min,
            pt_hat_max=pt_hat_max,
            mpi=mpi,
            isr=isr,
            pythia=pythia,
            detector=response,
            workers=workers,
        )
    except ValueError as e:
        raise JetplugError(str(e)) from e
    click.echo(f"wrote {len(files)} file(s) to {output}")


def _parse_overrides(items: tuple[str, ...]) -> dict[str, object]:
    """``KEY=VALUE`` pairs, values parsed as YAML (numbers, lists)."""
    import yaml

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            msg = f"--set {item!r}: expected KEY=VALUE, e.g. --set hadron_scale=0.95"
            raise JetplugError(msg)
        out[key.strip()] = yaml.safe_load(value)
    return out
