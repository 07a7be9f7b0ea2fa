"""The one reading of a :class:`~jetplug.spec.ModelSpec`: what it reads and writes.

Every part of jetplug that interprets a spec asks its :class:`Plan`: the
chunk gatherer (:mod:`jetplug.columns`), preflight (which branches a file
must have), training (which branches to read) and the chain (execution order
from what plugins read and write). The PFNano layout of constituents (the
``<collection>PFCands`` index table and the candidate collection) is named
here and nowhere else, with official NanoAOD's (v15) own layout of the
same information (:data:`LAYOUTS`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from .errors import ConfigError, MissingInputError
from .registry import DerivationRegistry
from .spec import ConstituentSpec, ModelSpec, TargetMode

__all__ = [
    "COLLECTION",
    "LAYOUTS",
    "CandidateLayout",
    "ConstituentTables",
    "Plan",
    "Provided",
    "branch_of",
    "charge_from_pdgid",
    "index_table",
]

COLLECTION = ""
"""Field name standing for "the collection itself" in read/write sets."""

Ref = tuple[str, str]
"""``(collection, dotted field)``; ``(collection, COLLECTION)`` is the collection."""


def branch_of(collection: str, field: str) -> str:
    """NanoAOD branch of a collection field: ``("FatJet", "pt")`` -> ``FatJet_pt``."""
    return f"{collection}_{field}"


@dataclass(frozen=True)
class CandidateLayout:
    """How files store the PF candidates of a collection's objects.

    An index table ``<collection><table_suffix>`` with one row per
    constituent (``jetIdx``: the object's index in its event; ``index``: the
    candidate's) and a candidate collection.
    """

    name: str
    table_suffix: str
    index: str
    candidates: str | None
    """The candidate collection; ``None``: the one the spec names (``PFCands``)."""
    derived: tuple[tuple[str, str, Callable[[np.ndarray], np.ndarray]], ...] = ()
    """``(field, candidate field it is computed from, how)`` for fields this layout lacks."""
    complete: bool = True
    """Whether the table holds every constituent of every object (else checked per object
    against ``<collection>_nConstituents``)."""


def charge_from_pdgid(pdgid: np.ndarray) -> np.ndarray:
    """Electric charge of PF candidates from their ``pdgId`` (CMS's particle-flow convention).

    Charged hadrons carry ``211 * charge``; electrons and muons ``-11 * charge`` and
    ``-13 * charge`` (a negative muon is 13); photons (22), neutral hadrons (130)
    and HF candidates (1, 2) are neutral.
    """
    pid = np.asarray(pdgid)
    sign = np.sign(pid)
    magnitude = np.abs(pid)
    charge = np.where(magnitude == 211, sign, np.where(np.isin(magnitude, (11, 13)), -sign, 0))
    return charge.astype(np.int32)


PFNANO = CandidateLayout("PFNano", "PFCands", "pFCandsIdx", None)
NANOAOD_V15 = CandidateLayout(
    "official NanoAOD (v15)",
    "PFCand",
    "pfCandIdx",
    "PFCand",
    derived=(("charge", "pdgId", charge_from_pdgid),),
    complete=False,
)
LAYOUTS = (PFNANO, NANOAOD_V15)
"""The layouts jetplug reads, in order of preference. Official NanoAOD v15 stores a
slim ``PFCand`` table (``pt, eta, phi, mass, pdgId``: no ``charge``, which
:func:`charge_from_pdgid` gives) linked by ``<collection>PFCand`` (``jetIdx``,
``pfCandIdx``), and not every object's candidates (none for FatJets beyond the
tracker in ``nano_tt_v15.root``)."""


def index_table(collection: str, layout: CandidateLayout = PFNANO) -> str:
    """The table indexing the constituents of ``collection``: ``FatJetPFCands`` (PFNano)."""
    return f"{collection}{layout.table_suffix}"


@dataclass(frozen=True)
class ConstituentTables:
    """Where the constituents of ``collection`` live in one :class:`CandidateLayout`."""

    collection: str
    spec: ConstituentSpec
    layout: CandidateLayout = PFNANO

    @property
    def table(self) -> str:
        """The index table, e.g. ``FatJetPFCands`` (``jetIdx``, ``pFCandsIdx``)."""
        return index_table(self.collection, self.layout)

    @property
    def candidates(self) -> str:
        """The candidate collection, e.g. ``PFCands``."""
        return self.layout.candidates or self.spec.candidates

    @property
    def derived(self) -> dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]]:
        """Constituent fields computed here: ``field -> (candidate field, function)``."""
        return {f: (src, how) for f, src, how in self.layout.derived if f in self.spec.fields}

    @property
    def read_fields(self) -> tuple[str, ...]:
        """Candidate fields read from the file (derived fields replaced by their sources)."""
        derived = self.derived
        return tuple(dict.fromkeys(derived[f][0] if f in derived else f for f in self.spec.fields))

    def branches(self) -> tuple[str, ...]:
        """Branches the constituents are read from."""
        index = (branch_of(self.table, "jetIdx"), branch_of(self.table, self.layout.index))
        count = () if self.layout.complete else (branch_of(self.collection, "nConstituents"),)
        return index + count + tuple(branch_of(self.candidates, f) for f in self.read_fields)

    def alternatives(self) -> tuple[ConstituentTables, ...]:
        """These tables in every layout that can hold them (the spec's own candidates first)."""
        if self.spec.candidates != PFNANO_CANDIDATES:  # a plugin's own candidate collection
            return (self,)
        return tuple(ConstituentTables(self.collection, self.spec, layout) for layout in LAYOUTS)

    def in_branches(self, branches: Iterable[str]) -> ConstituentTables | None:
        """The layout a file with ``branches`` holds these constituents in, if any."""
        have = set(branches)
        return next((t for t in self.alternatives() if set(t.branches()) <= have), None)

    def present_in(self, events: Any) -> set[str]:
        """The branches of :meth:`alternatives`' collections a chunk's ``events`` hold."""
        names = {n for t in self.alternatives() for n in (t.table, t.candidates, t.collection)}
        have = set(events.fields) & names
        return {branch_of(n, f) for n in have for f in events[n].fields}

    def in_events(self, events: Any) -> ConstituentTables | None:
        """The layout a chunk's ``events`` hold these constituents in, if any (as preflight
        decides for a file: :meth:`in_branches`)."""
        return self.in_branches(self.present_in(events))

    def missing_hint(self, branches: Iterable[str]) -> str:
        """What each layout lacks in a file with ``branches`` (for an error message)."""
        have = set(branches)
        lacks = []
        for t in self.alternatives():
            absent = [b for b in t.branches() if b not in have]
            lacks.append(f"{t.layout.name}: {', '.join(absent)}")
        return f"(constituent branches missing for each layout jetplug reads: {'; '.join(lacks)})"


PFNANO_CANDIDATES = ConstituentSpec().candidates


class Plan:
    """Reads, writes and needed branches of one plugin (its spec as run)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.collection = spec.inputs.collection
        self.target = spec.target_collection
        self.mode = spec.target.mode

    @cached_property
    def constituents(self) -> ConstituentTables | None:
        """The constituent tables, if the plugin reads constituents."""
        cspec = self.spec.inputs.constituents
        return None if cspec is None else ConstituentTables(self.collection, cspec)

    @cached_property
    def output_names(self) -> tuple[str, ...]:
        """Flat output columns: each output, then ``<output>_<label>`` per label."""
        names: list[str] = []
        for out in self.spec.outputs:
            names.append(out.name)
            names.extend(f"{out.name}_{label}" for label in out.labels)
        return tuple(names)

    @cached_property
    def stored_names(self) -> tuple[str, ...]:
        """Output columns that are attached (a ``create`` target's ``keep`` is not)."""
        keep = self.spec.target.keep
        return tuple(n for n in self.output_names if n != keep)

    @cached_property
    def reads(self) -> frozenset[Ref]:
        """What the plugin reads: its collection, its fields, its constituents' fields."""
        refs = {(self.collection, COLLECTION)}
        refs.update((self.collection, f.name) for f in self.spec.inputs.fields)
        if self.constituents is not None:
            refs.add((self.constituents.candidates, COLLECTION))
            refs.update((self.constituents.candidates, f) for f in self.constituents.spec.fields)
        return frozenset(refs)

    def creates_existing(self) -> str:
        """Why creating :attr:`target` is refused where a collection of that name exists."""
        return (
            f"creates collection {self.target!r}, which the events already have: it would "
            f"replace it; give the plugin a new 'target' (e.g. target: FastSim{self.target})"
        )

    @cached_property
    def writes(self) -> frozenset[Ref]:
        """What the plugin writes (see :class:`~jetplug.spec.TargetMode`)."""
        coll, name = self.target, self.spec.name
        if self.mode is TargetMode.CREATE:
            fields = [COLLECTION, *self.stored_names, "sourceIdx"]
        elif self.mode is TargetMode.REPLACE:
            fields = []
            for n in self.stored_names:
                fields += [n, f"{n}_raw", f"{n}_{name}"]
        else:
            fields = [name, *(f"{name}.{n}" for n in self.stored_names)]
        return frozenset((coll, f) for f in fields)

    @cached_property
    def not_scalar(self) -> dict[Ref, tuple[str, ...]]:
        """Written refs that hold several numbers per object, each with its scalar columns.

        A vector output (``OutputSpec.shape``) and, in ``add`` mode, the
        plugin's record of outputs; a histogram axis or cut needs one number
        per object, so it names one of the columns listed instead.
        """
        prefix = f"{self.spec.name}." if self.mode is TargetMode.ADD else ""
        stored = set(self.stored_names)
        out: dict[Ref, tuple[str, ...]] = {
            (self.target, prefix + o.name): tuple(prefix + f"{o.name}_{lab}" for lab in o.labels)
            for o in self.spec.outputs
            if o.shape and o.name in stored
        }
        if self.mode is TargetMode.ADD:
            columns = [prefix + n for n in self.stored_names]
            scalars = tuple(c for c in columns if (self.target, c) not in out)
            out[self.target, self.spec.name] = scalars
        return out

    @cached_property
    def replaces(self) -> frozenset[Ref]:
        """Existing fields the plugin overwrites (``replace`` mode)."""
        if self.mode is not TargetMode.REPLACE:
            return frozenset()
        return frozenset((self.target, n) for n in self.stored_names)

    # -- files ------------------------------------------------------------------------------
    def branches(self, available: Iterable[str], derivations: DerivationRegistry) -> list[str]:
        """The file branches this plugin reads, given the branches a file has.

        Fields the file lacks are replaced by the branches of their derivation;
        fields that other plugins write are not branches (callers skip them).
        """
        have = set(available)
        wanted: set[str] = set()
        for fs in self.spec.inputs.fields:
            branch = branch_of(self.collection, fs.name)
            if branch in have or fs.derive is None:
                wanted.add(branch)
            else:
                wanted.update(derivations.get(fs.derive).required_branches(self.collection))
        if self.constituents is not None:
            found = self.constituents.in_branches(have) or self.constituents
            wanted.update(found.branches())
        return sorted(wanted)

    def check_file(
        self,
        branches: set[str],
        provided: Provided,
        derivations: DerivationRegistry,
        path: str,
    ) -> None:
        """Raise :class:`MissingInputError` if the plugin cannot run on a file with ``branches``."""
        consumer = f"plugin {self.spec.name!r}"
        if self.mode is TargetMode.CREATE and (
            f"n{self.target}" in branches or any(b.startswith(f"{self.target}_") for b in branches)
        ):
            msg = f"{consumer}: {self.creates_existing()} ({path} has it)"
            raise ConfigError(msg)
        coll = self.collection
        prefix = f"{coll}_"
        coll_fields = sorted(b[len(prefix) :] for b in branches if b.startswith(prefix))
        if not provided.has(coll, COLLECTION) and not coll_fields:
            raise MissingInputError(
                consumer=consumer, field=coll, path=path, hint="(no such collection)"
            )
        for fs in self.spec.inputs.fields:
            if provided.has(coll, fs.name) or branch_of(coll, fs.name) in branches:
                continue
            if fs.derive is not None:
                needed = derivations.get(fs.derive).required_branches(coll)
                missing = [b for b in needed if b not in branches]
                if not missing:
                    continue
                hint = f"(derivation {fs.derive!r} would need branches {missing}, also missing)"
            elif "." in fs.name:  # another plugin's output
                other = fs.name.split(".", 1)[0]
                hint = (
                    f"(an output of plugin {other!r}, which does not run before it: list "
                    f"{other!r} in the run's plugins and in this plugin's 'requires')"
                )
            else:
                hint = ""
            raise MissingInputError(
                consumer=consumer,
                field=f"{coll}.{fs.name}",
                path=path,
                available=coll_fields + provided.fields_of(coll),
                hint=hint,
            )
        if self.constituents is not None and self.constituents.in_branches(branches) is None:
            raise MissingInputError(
                consumer=consumer,
                field=f"{coll} constituents ({self.constituents.candidates})",
                path=path,
                hint=self.constituents.missing_hint(branches),
            )


class Provided:
    """What plugins that ran before have written, as ``(collection, field)`` refs."""

    def __init__(self, plans: Iterable[Plan] = ()) -> None:
        self.refs: set[Ref] = set()
        self.not_scalar: dict[Ref, tuple[str, ...]] = {}
        for plan in plans:
            self.add(plan)

    def add(self, plan: Plan) -> None:
        """Record what ``plan`` writes."""
        self.refs |= plan.writes
        self.not_scalar |= plan.not_scalar

    def has(self, collection: str, field: str) -> bool:
        """Whether ``collection.field`` (or the collection, for ``COLLECTION``) is written."""
        return (collection, field) in self.refs

    def collections(self) -> list[str]:
        """Collections that plugins create."""
        return sorted(c for c, f in self.refs if f == COLLECTION)

    def fields_of(self, collection: str) -> list[str]:
        """Fields written into ``collection``."""
        return sorted(f for c, f in self.refs if c == collection and f)
