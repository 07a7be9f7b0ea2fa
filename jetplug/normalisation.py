"""Normalising simulation to a luminosity with the datasets' metadata.

With ``lumi`` (integrated luminosity in /pb) in the run config, each dataset
is simulation or data, from its metadata as coffea filesets and CMS analyses
write it: ``isMC`` or ``is_mc`` (true or false); when neither is given, a
dataset with ``xsec`` is simulation and one without is an error. Then

* a simulation event weighs ``genWeight * xsec * lumi / sumw``: ``xsec`` is
  the dataset's cross-section in pb (metadata, required), ``sumw`` the sum of
  the generator weights of all events the dataset was made from: the sum of
  ``genEventSumw`` over the ``Runs`` trees of the dataset's files (NanoAOD
  fills it before any selection, so events skimmed away still count;
  ``genEventSumw_`` in older NanoAOD), or the metadata ``sumw`` when given;
* a data event weighs 1, and ``genWeight`` is not read.

A histogram's own ``weight`` field multiplies this event weight, so it must
not be ``genWeight`` itself (it would count twice). Without ``lumi`` nothing
is normalised: histograms are weighted by their ``weight`` field only, as
before. :func:`normalise` reads the sums on the driver before the run;
provenance records each dataset's :meth:`Normalisation.record`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import awkward as ak
import numpy as np
import uproot

from .configkit import ConfigContext
from .errors import InputFileError, JetplugError, MissingInputError

if TYPE_CHECKING:
    from .config import RunConfig
    from .fileset import DatasetConfig

__all__ = ["GEN_WEIGHT", "Normalisation", "check_normalisation", "normalise"]

GEN_WEIGHT = "genWeight"
SIMULATION_KEYS = ("isMC", "is_mc")
SUMW_BRANCHES = ("genEventSumw", "genEventSumw_")


def _number(ctx: ConfigContext, metadata: Mapping[str, Any], key: str, where: str) -> float | None:
    value = metadata.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        ctx.fail(f"{where}.{key}", f"expected a positive number, got {value!r}")
    return float(value)


def _is_simulation(ctx: ConfigContext, dataset: DatasetConfig) -> bool:
    """Whether ``dataset`` is simulation, from its metadata (validated; see the module doc)."""
    where = f"fileset.{dataset.name}.metadata"
    flags = {k: dataset.metadata[k] for k in SIMULATION_KEYS if k in dataset.metadata}
    for key, value in flags.items():
        if not isinstance(value, bool):
            ctx.fail(f"{where}.{key}", f"expected true (simulation) or false (data), got {value!r}")
    if len(set(flags.values())) > 1:
        ctx.fail(where, f"isMC and is_mc disagree: {flags}")
    xsec = _number(ctx, dataset.metadata, "xsec", where)
    _number(ctx, dataset.metadata, "sumw", where)
    simulation = next(iter(flags.values())) if flags else xsec is not None
    if not flags and not simulation:
        ctx.fail(
            where,
            "with lumi given, each dataset says what it is: isMC: false for data, "
            "or xsec (cross-section in pb) for simulation",
        )
    if simulation and xsec is None:
        ctx.fail(where, "simulation needs xsec (cross-section in pb) to be normalised to lumi")
    if not simulation and xsec is not None:
        ctx.fail(where, "xsec given for data (isMC: false); data is not normalised")
    return simulation


def check_normalisation(
    ctx: ConfigContext,
    datasets: Sequence[DatasetConfig],
    weights: Mapping[str, str | None],
    lumi: float | None,
) -> None:
    """With ``lumi``: every dataset's metadata says what it is; no histogram weighs by genWeight.

    ``weights`` maps each histogram to its ``weight`` field.
    """
    if lumi is None:
        return
    for name, weight in weights.items():
        if weight == GEN_WEIGHT:
            ctx.fail(
                f"histograms.{name}.weight",
                "with lumi given, simulation is weighted by genWeight already "
                "(times xsec * lumi / sumw); remove weight: genWeight",
            )
    for dataset in datasets:
        _is_simulation(ctx, dataset)


@dataclass(frozen=True)
class Normalisation:
    """How one dataset's events are weighted (``simulation`` None: not normalised, no lumi)."""

    dataset: str
    simulation: bool | None = None
    lumi_pb: float | None = None
    xsec_pb: float | None = None
    sumw: float | None = None
    sumw_from: str | None = None

    @property
    def factor(self) -> float | None:
        """``xsec * lumi / sumw`` for simulation, else None."""
        if not self.simulation or self.xsec_pb is None or self.lumi_pb is None or not self.sumw:
            return None
        return self.xsec_pb * self.lumi_pb / self.sumw

    def event_weight(self, events: ak.Array) -> ak.Array | None:
        """Per-event weight of a chunk (None: every event weighs 1, or nothing is normalised)."""
        factor = self.factor
        return None if factor is None else events[GEN_WEIGHT] * factor

    def record(self) -> dict[str, Any]:
        """What provenance says about this dataset's normalisation."""
        if self.simulation is None:
            return {"normalised": False, "event_weight": "1 (no lumi in the run config)"}
        if not self.simulation:
            return {
                "normalised": True,
                "type": "data",
                "lumi_pb": self.lumi_pb,
                "event_weight": "1",
            }
        return {
            "normalised": True,
            "type": "simulation",
            "lumi_pb": self.lumi_pb,
            "xsec_pb": self.xsec_pb,
            "sumw": self.sumw,
            "sumw_from": self.sumw_from,
            "factor": self.factor,
            "event_weight": f"{GEN_WEIGHT} * {self.factor!r}",
        }


