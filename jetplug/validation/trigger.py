"""The trigger view: ML selections against the QCD trigger rate, beside a non-ML selection.

**Rates.** Every input file is one job of a ``jetplug generate`` sample, named
``<process>_s<seed>_<k>.root``, whose ``Runs`` tree records the generator
cross-section (``jetplugCrossSection``, pb), ``genEventSumw`` and the pT-hat
window (``jetplugPtHatMin/Max``). Files of one process and window form a
:class:`Sample` (a pT-hat slice): its cross-section is the files' estimates
averaged with their ``genEventSumw``, and an event weighs
``genWeight * xsec * L / sumw`` with ``sumw`` the summed ``genEventSumw`` of the
slice's files (:class:`jetplug.normalisation.Normalisation`, with the
instantaneous luminosity ``L`` in pb⁻¹ s⁻¹ in place of an integrated one), so
the weight is a rate in Hz and slices of one process add up to its spectrum.
Slices of one process whose windows overlap would count events twice: refused.

**Decisions** are made per event. The ML selection passes an event when **any**
FatJet with ``pT > pt_min`` and ``|eta| < eta_max`` has a score above the cut
(the event score is the largest such jet's score): a boosted W recoils against
a harder jet as often as not, and a ttbar event has two candidates. The non-ML
selection is the classic single-jet trigger with a jet-mass cut: the leading
FatJet (in ``|eta| < eta_max``) has ``pT > P`` and ``m_SD > M``, with
``P >= pt_min``. For a target QCD rate, the cut of each selection is the
loosest giving a rate not above it (rates are sums of discrete weights, so the
achieved rate is quoted too); the non-ML cuts (M, P) of equal rate form a line
in the (M, P) plane (:func:`equal_rate_line`).

**Efficiency** of a signal (top from ttbar, W, Z, H from W/Z/H+jet) is the
weighted fraction of all its generated events (every slice of its process)
that pass; its error is the weighted binomial one.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from ..chain import PluginChain
from ..chunk import ChunkContext
from ..config import PluginConfig
from ..errors import InputFileError, JetplugError
from ..generation.processes import PROCESSES
from ..host import PluginHost
from ..normalisation import Normalisation
from ..spec import Kind
from .collect import CLASS_NAMES, QCD, discriminants, read_events

__all__ = [
    "CM2_PER_PB",
    "DEFAULT_LUMINOSITY",
    "SIGNALS",
    "TRIGGER_KINDS",
    "Sample",
    "Selection",
    "TriggerTable",
    "collect_trigger",
    "efficiency",
    "equal_rate_line",
    "rate",
    "samples_of",
    "selections",
    "threshold_at_rate",
]

CM2_PER_PB = 1e-36
"""1 pb in cm²: a luminosity in cm⁻² s⁻¹ times this is in pb⁻¹ s⁻¹."""
DEFAULT_LUMINOSITY = 2e34
"""Instantaneous luminosity [cm⁻² s⁻¹] (the LHC's Run 3 peak)."""
SIGNALS = {"ttbar": 1, "wjets": 2, "zjets": 3, "hbb": 4}
"""Signal processes and the truth class (CLASS_NAMES) of their jets."""
TRIGGER_KINDS = (Kind.TAGGER, Kind.ANOMALY, Kind.DECORRELATOR)
_FILE_NAME = re.compile(r"^(?P<process>[a-z0-9]+)_s\d+_\d+\.root$")
_RUNS = ("genEventCount", "genEventSumw", "jetplugCrossSection", "jetplugPtHatMin")


@dataclass(frozen=True)
class Sample:
    """The files of one generated process in one pT-hat window (a slice)."""

    process: str
    pt_hat: tuple[float, float]
    """(min, max) in GeV; max is inf for an open window."""
    files: tuple[str, ...]
    xsec_pb: float
    """Generator cross-section: the files' estimates weighted by their genEventSumw."""
    sumw: float
    """Summed genEventSumw of the files (every generated event)."""
    events: int

    @property
    def name(self) -> str:
        """``qcd pT-hat 250-500``."""
        lo, hi = self.pt_hat
        return f"{self.process} pT-hat {lo:g}-{'' if math.isinf(hi) else f'{hi:g}'}"

    def normalisation(self, luminosity: float) -> Normalisation:
        """Per-event weight ``genWeight * xsec * L / sumw``: a rate in Hz at ``luminosity``."""
        n = len(self.files)
        return Normalisation(
            self.name,
            simulation=True,
            lumi_pb=luminosity * CM2_PER_PB,
            xsec_pb=self.xsec_pb,
            sumw=self.sumw,
            sumw_from=f"Runs.genEventSumw of {n} file{'s' if n != 1 else ''}",
        )


def _runs(path: str) -> tuple[str, tuple[float, float], float, float, int]:
    """Process, pT-hat window, cross-section, sumw and event count recorded in ``path``."""
    match = _FILE_NAME.match(Path(path).name)
    if match is None or match["process"] not in PROCESSES:
        msg = "is not named as jetplug generate names its files (<process>_s<seed>_<k>.root)"
        raise InputFileError(path, msg)
    try:
        with uproot.open(path) as f:
            runs = f.get("Runs")
            have = set() if runs is None else set(runs.keys())
            lacking = [b for b in _RUNS if b not in have]
            if lacking:
                msg = f"its Runs tree lacks {lacking}: made by an older jetplug generate?"
                raise InputFileError(path, msg)
            r = runs.arrays([*_RUNS, "jetplugPtHatMax"], library="np")
    except InputFileError:
        raise
    except Exception as e:
        raise InputFileError(path, f"cannot be read: {type(e).__name__}: {e}") from None
    lo, hi = float(r["jetplugPtHatMin"][0]), float(r["jetplugPtHatMax"][0])
    sumw = float(np.sum(r["genEventSumw"], dtype=np.float64))
    if not sumw > 0:
        raise InputFileError(path, f"its Runs tree's genEventSumw is {sumw:g}: cannot normalise")
    xsec = float(np.sum(r["jetplugCrossSection"] * r["genEventSumw"]) / sumw)
    window = (max(lo, 0.0), math.inf if hi < 0 else hi)
    return match["process"], window, xsec, sumw, int(np.sum(r["genEventCount"]))


def samples_of(files: Sequence[str | Path]) -> list[Sample]:
    """Group ``files`` into pT-hat slices; slices of one process must not overlap."""
    groups: dict[tuple[str, tuple[float, float]], list[tuple[str, float, float, int]]] = {}
    for path in map(str, files):
        process, window, xsec, sumw, count = _runs(path)
        groups.setdefault((process, window), []).append((path, xsec, sumw, count))
    samples = []
    for (process, window), rows in sorted(groups.items()):
        sumw = sum(r[2] for r in rows)
        samples.append(
            Sample(
                process=process,
                pt_hat=window,
                files=tuple(r[0] for r in rows),
                xsec_pb=sum(r[1] * r[2] for r in rows) / sumw,
                sumw=sumw,
                events=sum(r[3] for r in rows),
            )
        )
    for a, b in itertools.pairwise(samples):
        if a.process == b.process and b.pt_hat[0] < a.pt_hat[1]:
            msg = (
                f"{a.name} and {b.name} overlap: their events would be counted twice; "
                "give slices with disjoint pT-hat windows"
            )
            raise JetplugError(msg)
    return samples


@dataclass(frozen=True)
class Selection:
    """An event score from one plugin output: the largest over the trigger's FatJets.

    ``qcd_index`` set: a multi-class output; ``signal_index`` None gives the
    anti-QCD score 1 - p_QCD, else p_s / (p_s + p_QCD). Otherwise the scalar
    output itself (an anomaly score: larger is more anomalous).
    """

    label: str
    plugin: str
    kind: str
    column: str
    signal_index: int | None = None
    qcd_index: int | None = None

    def score(self, values: np.ndarray) -> np.ndarray:
        """The per-jet score from the plugin's output column ``values``."""
        if self.qcd_index is None:
            return np.asarray(values, dtype=np.float64)
        b = values[:, self.qcd_index].astype(np.float64)
        if self.signal_index is None:
            return 1.0 - b
        s = values[:, self.signal_index].astype(np.float64)
        return s / np.where(s + b > 0, s + b, 1.0)


def selections(host: PluginHost, plugins: Sequence[str]) -> list[Selection]:
    """The trigger selections of ``plugins`` (taggers, anomaly scores, decorrelators).

    A multi-class tagger gives its anti-QCD score and one discriminant per
    signal class; any other plugin its scalar output ``score`` (or its first
    scalar output).
    """
    out = []
    for name in plugins:
        cls = host.models.get(name)
        spec = cls.spec
        if spec.kind not in TRIGGER_KINDS:
            kinds = ", ".join(k.value for k in TRIGGER_KINDS)
            msg = f"--section trigger: {name!r} is a {spec.kind.value}, not one of {kinds}"
            raise JetplugError(msg)
        if spec.kind == Kind.TAGGER and cls.truth_classes:
            vector = next(o for o in spec.outputs if o.labels)
            qcd = cls.truth_classes.index(QCD)
            out.append(
                Selection(f"{name}[anti-QCD]", name, spec.kind.value, vector.name, None, qcd)
            )
            out.extend(
                Selection(
                    f"{name}[{CLASS_NAMES[d.signal]}]",
                    name,
                    spec.kind.value,
                    d.column,
                    d.signal_index,
                    d.qcd_index,
                )
                for d in discriminants(host, [name])
            )
            continue
        scalars = [o for o in spec.outputs if not o.shape]
        if not scalars:
            msg = f"--section trigger: {name!r} has no scalar output to cut on"
            raise JetplugError(msg)
        column = next((o for o in scalars if o.name == "score"), scalars[0]).name
        out.append(Selection(name, name, spec.kind.value, column))
    return out


@dataclass
class TriggerTable:
    """One row per generated event: its slice, rate weight, leading jet and event scores."""

    samples: list[Sample]
    luminosity: float
    pt_min: float
    eta_max: float
    sample: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Index into ``samples``."""
    weight: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Rate of the event at ``luminosity`` [Hz]."""
    lead_pt: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Leading FatJet in ``|eta| < eta_max`` (0 when none)."""
    lead_msd: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    """Selection label -> the event score (-inf: no FatJet above ``pt_min``)."""

    def __len__(self) -> int:
        return len(self.weight)

    def of(self, process: str) -> np.ndarray:
        """Mask of the events of ``process`` (every slice)."""
        index = [i for i, s in enumerate(self.samples) if s.process == process]
        return np.isin(self.sample, index)

    @property
    def qcd(self) -> np.ndarray:
        """Mask of the background events (QCD processes)."""
        index = [i for i, s in enumerate(self.samples) if PROCESSES[s.process].qcd]
        return np.isin(self.sample, index)

    @property
    def signals(self) -> dict[str, str]:
        """Signal class name -> process, for the signal processes present."""
        present = {s.process for s in self.samples}
        return {CLASS_NAMES[c]: p for p, c in SIGNALS.items() if p in present}


def collect_trigger(
    files: Sequence[str | Path],
    chosen: Sequence[Selection],
    *,
    luminosity: float = DEFAULT_LUMINOSITY,
    pt_min: float = 500.0,
    eta_max: float = 2.0,
    backend: str = "local",
    host: PluginHost | None = None,
) -> TriggerTable:
    """Read every event of ``files``; run the plugins of ``chosen`` on events that can pass.

    Plugins that those require (``spec.requires``: a decorrelator's tagger) run
    too, without becoming selections.

    Only events with a FatJet above ``pt_min`` in ``|eta| < eta_max`` can pass
    any selection, so only they are scored (the others keep -inf).
    """
    host = host or PluginHost()
    samples = samples_of(files)
    plugins = list(dict.fromkeys(s.plugin for s in chosen))
    for name in plugins:  # grows: what a plugin requires runs too (a decorrelator's tagger)
        plugins += [r for r in host.spec(name).requires if r not in plugins]
    chain = PluginChain([PluginConfig(p, backend=backend) for p in plugins], host)
    table = TriggerTable(samples, luminosity, pt_min, eta_max)
    parts: dict[str, list[np.ndarray]] = {}

    def add(name: str, values: np.ndarray) -> None:
        parts.setdefault(name, []).append(values)

    for index, sample in enumerate(samples):
        factor = sample.normalisation(luminosity).factor
        assert factor is not None  # simulation with sumw > 0 (checked by samples_of)
        for path in sample.files:
            events = read_events(path)
            jets = events.FatJet
            inside = np.abs(jets.eta) < eta_max
            lead = ak.argmax(ak.where(inside, jets.pt, -1.0), axis=1, keepdims=True)
            has = ak.to_numpy(ak.any(inside, axis=1))
            lead_pt = np.where(has, ak.to_numpy(ak.fill_none(ak.firsts(jets.pt[lead]), 0.0)), 0.0)
            msd = ak.to_numpy(ak.fill_none(ak.firsts(jets.msoftdrop[lead]), 0.0))
            add("sample", np.full(len(events), index))
            add("weight", ak.to_numpy(events.genWeight).astype(np.float64) * factor)
            add("lead_pt", lead_pt)
            add("lead_msd", np.where(has, msd, 0.0))
            pre = ak.to_numpy(ak.any(inside & (jets.pt > pt_min), axis=1))
            scores = {s.label: np.full(len(events), -np.inf) for s in chosen}
            if pre.any() and chosen:
                scored = chain.apply(
                    events[pre], chunk=ChunkContext(file=path, entrystop=len(events))
                )
                fat = scored.FatJet
                counts = ak.to_numpy(ak.num(fat))
                usable = ak.to_numpy(ak.flatten((np.abs(fat.eta) < eta_max) & (fat.pt > pt_min)))
                for s in chosen:
                    values = ak.to_numpy(ak.flatten(fat[s.plugin][s.column]))
                    score = s.score(values)
                    per_jet = np.where(usable & np.isfinite(score), score, -np.inf)
                    event = ak.max(ak.unflatten(per_jet, counts), axis=1)
                    scores[s.label][pre] = ak.to_numpy(ak.fill_none(event, -np.inf))
            for label, values in scores.items():
                add(f"score:{label}", values)
    if not parts:
        return table
    table.sample = np.concatenate(parts.pop("sample")).astype(np.int64)
    table.weight = np.concatenate(parts.pop("weight"))
    table.lead_pt = np.concatenate(parts.pop("lead_pt"))
    table.lead_msd = np.concatenate(parts.pop("lead_msd"))
    table.scores = {k.split(":", 1)[1]: np.concatenate(v) for k, v in parts.items()}
    return table


def rate(weight: np.ndarray, passed: np.ndarray) -> tuple[float, float]:
    """The summed weight of the passing events and its statistical error sqrt(sum w²)."""
    w = weight[passed]
    return float(w.sum()), float(np.sqrt(np.sum(w**2)))


def efficiency(weight: np.ndarray, passed: np.ndarray) -> tuple[float, float]:
    """Weighted fraction passing and its binomial error (NaN, NaN when there are none)."""
    total = float(weight.sum())
    if not total > 0:
        return math.nan, math.nan
    eff = float(weight[passed].sum()) / total
    var = np.sum(weight[passed] ** 2) * (1 - eff) ** 2 + np.sum(weight[~passed] ** 2) * eff**2
    return eff, float(np.sqrt(var)) / total


def threshold_at_rate(scores: np.ndarray, weight: np.ndarray, target: float) -> float:
    """The loosest cut ``t`` with ``sum(weight[scores >= t]) <= target`` (inf: none).

    ``scores`` and ``weight`` are the background events'; -inf scores never pass.
    """
    finite = np.isfinite(scores)
    values, inverse = np.unique(scores[finite], return_inverse=True)
    if not len(values):
        return math.inf
    per_value = np.bincount(inverse, weights=weight[finite], minlength=len(values))
    above = np.cumsum(per_value[::-1])[::-1]  # rate of scores >= values[j]
    ok = np.flatnonzero(above <= target * (1 + 1e-12))
    return float(values[ok[0]]) if len(ok) else math.inf


def equal_rate_line(
    table: TriggerTable, target: float, mass_cuts: Sequence[float]
) -> list[tuple[float, float, float]]:
    """(M, P, achieved rate) of the non-ML cuts ``m_SD >= M, pT >= P > pt_min`` at ``target`` Hz.

    For each mass cut in ``mass_cuts`` (increasing), the pT cut of equal rate;
    the line ends where ``P`` reaches ``pt_min``, at the mass cut that alone
    (with ``pT > pt_min``) gives the rate.
    """
    qcd = table.qcd & (table.lead_pt > table.pt_min)
    line = []
    for mass in mass_cuts:
        keep = qcd & (table.lead_msd >= mass)
        if rate(table.weight, keep)[0] <= target:
            msd = table.lead_msd[qcd]
            end = threshold_at_rate(msd, table.weight[qcd], target)
            if math.isfinite(end):
                line.append((end, table.pt_min, rate(table.weight[qcd], msd >= end)[0]))
            break
        pt = table.lead_pt[keep]
        cut = threshold_at_rate(pt, table.weight[keep], target)
        if math.isfinite(cut):
            line.append((float(mass), cut, rate(table.weight[keep], pt >= cut)[0]))
    return line
