"""The declarative contract every ML plugin fills in.

A plugin does not touch events directly. It declares, in a :class:`ModelSpec`,

* what it reads (:class:`InputSpec`: a NanoEvents collection, per-object
  fields, optional padded constituents),
* the tensors its model consumes and produces (:class:`TensorSpec`; these are
  exactly the inputs/outputs of a Triton ``config.pbtxt``),
* what it writes back (:class:`OutputSpec` columns and a :class:`Target` that
  says whether they are added to, replace fields of, or create a collection),
* which other plugins' outputs it needs (``requires``),
* the model artifact it runs, with its sha256 (:class:`Artifact`),
* what happens to objects with NaN or infinite inputs (:class:`NonFinite`).

The processor turns that declaration into columnar work: it gathers inputs
(deriving fields a file lacks where the spec says how), calls the plugin's
``prepare`` to build tensors, runs the tensors on the chosen backend, calls
``finalize`` and attaches the columns.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import ArtifactError, PluginValidationError
from .options import Option

__all__ = [
    "Artifact",
    "ConstituentSpec",
    "FieldSpec",
    "InputSpec",
    "Kind",
    "ModelSpec",
    "NonFinite",
    "OutputSpec",
    "Target",
    "TargetMode",
    "TensorSpec",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TRITON_DATATYPES = {
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "bool": "BOOL",
}
"""Supported tensor dtypes and their Triton datatype names (``config.pbtxt`` adds ``TYPE_``)."""
_DTYPES = tuple(TRITON_DATATYPES)


class Kind(enum.StrEnum):
    """What a plugin does to events."""

    TAGGER = "tagger"
    """Scores objects (binary score or class probabilities)."""
    CALIBRATOR = "calibrator"
    """Corrects a field of a collection (e.g. regresses a jet pT) and replaces it."""
    ANOMALY = "anomaly"
    """Gives an anomaly score per object (e.g. autoencoder reconstruction error)."""
    FASTSIM = "fastsim"
    """Creates a new collection from another (e.g. reco-like jets from gen jets)."""
    DECORRELATOR = "decorrelator"
    """Post-processes another plugin's score (e.g. mass decorrelation)."""
    REPRESENTATION = "representation"
    """Produces an embedding per object (e.g. contrastive representation)."""


class TargetMode(enum.StrEnum):
    """How a plugin's output columns are attached to the events."""

    ADD = "add"
    """Outputs become a record field ``<collection>.<plugin name>.<output>``."""
    REPLACE = "replace"
    """Each output replaces ``<collection>.<output>``. The value the file had is
    kept as ``<output>_raw`` (never overwritten, however many plugins replace
    the field) and each plugin's result as ``<output>_<plugin name>``, so every
    step of a chain of calibrations stays addressable."""
    CREATE = "create"
    """Outputs become the fields of a new collection ``Target.collection``, one
    object per input object unless ``Target.keep`` drops some; sorted by
    ``Target.sort_by``; with the input's record name (four-vector behaviour) and
    a ``sourceIdx`` field pointing back to the input object."""


class NonFinite(enum.StrEnum):
    """What the processor does with an object whose inputs are NaN or infinite.

    Checked once per chunk, for every plugin, on the gathered float input
    fields, on the real (unpadded) constituents and on the float tensors
    ``prepare`` returns; the affected objects are counted per plugin and per
    input in provenance. A run config overrides a plugin's policy with the
    per-plugin key ``nonfinite``.
    """

    PROPAGATE = "propagate"
    """The object runs through the model as usual, then its float outputs are
    set to NaN, so it never gets a plausible score (histograms drop and count
    NaN entries). Integer and boolean outputs keep the model's value."""
    MASK = "mask"
    """The object is not sent to the model: its float outputs are NaN, integer
    outputs 0 and boolean outputs ``False`` (a ``create`` plugin's ``keep``
    drops it)."""
    REFUSE = "refuse"
    """The chunk fails with a ``NonFiniteInputError`` naming the plugin, the
    inputs, the file, the entry range and how many objects."""


def _check_name(kind: str, value: str) -> None:
    if not _NAME.match(value):
        msg = f"{kind} {value!r} is not a valid identifier"
        raise ValueError(msg)


def _check_dtype(value: str) -> None:
    if value not in _DTYPES:
        msg = f"dtype {value!r} not supported; use one of {', '.join(_DTYPES)}"
        raise ValueError(msg)


@dataclass(frozen=True)
class FieldSpec:
    """One per-object input field.

    Parameters
    ----------
    name
        Field of the input collection, e.g. ``"msoftdrop"``. A dotted name
        reads a record field written by another plugin, e.g. ``"top_bdt.score"``.
    derive
        Name of a registered derivation (see the ``jetplug_register_derivations``
        hook) used when a file lacks the field, e.g. ``"count_constituents"``.
        ``None``: the field is required as is.
    """

    name: str
    derive: str | None = None


