"""``jetplug validate --section representation`` (the command's options are in :mod:`.validate`)."""

from __future__ import annotations

import glob
from pathlib import Path

import click

from ..artifacts import relative_path
from ..errors import JetplugError
from ..host import PluginHost
from ..spec import Kind
from .validate_common import echo_written, input_dirs, installed_of_kind, report_source

__all__ = ["representation_section"]


def representation_section(
    files: tuple[Path, ...],
    plugins: tuple[str, ...],
    output: Path,
    split: str,
    edges: list[float],
    eta_max: float,
    n_bootstrap: int,
    backend: str,
    probe_train: str | None,
    supervised: Path | None,
) -> None:
    """The representation section: linear probes, EFP baseline, invariance, anomaly score."""
    from ..validation import representation as rep

    host = PluginHost()
    names = list(plugins) or installed_of_kind(host, Kind.REPRESENTATION)
    kinds = {n: host.models.get(n).spec.kind for n in names}
    embedders = [n for n, k in kinds.items() if k == Kind.REPRESENTATION]
    scores = [n for n, k in kinds.items() if k == Kind.ANOMALY]
    wrong = [n for n, k in kinds.items() if k not in (Kind.REPRESENTATION, Kind.ANOMALY)]
    if wrong or len(embedders) != 1:
        msg = (
            f"--section representation: {wrong} are neither representations nor anomaly scores"
            if wrong
            else f"--section representation: give one representation plugin (-p), got {embedders}"
        )
        raise JetplugError(msg)
    probe_files = sorted(Path(p) for p in glob.glob(probe_train)) if probe_train else []
    if not probe_files:
        msg = "--section representation needs --probe-train GLOB (labelled files for the probes)"
        raise JetplugError(msg)
    if supervised is not None:
        rep.load_supervised(supervised)  # before hours of embeddings, not after
    report = rep.evaluate_representation(
        host,
        embedders[0],
        scores,
        files,
        probe_files,
        split=None if split == "all" else split,
        pt_range=(edges[0], edges[-1]),
        eta_max=eta_max,
        n_bootstrap=n_bootstrap,
        backend=backend,
        supervised=supervised,
        log=click.echo,
    )
    if not report.probes:
        msg = (
            "no linear probe could be fitted and tested: each needs QCD and a signal class "
            f"among the --probe-train files ({len(probe_files)}) and among FILES"
        )
        raise JetplugError(msg)
    info = {
        **report_source(files),
        "plugin": embedders[0],
        "split": split,
        "files": len(files),
        "jets": report.jets,
        "probe_inputs": input_dirs(tuple(probe_files)),
        "probe_split": "train",
        "probe_jets": report.probe_jets,
        "n_efps": report.n_efps,
        "pt_range": [f"{v:g}" for v in edges[:: len(edges) - 1]],
        "eta_max": eta_max,
        "n_bootstrap": n_bootstrap,
        "supervised_source": (
            f"`{relative_path(supervised)}` (rows with the same jet counts)"
            if supervised
            else "none"
        ),
        "plugins": {n: host.models.get(n).spec.version for n in names},
    }
    md, js = rep.write_representation(output, report, info)
    echo_written(md, js, [], output)
