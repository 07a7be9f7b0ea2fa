"""Write a run's results: histograms (coffea pickle + ROOT), provenance, plots.

Every output is written atomically (:func:`atomic_path`): into a hidden
temporary file in its directory, renamed into place once complete, so an
output is either the whole new file or the one that was there before.
:func:`write_outputs` runs each writer on its own: one that fails is recorded,
and the others are written all the same.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import tempfile
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import hist
import numpy as np
import uproot

from .errors import JetplugError, OutputError

__all__ = [
    "STAGING_PREFIX",
    "Writer",
    "atomic_path",
    "clear_previous",
    "commit_staged",
    "failure_record",
    "histogram_writers",
    "package_versions",
    "safe_name",
    "save_histograms",
    "staged",
    "write_coffea",
    "write_outputs",
    "write_provenance",
    "write_root",
]

STAGING_PREFIX = ".jetplug-run-"
"""Folder, inside the output directory, holding a run's skims until the run commits them."""

Hists = Mapping[str, Mapping[str, hist.Hist[Any]]]
Writer = tuple[Path, Callable[[Path], object]]
"""An output: its final path, and a function that writes it into the path it is given."""

PACKAGES = (
    "jetplug",
    "jetplug-taggers",
    "coffea",
    "awkward",
    "uproot",
    "numpy",
    "hist",
    "boost-histogram",
    "pluggy",
    "xgboost",
    "torch",
    "dask",
    "distributed",
    "tritonclient",
)


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine a run's results (installed ones only)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def safe_name(name: str) -> str:
    """``name`` as one path component or ROOT key, percent-encoded: distinct names never
    share one.

    Letters, digits and ``_.-~`` stay; ``/`` (which uproot and the file
    system take for a directory), ``%``, ``;`` (a ROOT cycle) and the rest
    are encoded; ``.`` and ``..`` become ``%2E`` and ``%2E%2E``. Used for the
    dataset's directory in ``histograms.root`` and under ``skims/``. (``tt/a``
    and ``tt_a`` once both became ``tt_a``, and their skims overwrote each other.)
    """
    quoted = urllib.parse.quote(name, safe="")
    return quoted.replace(".", "%2E") if quoted in {"", ".", ".."} else quoted


def _root_name(*parts: object) -> str:
    return "_".join(str(p) for p in parts).replace("/", "_").replace("-", "m")


_CATEGORY = (hist.axis.IntCategory, hist.axis.StrCategory)


def _category_th1(h: hist.Hist[Any]) -> Any:
    """A histogram whose only axis is a category axis, as a TH1D with one labelled bin each.

    Bin ``i`` (1-based) holds the ``i``-th category and is labelled with it;
    entries in no listed category (the axis' overflow) go to the TH1's
    overflow bin, which uproot reads back as the ``other`` category.
    """
    axis = h.axes[0]
    n = len(axis)
    template = uproot.to_writable(h)  # a TH1D with the categories as bin labels

    def padded(flow: Any) -> np.ndarray:
        out = np.zeros(n + 2, dtype=np.float64)  # ROOT: underflow, bins, overflow
        out[1 : 1 + len(flow)] = flow
        return out

    values = padded(h.values(flow=True))
    variances = padded(h.variances(flow=True)) if h.storage_type is hist.storage.Weight else None
    inner = values[1:-1]
    inner_w2 = (values if variances is None else variances)[1:-1]
    centers = np.arange(n) + 0.5
    return uproot.writing.to_TH1x(
        fName=None,
        fTitle=template.member("fTitle"),
        data=values,
        fEntries=float(values.sum()),
        fTsumw=float(inner.sum()),
        fTsumw2=float(inner_w2.sum()),
        fTsumwx=float((inner * centers).sum()),
        fTsumwx2=float((inner * centers**2).sum()),
        fSumw2=variances,
        fXaxis=template.member("fXaxis"),
    )


def _to_root(out: Any, key: str, h: hist.Hist[Any]) -> int:
    """Write ``h`` under ``key``; returns the number of objects written.

    Category axes are split into one object per category
    (``<key>__<axis>_<value>``) until one category axis is left alone, which
    becomes a labelled TH1 (:func:`_category_th1`).
    """
    cat_axes = [i for i, ax in enumerate(h.axes) if isinstance(ax, _CATEGORY)]
    if not cat_axes:
        if h.ndim > 3:
            return 0
        out[key] = h
        return 1
    if h.ndim == 1:
        out[key] = _category_th1(h)
        return 1
    i = cat_axes[0]
    axis = h.axes[i]
    written = 0
    for value in axis:
        part = cast("hist.Hist[Any]", h[{axis.name: hist.loc(value)}])
        written += _to_root(out, f"{key}__{_root_name(axis.name, value)}", part)
    return written


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path``, renamed onto ``path`` when the block succeeds.

    The temporary name is hidden (``.<name>.<pid>.<random>.tmp``). If the block
    raises, the temporary file is removed and ``path`` is left as it was.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_coffea(hists: Hists, path: Path) -> None:
    """``{dataset: {name: Hist}}`` as coffea's lz4-compressed pickle (``coffea.util.load``)."""
    from coffea.util import save

    save({d: dict(hs) for d, hs in hists.items()}, str(path))


