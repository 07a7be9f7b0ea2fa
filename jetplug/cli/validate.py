"""``jetplug validate FILES...``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import click
import numpy as np

from ..errors import JetplugError
from ..host import PluginHost
from ..spec import Kind
from .validate_common import (
    anomaly_plugins,
    echo_written,
    input_dirs,
    installed_of_kind,
    parse_floats,
    report_source,
)

SECTIONS = (
    "taggers",
    "calibration",
    "fastsim",
    "anomaly",
    "trigger",
    "decorrelation",
    "domain",
    "representation",
)


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
    default=None,
    help="Tagger whose R50 every row is divided by (default: top_bdt when it is validated; "
    "'' for none).",
)
@click.option(
    "--section",
    "sections",
    multiple=True,
    type=click.Choice(SECTIONS),
    default=("taggers",),
    show_default=True,
    help="What to validate (repeat): taggers (ROC, R50), calibration (response, "
    "resolution), fastsim (fast against full simulation), anomaly (AUC, εS at fixed "
    "εB of every anomaly score against every other class), trigger (signal efficiency "
    "against the QCD rate in Hz, beside a pT and mass-cut trigger), decorrelation (R50 "
    "against 1/JSD50 of every tagger and decorrelator), domain (R50 and score distances of "
    "every top tagger on FILES, the source, and on each --target), representation (linear "
    "probes on an embedding beside EFPs and the supervised taggers, invariance, anomaly score).",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="NAME=GLOB",
    help="Domain: a target sample (repeat), e.g. fsr_up='data/domain/fsr_up/test/*/*.root'.",
)
@click.option(
    "--luminosity",
    type=float,
    default=2e34,
    show_default=True,
    help="Trigger: instantaneous luminosity [cm^-2 s^-1] giving the rates.",
)
@click.option(
    "--pt-min",
    type=float,
    default=500.0,
    show_default=True,
    help="Trigger: FatJets above this pT [GeV] are the trigger's candidates.",
)
@click.option(
    "--rates",
    default="5,1",
    show_default=True,
    help="Trigger: target QCD rates [Hz] of the working points (comma-separated). "
    "The trigger and calibration sections read every event of FILES (independent files; "
    "--split is ignored).",
)
@click.option(
    "--tagger",
    default="top_bdt",
    show_default=True,
    help="Fastsim: the tagger run on full- and fast-simulated jets (downstream check).",
)
@click.option(
    "--shifted",
    default=None,
    help="Calibration: glob of the same events with a shifted response (robustness).",
)
@click.option(
    "--signal",
    "signals",
    multiple=True,
    type=click.Choice(["W", "top"]),
    default=("W", "top"),
    show_default=True,
    help="Decorrelation: the signals to compare against QCD (repeat).",
)
@click.option(
    "--probe-train",
    default=None,
    help="Representation: glob of the labelled files whose train split fits the linear probes.",
)
@click.option(
    "--supervised",
    type=click.Path(path_type=Path),
    default=None,
    help="Representation: a jetplug validate JSON report of the taggers on the same FILES.",
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
    reference: str | None,
    sections: tuple[str, ...],
    tagger: str,
    shifted: str | None,
    cms_files: tuple[Path, ...],
    luminosity: float,
    pt_min: float,
    rates: str,
    signals: tuple[str, ...],
    targets: tuple[str, ...],
    probe_train: str | None,
    supervised: Path | None,
) -> None:
    """ROC, AUC, R50 (R30) per pT bin of every tagger on held-out generated FILES.

    Writes OUTPUT/validation.md, validation.json and plots/ (ROC curves, score
    distributions per class, QCD soft-drop mass sculpting). With ``--section
    calibration``: OUTPUT/calibration.md, calibration.json and plots of every
    calibrator's response and resolution (docs/calibration.md). With ``--section
    trigger``: OUTPUT/trigger.md, trigger.json and plots of every tagger's,
    anomaly score's and decorrelator's signal efficiency against the QCD rate
    (docs/trigger.md). With ``--section anomaly``: OUTPUT/anomaly.md, anomaly.json
    and plots of every anomaly score (docs/anomaly.md). With ``--section
    decorrelation``: OUTPUT/decorrelation.md, decorrelation.json, the
    R50-vs-1/JSD50 plane and the QCD mass after the cut (docs/decorrelation.md). With
    ``--section domain``: OUTPUT/domain.md, domain.json and the λ trade-off plots of every
    top tagger on FILES (the source) and each ``--target`` (docs/domain.md).
    With ``--section representation``: OUTPUT/representation.md and
    representation.json (docs/representation.md).
    """
    if "domain" in sections:
        edges = parse_floats(pt_bins)
        split_ = None if split == "all" else split
        from .validate_domain import domain_section

        domain_section(
            files, plugins, targets, output, n_bootstrap, backend, split_, edges, eta_max
        )
    if "representation" in sections:
        edges = parse_floats(pt_bins)
        from .validate_representation import representation_section

        representation_section(
            files,
            plugins,
            output,
            split,
            edges,
            eta_max,
            n_bootstrap,
            backend,
            probe_train,
            supervised,
        )
    if "anomaly" in sections:
        _anomaly(
            files, plugins, output, split, parse_floats(pt_bins), eta_max, n_bootstrap, backend
        )
    if "decorrelation" in sections:
        edges = parse_floats(pt_bins)
        split_ = None if split == "all" else split
        truth = tuple({"W": 2, "top": 1}[s] for s in signals)
        _decorrelation(files, plugins, output, n_bootstrap, backend, split_, edges, eta_max, truth)
    if "calibration" in sections:
        _calibration(files, plugins, output, n_bootstrap, backend, shifted)
    if "fastsim" in sections:
        _fastsim(files, plugins, tagger, output, backend)
    if "trigger" in sections:
        _trigger(files, plugins, output, backend, eta_max, luminosity, pt_min, rates)
    if "taggers" not in sections:
        return
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
    from ..validation.collect import CLASS_NAMES

    edges = parse_floats(pt_bins)
    host = PluginHost()
    names = list(plugins) or installed_of_kind(host, Kind.TAGGER)
    discs = discriminants(host, names)
    if not discs:
        msg = f"none of {names} declares a signal truth label (signal_truth or truth_classes)"
        raise JetplugError(msg)
    used = sorted({d.plugin for d in discs})
    if plugins and set(names) - set(used):  # named, yet no row would show them
        kinds = {n: str(host.models.get(n).spec.kind) for n in names if n not in used}
        msg = (
            f"the taggers section validates taggers that declare their signal; {kinds} would "
            "show in no row (--section anomaly, calibration, fastsim, ... validate the others)"
        )
        raise JetplugError(msg)
    if reference and reference not in used:
        msg = f"--reference {reference!r} is not among the validated taggers {used}"
        raise JetplugError(msg)
    if reference is None:
        reference = "top_bdt" if "top_bdt" in used else ""
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
    if not rows:
        labels = np.asarray(table.columns["truthLabel"])
        found = {
            CLASS_NAMES.get(int(c), str(c)): int((labels == c).sum()) for c in np.unique(labels)
        }
        msg = (
            "nothing to validate: each row compares a tagger's signal with QCD and needs at "
            f"least 10 jets of each in a pT bin ({edges[0]:g}-{edges[-1]:g} GeV, |eta| < "
            f"{eta_max:g}); these files' FatJets by truth class: {found or 'none'}; "
            "add files of the missing class"
        )
        raise JetplugError(msg)
    if reference and any(r.tagger == reference for r in rows):
        rows = r50_ratios(rows, reference)
    else:
        reference = ""
    checks = [c for path in cms_files for c in cms_check(path, discs, host)]
    info = {
        **report_source(files),
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
    echo_written(md, js, plots, output / "plots")


def _same_events(files: Sequence[Path], shifted: Sequence[Path]) -> None:
    """Refuse a shifted sample of other events: the shift is measured event by event."""
    import uproot

    def ids(paths: Sequence[Path]) -> np.ndarray:
        parts = [uproot.open(p)["Events"]["event"].array(library="np") for p in paths]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0)

    nominal, other = ids(files), ids(shifted)
    if not np.array_equal(nominal, other):
        common = len(np.intersect1d(nominal, other))
        msg = (
            f"--shifted holds other events than FILES ({len(other)} against {len(nominal)}, "
            f"{common} in common): a shift is measured on the same events generated with "
            "another response (same processes and seeds, --set ...)"
        )
        raise JetplugError(msg)


def _calibration(
    files: tuple[Path, ...],
    plugins: tuple[str, ...],
    output: Path,
    n_bootstrap: int,
    backend: str,
    shifted: str | None,
) -> None:
    """The calibration section: every calibrator alone on FILES (and the shifted sample)."""
    import glob

    from ..validation.calibration import calibration_report, collect_calibration, write_calibration
    from ..validation.calibration_plots import plot_calibration

    host = PluginHost()
    names = list(plugins) or installed_of_kind(host, Kind.CALIBRATOR)
    wrong = [n for n in names if host.models.get(n).spec.kind != Kind.CALIBRATOR]
    if wrong:
        msg = f"--section calibration: {wrong} are not calibrators"
        raise JetplugError(msg)
    if not names:
        msg = "no calibrator plugin is installed and available (jetplug plugins lists them)"
        raise JetplugError(msg)
    start = time.perf_counter()
    shifted_files = sorted(Path(p) for p in glob.glob(shifted)) if shifted else []
    if shifted and not shifted_files:
        msg = f"--shifted {shifted!r} matches no file"
        raise JetplugError(msg)
    if shifted_files:
        _same_events(files, shifted_files)
    table = collect_calibration(files, names, backend=backend, host=host)
    other = (
        collect_calibration(shifted_files, names, backend=backend, host=host) if shifted else None
    )
    click.echo(f"calibrated {len(table)} jets in {time.perf_counter() - start:.0f} s")
    report = calibration_report(table, other, n_bootstrap=n_bootstrap)
    info = {
        **report_source(files),
        "shifted": input_dirs(tuple(shifted_files)) if shifted_files else None,
        "files": len(files),
        "jets": len(table),
        "n_bootstrap": n_bootstrap,
        "plugins": {n: host.models.get(n).spec.version for n in names},
    }
    md, js = write_calibration(output, report, info)
    plots = plot_calibration(report, output / "plots")
    echo_written(md, js, plots, output / "plots")


def _fastsim(
    files: tuple[Path, ...], plugins: tuple[str, ...], tagger: str, output: Path, backend: str
) -> None:
    """The fast-simulation section: every fast simulation against the full simulation."""
    from ..validation.fastsim import collect_fastsim, fastsim_report, write_fastsim
    from ..validation.fastsim_plots import plot_fastsim

    host = PluginHost()
    names = list(plugins) or installed_of_kind(host, Kind.FASTSIM)
    reads = {f.name for f in host.models.get(tagger).spec.inputs.fields}
    usable = []
    for name in names:
        lacking = sorted(reads - {o.name for o in host.models.get(name).spec.outputs})
        if not lacking:
            usable.append(name)
            continue
        msg = f"fast simulation {name!r} does not make {lacking}, which {tagger!r} reads"
        if plugins:
            raise JetplugError(msg)
        click.echo(f"skipped: {msg}")
    if not usable:
        msg = "no fast-simulation plugin is installed and available (jetplug plugins lists them)"
        raise JetplugError(msg)
    names = usable
    for name in names:
        start = time.perf_counter()
        full, fast, features = collect_fastsim(files, name, tagger, backend=backend, host=host)
        click.echo(
            f"{name}: {len(fast.score)} fast, {len(full.score)} full-simulation jets "
            f"in {time.perf_counter() - start:.0f} s"
        )
        report = fastsim_report(full, fast, features)
        info = {
            **report_source(files),
            "files": len(files),
            "plugin": name,
            "tagger": tagger,
            "pt_min": 200.0,
            "eta_max": 2.5,
            "plugins": {n: host.models.get(n).spec.version for n in (name, tagger)},
        }
        where = output if len(names) == 1 else output / name
        md, js = write_fastsim(where, report, info)
        plots = plot_fastsim(full, fast, features, report, where / "plots")
        echo_written(md, js, plots, where / "plots")


def _trigger(
    files: tuple[Path, ...],
    plugins: tuple[str, ...],
    output: Path,
    backend: str,
    eta_max: float,
    luminosity: float,
    pt_min: float,
    rates: str,
) -> None:
    """The trigger section: efficiency against QCD rate of every tagger and anomaly score."""
    from ..validation.trigger import TRIGGER_KINDS, collect_trigger, selections
    from ..validation.trigger_plots import plot_trigger
    from ..validation.trigger_report import trigger_report, write_trigger

    targets = parse_floats(rates, "--rates", edges=False)
    if not luminosity > 0 or not pt_min >= 0:
        msg = f"--luminosity {luminosity:g} and --pt-min {pt_min:g}: need positive numbers"
        raise JetplugError(msg)
    host = PluginHost()
    names = list(plugins) or [n for kind in TRIGGER_KINDS for n in installed_of_kind(host, kind)]
    chosen = selections(host, names)
    if not chosen:
        msg = "no tagger, anomaly or decorrelator plugin is installed and available"
        raise JetplugError(msg)
    start = time.perf_counter()
    table = collect_trigger(
        files,
        chosen,
        luminosity=luminosity,
        pt_min=pt_min,
        eta_max=eta_max,
        backend=backend,
        host=host,
    )
    click.echo(f"read {len(table)} events, scored in {time.perf_counter() - start:.0f} s")
    report = trigger_report(table, targets)
    info = {
        **report_source(files),
        "files": len(files),
        "events": len(table),
        "plugins": {n: host.models.get(n).spec.version for n in dict.fromkeys(names)},
    }
    md, js = write_trigger(output, report, info)
    plots = plot_trigger(report, output / "plots")
    echo_written(md, js, plots, output / "plots")


def _decorrelation(
    files: tuple[Path, ...],
    plugins: tuple[str, ...],
    output: Path,
    n_bootstrap: int,
    backend: str,
    split: str | None,
    edges: list[float],
    eta_max: float,
    signals: tuple[int, ...],
) -> None:
    """The decorrelation section: every tagger and decorrelator on the R50-vs-1/JSD50 plane."""
    from ..validation import collect
    from ..validation.decorrelation import decorrelation_rows, variants, write_decorrelation
    from ..validation.decorrelation_plots import plot_decorrelation

    host = PluginHost()
    names = list(plugins) or [
        *installed_of_kind(host, Kind.TAGGER),
        *installed_of_kind(host, Kind.DECORRELATOR),
    ]
    points = variants(host, names, signals=signals)
    if not any(p.kind == "decorrelator" for p in points):
        msg = f"none of {names} is a decorrelator that declares its signal (signal_truth)"
        raise JetplugError(msg)
    start = time.perf_counter()
    table = collect(
        files,
        names,
        split=split,
        pt_range=(edges[0], edges[-1]),
        eta_max=eta_max,
        backend=backend,
        host=host,
        extra=("tau1", "n2b1"),
    )
    click.echo(
        f"scored {len(table)} jets of {table.events} events in {time.perf_counter() - start:.0f} s"
    )
    rows = decorrelation_rows(table, points, n_bootstrap=n_bootstrap)
    info = {
        **report_source(files),
        "split": split or "all",
        "files": len(files),
        "events": table.events,
        "pt_min": edges[0],
        "pt_max": edges[-1],
        "eta_max": eta_max,
        "n_bootstrap": n_bootstrap,
        "plugins": {n: host.models.get(n).spec.version for n in names},
    }
    md, js = write_decorrelation(output, rows, info)
    plots = plot_decorrelation(table, points, rows, output / "plots")
    echo_written(md, js, plots, output / "plots")


def _anomaly(
    files: tuple[Path, ...],
    plugins: tuple[str, ...],
    output: Path,
    split: str,
    edges: list[float],
    eta_max: float,
    n_bootstrap: int,
    backend: str,
) -> None:
    """The anomaly section: every anomaly score against every class but its normal one."""
    from ..validation import collect
    from ..validation.anomaly import anomaly_rows, epoch_histories, write_anomaly
    from ..validation.anomaly_plots import plot_anomaly

    host = PluginHost()
    names = list(plugins) or anomaly_plugins(host)
    normal_of = {n: host.models.get(n).normal_truth for n in names}
    wrong = [n for n in names if host.models.get(n).spec.kind != Kind.ANOMALY]
    undeclared = [n for n, t in normal_of.items() if t is None]
    if wrong or undeclared:
        msg = (
            f"--section anomaly: {wrong} are not anomaly scores"
            if wrong
            else f"--section anomaly: {undeclared} do not declare normal_truth (the class "
            "they were trained on)"
        )
        raise JetplugError(msg)
    if not names:
        msg = "no anomaly plugin is installed and available (jetplug plugins lists them)"
        raise JetplugError(msg)
    start = time.perf_counter()
    pt_range = (edges[0], edges[-1])
    table = collect(
        files,
        names,
        split=None if split == "all" else split,
        pt_range=pt_range,
        eta_max=eta_max,
        backend=backend,
        host=host,
    )
    click.echo(f"scored {len(table)} jets in {time.perf_counter() - start:.0f} s")
    declared = {n: int(t) for n, t in normal_of.items() if t is not None}
    rows = anomaly_rows(table, declared, n_bootstrap=n_bootstrap)
    histories = epoch_histories(host, names)
    info = {
        **report_source(files),
        "split": split,
        "files": len(files),
        "events": table.events,
        "jets": len(table),
        "pt_range": [f"{v:g}" for v in pt_range],
        "eta_max": eta_max,
        "n_bootstrap": n_bootstrap,
        "plugins": {n: host.models.get(n).spec.version for n in names},
    }
    md, js = write_anomaly(output, rows, histories, info)
    plots = plot_anomaly(table, declared, histories, output / "plots")
    echo_written(md, js, plots, output / "plots")
