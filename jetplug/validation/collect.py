"""Score held-out generated jets with every tagger plugin, through the plugin chain.

Events are read with coffea's NanoEvents (PFNano schema when the file has PF
candidates), restricted to one split of :func:`jetplug.training.split_of`
(``test`` by default: events no trainer has seen), and every plugin runs
through :class:`jetplug.chain.PluginChain`, the code the processor runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from ..chain import PluginChain
from ..chunk import ChunkContext
from ..config import PluginConfig
from ..errors import InputFileError, JetplugError
from ..fileset import refuse_repeated
from ..host import PluginHost
from ..preflight import local_file_problem
from ..spec import Kind
from ..training.data import SPLITS, split_of

__all__ = [
    "QCD",
    "Discriminant",
    "JetTable",
    "collect",
    "discriminants",
    "read_events",
    "require_fields",
]

QCD = 0
"""Generator truth label of QCD jets, the background of every discriminant."""
CLASS_NAMES = {0: "QCD", 1: "top", 2: "W", 3: "Z", 4: "H"}
_KINEMATICS = ("pt", "eta", "msoftdrop", "tau2", "tau3", "truthLabel")


@dataclass(frozen=True)
class Discriminant:
    """How to get a signal-vs-QCD score from a plugin's outputs.

    ``column`` is a scalar output (binary tagger) or, for a multi-class
    plugin, the probability vector; then ``signal_index``/``qcd_index`` pick
    p_s and p_QCD and the score is p_s / (p_s + p_QCD).
    """

    plugin: str
    signal: int
    column: str
    signal_index: int | None = None
    qcd_index: int | None = None

    @property
    def name(self) -> str:
        """``pfn`` for its natural signal, ``pfn[W]`` for others."""
        return self.plugin if self.signal == 1 else f"{self.plugin}[{CLASS_NAMES[self.signal]}]"

    def score(self, values: np.ndarray) -> np.ndarray:
        """The discriminant from the plugin's output column ``values``."""
        if self.signal_index is None or self.qcd_index is None:
            return np.asarray(values, dtype=np.float64)
        s = values[:, self.signal_index].astype(np.float64)
        b = values[:, self.qcd_index].astype(np.float64)
        return s / np.where(s + b > 0, s + b, 1.0)


def discriminants(host: PluginHost, plugins: Sequence[str]) -> list[Discriminant]:
    """The signal-vs-QCD discriminants of ``plugins`` (taggers that declare their truth)."""
    out = []
    for name in plugins:
        cls = host.models.get(name)
        spec = cls.spec
        if spec.kind != Kind.TAGGER:
            continue
        if cls.truth_classes:
            vector = next(o for o in spec.outputs if o.labels)
            qcd = cls.truth_classes.index(QCD)
            for i, truth in enumerate(cls.truth_classes):
                if truth != QCD:
                    out.append(Discriminant(name, truth, vector.name, i, qcd))
        elif cls.signal_truth is not None:
            scalar = next(o for o in spec.outputs if not o.shape)
            out.append(Discriminant(name, cls.signal_truth, scalar.name))
    return out


@dataclass
class JetTable:
    """Selected jets: kinematics, truth label and each plugin's output columns."""

    columns: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    """``"<plugin>.<output>" -> (n_jets, ...)``."""
    events: int = 0

    def __len__(self) -> int:
        return len(self.columns.get("pt", ()))


def _schema(path: str) -> type:
    from coffea.nanoevents import NanoAODSchema, PFNanoAODSchema

    with uproot.open(path) as f:
        has_pf = "nPFCands" in f["Events"]
    schema: type = PFNanoAODSchema if has_pf else NanoAODSchema
    return schema