@dataclass(frozen=True)
class ConstituentSpec:
    """Padded per-object constituents for networks on particles.

    The processor turns the jagged constituents into a dense
    ``(n_objects, max_constituents, len(fields))`` float32 array sorted by
    ``sort_by`` (descending), clipped to ``max_constituents``, padded with
    ``pad_value``, and a boolean mask ``(n_objects, max_constituents)``.
    """

    candidates: str = "PFCands"
    """Candidate collection; objects index it through the ``<collection>PFCands`` table."""
    fields: tuple[str, ...] = ("pt", "eta", "phi", "mass", "pdgId", "charge")
    max_constituents: int = 100
    sort_by: str | None = "pt"
    pad_value: float = 0.0

    def __post_init__(self) -> None:
        if self.max_constituents < 1:
            msg = f"max_constituents must be >= 1, got {self.max_constituents}"
            raise ValueError(msg)


@dataclass(frozen=True)
class InputSpec:
    """What a plugin reads from each chunk."""

    collection: str
    fields: tuple[FieldSpec, ...] = ()
    constituents: ConstituentSpec | None = None
    nonfinite: NonFinite = NonFinite.PROPAGATE
    """What happens to objects with NaN or infinite inputs (:class:`NonFinite`)."""

    def __post_init__(self) -> None:
        try:
            policy = NonFinite(self.nonfinite)
        except ValueError:
            known = [p.value for p in NonFinite]
            msg = f"nonfinite {self.nonfinite!r} unknown; use one of {known}"
            raise ValueError(msg) from None
        object.__setattr__(self, "nonfinite", policy)

    def field_names(self) -> tuple[str, ...]:
        """Names of the declared fields, in order."""
        return tuple(f.name for f in self.fields)


@dataclass(frozen=True)
class TensorSpec:
    """A named model tensor; ``shape`` excludes the leading batch dimension.

    A ``-1`` in ``shape`` is a variable dimension (as in Triton's ``dims``).
    """

    name: str
    dtype: str = "float32"
    shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_name("tensor", self.name)
        _check_dtype(self.dtype)


@dataclass(frozen=True)
class OutputSpec:
    """A column the plugin writes back, per object of the target collection.

    ``labels`` names the entries of a vector output (e.g. class probabilities
    ``("top", "W", "Z", "H", "QCD")``); the processor then also exposes one
    field per label, ``<output>_<label>``.
    """

    name: str
    dtype: str = "float32"
    shape: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        _check_name("output", self.name)
        _check_dtype(self.dtype)
        if self.labels and self.shape != (len(self.labels),):
            msg = (
                f"output {self.name!r}: {len(self.labels)} labels need shape ({len(self.labels)},)"
            )
            raise ValueError(msg)
        for label in self.labels:
            _check_name("label", label)


@dataclass(frozen=True)
class Target:
    """Where outputs go. ``collection`` defaults to the input collection.

    For ``create`` only:

    ``keep``
        Name of a boolean output column; objects where it is ``False`` are not
        in the new collection (an efficiency). The column itself is not stored.
    ``sort_by``
        Output field to sort the new objects by, descending per event (e.g.
        ``"pt"``: smeared jets are re-ranked as a reconstruction would).
    ``record``
        Record name giving the collection its behaviour (``.delta_r``,
        four-vector sums), e.g. ``"PtEtaPhiMLorentzVector"``. ``None``: the
        input collection's record name when the outputs include ``pt``, ``eta``,
        ``phi`` and ``mass``.
    """

    mode: TargetMode = TargetMode.ADD
    collection: str | None = None
    keep: str | None = None
    sort_by: str | None = None
    record: str | None = None