def _file_sumw(dataset: str, path: str, treename: str, need_runs: bool) -> tuple[float, str]:
    """Check ``path`` has genWeight; its Runs trees' summed genEventSumw and the branch read.

    ``(0, "")`` if the sum is not needed.
    """
    try:
        with uproot.open(path) as f:
            if GEN_WEIGHT not in set(f[treename].keys()):
                raise MissingInputError(
                    consumer=f"the normalisation of simulation dataset {dataset!r}",
                    field=GEN_WEIGHT,
                    path=path,
                    hint="(is it data? then give isMC: false in its metadata)",
                )
            if not need_runs:
                return 0.0, ""
            runs = f.get("Runs")
            branches = set() if runs is None else set(runs.keys())
            branch = next((b for b in SUMW_BRANCHES if b in branches), None)
            if runs is None or branch is None:
                has = "has no Runs tree" if runs is None else "has a Runs tree without genEventSumw"
                raise InputFileError(
                    path,
                    f"{has}, needed to normalise simulation to lumi; give the dataset's sum "
                    "of generator weights as metadata sumw",
                    dataset=dataset,
                )
            return float(np.sum(runs[branch].array(library="np"), dtype=np.float64)), branch
    except (InputFileError, MissingInputError):
        raise
    except Exception as e:
        msg = f"cannot read genWeight/Runs for normalisation ({type(e).__name__}: {e})"
        raise InputFileError(path, msg, dataset=dataset) from None


def normalise(config: RunConfig) -> dict[str, Normalisation]:
    """Each dataset's :class:`Normalisation`, reading the ``Runs`` sums on the driver."""
    out: dict[str, Normalisation] = {}
    ctx = ConfigContext(config.source)
    for d in config.fileset:
        if config.lumi is None:
            out[d.name] = Normalisation(d.name)
            continue
        if not _is_simulation(ctx, d):
            out[d.name] = Normalisation(d.name, simulation=False, lumi_pb=config.lumi)
            continue
        given = d.metadata.get("sumw")
        read = [_file_sumw(d.name, f, d.tree(f, config.treename), given is None) for f in d.files]
        sumw = float(given) if given is not None else sum(s for s, _ in read)
        n = len(d.files)
        branches = "/".join(sorted({b for _, b in read}))  # genEventSumw_ in older NanoAOD
        sumw_from = (
            "metadata sumw"
            if given is not None
            else f"Runs.{branches} of {n} file{'s' if n != 1 else ''}"
        )
        if not sumw > 0:
            msg = (
                f"dataset {d.name!r}: the sum of generator weights ({sumw_from}) is {sumw:g}; "
                "cannot normalise it to lumi"
            )
            raise JetplugError(msg)
        out[d.name] = Normalisation(
            d.name,
            simulation=True,
            lumi_pb=config.lumi,
            xsec_pb=float(d.metadata["xsec"]),
            sumw=sumw,
            sumw_from=sumw_from,
        )
    return out