def read_events(path: str) -> ak.Array:
    """A whole file's events (PFNano schema when it has PF candidates), eagerly.

    A missing, unreadable or directory ``path`` is an :class:`InputFileError`
    naming it.
    """
    from coffea.nanoevents import NanoEventsFactory

    problem = None if "://" in path else local_file_problem(path)
    if problem:
        raise InputFileError(path, problem)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Missing cross-reference.*")
            events: ak.Array = NanoEventsFactory.from_root(
                {path: "Events"}, schemaclass=_schema(path), mode="eager"
            ).events()
    except FileNotFoundError:
        raise InputFileError(path, "does not exist") from None
    except Exception as e:
        raise InputFileError(path, f"cannot be read: {type(e).__name__}: {e}") from None
    return events


GENERATED = " (a file made by jetplug generate?)"


def require_fields(
    path: str, events: ak.Array, wanted: Mapping[str, Sequence[str]], hint: str = GENERATED
) -> None:
    """Refuse, naming them, a file without the ``{collection: fields}`` a validation reads.

    Truth labels and gen matching exist in generated files only: real CMS
    files are refused here, with one line, rather than deep in the section.
    """
    missing: list[str] = []
    for collection, fields in wanted.items():
        if collection not in ak.fields(events):
            missing.append(collection)
            continue
        present = set(ak.fields(events[collection]))
        missing += [f"{collection}_{f}" for f in fields if f not in present]
    if missing:
        raise InputFileError(path, f"lacks {missing}{hint}")


def collect(
    files: Sequence[str | Path],
    plugins: Sequence[str],
    *,
    split: str | None = "test",
    pt_range: tuple[float, float] = (500.0, 700.0),
    eta_max: float = 2.0,
    backend: str = "local",
    host: PluginHost | None = None,
    truth: bool = True,
    extra: Sequence[str] = (),
) -> JetTable:
    """Run ``plugins`` on the ``split`` events of ``files``; keep labelled FatJets in range.

    ``split=None`` keeps every event (independent test files). With ``truth``
    (generated files) jets with truth label -1 (unmatched) are dropped; without
    it (real data) only ``pt``, ``eta`` and the ``extra`` FatJet fields are read.
    """
    if split is not None and split not in SPLITS:
        msg = f"split {split!r} unknown; use one of {list(SPLITS)} or None"
        raise JetplugError(msg)
    refuse_repeated(files, "the files to validate on")
    host = host or PluginHost()
    chain = PluginChain([PluginConfig(p, backend=backend) for p in plugins], host)
    parts: dict[str, list[np.ndarray]] = {}
    table = JetTable()
    wanted = tuple(dict.fromkeys((*(_KINEMATICS if truth else ("pt", "eta")), *extra)))
    for path in map(str, files):
        events = read_events(path)
        require_fields(path, events, {"FatJet": wanted}, GENERATED if truth else "")
        if split is not None:
            keep = split_of(ak.to_numpy(events.event), ak.to_numpy(events.run)) == split
            events = events[keep]
        table.events += len(events)
        if len(events) == 0:
            continue
        events = chain.apply(events, chunk=ChunkContext(file=str(path), entrystop=len(events)))
        jets = events.FatJet
        pt = ak.to_numpy(ak.flatten(jets["pt"]))
        eta = ak.to_numpy(ak.flatten(jets["eta"]))
        sel = (pt > pt_range[0]) & (pt < pt_range[1]) & (np.abs(eta) < eta_max)
        if truth:
            sel &= ak.to_numpy(ak.flatten(jets["truthLabel"])) >= 0
        for name in wanted:
            parts.setdefault(name, []).append(ak.to_numpy(ak.flatten(jets[name]))[sel])
        for step in chain.steps:
            for out in step.spec.outputs:
                values = ak.to_numpy(ak.flatten(jets[step.spec.name][out.name]))
                parts.setdefault(f"{step.spec.name}.{out.name}", []).append(values[sel])
    for name, arrays in parts.items():
        target = table.columns if name in wanted else table.outputs
        target[name] = np.concatenate(arrays)
    return table