@dataclass(frozen=True)
class Artifact:
    """A model file, identified by its sha256.

    ``format`` selects the local backend that can run it, e.g.
    ``"xgboost-ubj"``, ``"xgboost-json"`` or ``"torch-state-dict"``.
    """

    path: Path
    sha256: str
    format: str

    def verify(self, plugin: str | None = None) -> Path:
        """Check that the file exists and has the declared sha256; return its path.

        ``plugin`` (the name of the plugin running it) starts the error message.
        """
        whose = f"plugin {plugin!r}: " if plugin else ""
        if not self.path.is_file():
            msg = f"{whose}model artifact {self.path} does not exist"
            raise ArtifactError(msg)
        digest = sha256_file(self.path)
        if digest != self.sha256:
            msg = (
                f"{whose}model artifact {self.path} has sha256 {digest}, expected {self.sha256}: "
                "the file is corrupt or was replaced without updating its metadata"
            )
            raise ArtifactError(msg)
        return self.path


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelSpec:
    """Everything the host and the processor need to know about one ML plugin."""

    name: str
    kind: Kind
    version: str
    inputs: InputSpec
    tensors_in: tuple[TensorSpec, ...]
    tensors_out: tuple[TensorSpec, ...]
    outputs: tuple[OutputSpec, ...]
    artifact: Artifact
    target: Target = Target()
    requires: tuple[str, ...] = ()
    """Names of plugins whose outputs this one reads (they run first)."""
    description: str = ""
    options: tuple[Option, ...] = ()
    """The options the plugin reads (``options`` in the run config), declared."""

    @property
    def target_collection(self) -> str:
        """The collection that receives the outputs."""
        return self.target.collection or self.inputs.collection

    def validate(self) -> None:
        """Raise :class:`PluginValidationError` if the spec is inconsistent."""
        try:
            _check_name("plugin name", self.name)
            Kind(self.kind)
            if not self.tensors_in or not self.tensors_out:
                msg = "a model needs at least one input and one output tensor"
                raise ValueError(msg)
            if not self.outputs:
                msg = "a plugin must declare at least one output column"
                raise ValueError(msg)
            if self.target.mode is TargetMode.CREATE and not self.target.collection:
                msg = "target mode 'create' needs the name of the new collection"
                raise ValueError(msg)
            other = self.target.collection not in (None, self.inputs.collection)
            if self.target.mode is not TargetMode.CREATE and other:
                msg = (
                    f"target mode {self.target.mode.value!r} writes one value per input object, "
                    f"so its collection must be the input collection "
                    f"{self.inputs.collection!r}, not {self.target.collection!r}; mode 'create' "
                    "makes a new collection"
                )
                raise ValueError(msg)
            create_only = (self.target.keep, self.target.sort_by, self.target.record)
            if self.target.mode is not TargetMode.CREATE and any(create_only):
                msg = "target keep/sort_by/record apply to mode 'create' only"
                raise ValueError(msg)
            outputs = {o.name: o for o in self.outputs}
            for key in ("keep", "sort_by"):
                col = getattr(self.target, key)
                if col is not None and col not in outputs:
                    msg = f"target {key} {col!r} is not an output ({sorted(outputs)})"
                    raise ValueError(msg)
            if self.target.keep is not None and outputs[self.target.keep].dtype != "bool":
                msg = f"target keep {self.target.keep!r} must be a bool output"
                raise ValueError(msg)
            if self.name in self.requires:
                msg = "a plugin cannot require itself"
                raise ValueError(msg)
            if not re.fullmatch(r"[0-9a-f]{64}", self.artifact.sha256):
                msg = f"artifact sha256 {self.artifact.sha256!r} is not 64 hex digits"
                raise ValueError(msg)
            names = [o.name for o in self.outputs]
            if len(set(names)) != len(names):
                msg = f"duplicate output names in {names}"
                raise ValueError(msg)
        except ValueError as e:
            raise PluginValidationError(self.name, str(e)) from e

    def retarget(self, collection: str | None = None, target: str | None = None) -> ModelSpec:
        """This spec reading ``collection`` (and, for ``create``, writing ``target``).

        A run config re-targets a plugin with ``collection:`` (e.g. ``top_bdt``
        on a fast-simulated collection, a calibrator on AK4 ``Jet``) and
        ``target:``. Outputs that went to the input collection follow it.
        """
        spec = self
        if collection and collection != self.inputs.collection:
            follows = self.target.collection in (None, self.inputs.collection)
            new_target = self.target
            if follows and self.target.mode is not TargetMode.CREATE:
                new_target = replace(self.target, collection=None)
            spec = replace(
                spec, inputs=replace(self.inputs, collection=collection), target=new_target
            )
        if target and target != spec.target_collection:
            if spec.target.mode is not TargetMode.CREATE:
                msg = "'target' renames a created collection; this plugin adds to its input"
                raise PluginValidationError(self.name, msg)
            spec = replace(spec, target=replace(spec.target, collection=target))
        return spec

    def with_nonfinite(self, policy: str | None) -> ModelSpec:
        """This spec with the non-finite ``policy`` a run config gives (``None``: as declared)."""
        if policy is None or policy == self.inputs.nonfinite:
            return self
        try:
            inputs = replace(self.inputs, nonfinite=NonFinite(policy))
        except ValueError as e:
            raise PluginValidationError(self.name, str(e)) from None
        return replace(self, inputs=inputs)

    def summary(self) -> dict[str, Any]:
        """A JSON-serialisable description (used by ``jetplug plugins`` and provenance)."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "version": self.version,
            "collection": self.inputs.collection,
            "fields": list(self.inputs.field_names()),
            "nonfinite": self.inputs.nonfinite.value,
            "outputs": [o.name for o in self.outputs],
            "target": {"mode": self.target.mode.value, "collection": self.target_collection},
            "requires": list(self.requires),
            "artifact": {
                "file": self.artifact.path.name,
                "sha256": self.artifact.sha256,
                "format": self.artifact.format,
            },
        }