def write_root(hists: Hists, path: Path) -> None:
    """``{dataset: {name: Hist}}`` as ``<dataset>/<name>`` TH1/2/3 objects (:func:`_to_root`).

    ``<dataset>`` is the dataset's name percent-encoded (:func:`safe_name`):
    one directory per dataset, also for a name with ``/`` in it.
    """
    with uproot.recreate(path) as f:
        for dataset, hs in hists.items():
            for name, h in hs.items():
                _to_root(f, f"{safe_name(dataset)}/{name}", h)


def histogram_writers(hists: Hists, outdir: Path) -> list[Writer]:
    """The writers of ``histograms.coffea`` and ``histograms.root`` in ``outdir``."""
    return [
        (outdir / "histograms.coffea", lambda path: write_coffea(hists, path)),
        (outdir / "histograms.root", lambda path: write_root(hists, path)),
    ]


def failure_record(output: str, error: BaseException) -> dict[str, str]:
    """What provenance records of an output that could not be written.

    ``{"output": its path relative to the output directory, "error": "Type:
    message" on one line, "traceback": ...}``.
    """
    return {
        "output": output,
        "error": " ".join(f"{type(error).__name__}: {error}".split()),
        "traceback": "".join(traceback.format_exception(error)),
    }


def write_outputs(
    writers: Sequence[Writer], outdir: Path
) -> tuple[list[Path], list[dict[str, str]]]:
    """Run every writer atomically; one that fails does not stop the others.

    Returns the paths written and, for each output that failed, its
    :func:`failure_record`.
    """
    written: list[Path] = []
    failed: list[dict[str, str]] = []
    for path, write in writers:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                write(tmp)
        except Exception as e:
            failed.append(failure_record(path.relative_to(outdir).as_posix(), e))
        else:
            written.append(path)
    return written, failed


def save_histograms(hists: Hists, outdir: Path) -> list[Path]:
    """Save ``{dataset: {name: Hist}}`` as ``histograms.coffea`` and ``histograms.root``.

    ``histograms.coffea`` is coffea's lz4-compressed pickle (``coffea.util.load``)
    holding ``hist.Hist`` objects. ``histograms.root`` holds ``<dataset>/<name>``
    TH1/TH2/TH3 objects; category axes are split into ``<name>__<axis>_<value>``
    until one is left alone, which becomes a TH1 with one labelled bin per
    category. Both are written atomically; if one fails, the other is still
    written and :class:`~jetplug.errors.OutputError` names the failure.
    """
    written, failed = write_outputs(histogram_writers(hists, outdir), outdir)
    if failed:
        raise OutputError(failed, outdir)
    return written


def write_provenance(path: Path, record: Mapping[str, Any]) -> Path:
    """Write ``provenance.json`` atomically (with package versions and the command line added)."""
    full = {
        **record,
        "packages": package_versions(),
        "command": sys.argv,
        "platform": platform.platform(),
    }
    text = json.dumps(full, indent=2, sort_keys=True, default=str) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


@contextlib.contextmanager
def staged(outdir: Path) -> Iterator[Path]:
    """Create ``outdir`` (one clear error, before any work, if it cannot be) and yield a
    new staging folder inside it for this run's skims, removed on exit.

    Nothing of a previous run is touched here: :func:`clear_previous` removes
    it, and :func:`commit_staged` moves the staged skims into place, only once
    this run has processed its chunks, so an interrupted run (Ctrl-C, a killed
    job) leaves the previous results whole.
    """
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=outdir))
    except OSError as e:
        why = "a file is in the way" if isinstance(e, FileExistsError) else e.strerror or str(e)
        msg = f"output directory {outdir}: cannot create it ({why})"
        raise JetplugError(msg) from None
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def commit_staged(staging: Path, outdir: Path) -> None:
    """Move every file of ``staging`` to the same place under ``outdir``."""
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        target = outdir / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


def clear_previous(outdir: Path) -> None:
    """Remove what the previous run's ``provenance.json`` lists, and that provenance.

    Exactly the files it lists (its outputs and skim files), so that a reused
    directory holds this run's outputs only: no stale plot of a plot no
    longer configured, no skim chunk of a renamed dataset. Other files in the
    directory stay.
    """
    previous = outdir / "provenance.json"
    try:
        record = json.loads(previous.read_text())
    except (OSError, ValueError):
        return  # no previous run, or not one jetplug can read: nothing to clear
    root = outdir.resolve()
    listed = [*record.get("outputs", []), *record.get("skims", [])]
    for rel in listed:
        path = (outdir / str(rel)).resolve()
        if path.is_relative_to(root) and path.is_file() and path != previous.resolve():
            path.unlink()
            for parent in path.parents:  # directories the removal left empty
                if parent == root or not parent.is_relative_to(root):
                    break
                with contextlib.suppress(OSError):
                    parent.rmdir()
    previous.unlink(missing_ok=True)
