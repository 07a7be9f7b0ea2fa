"""Base class of ML plugins: turns gathered inputs into tensors and back.

A plugin subclasses :class:`JetModel`, sets :attr:`JetModel.spec` (or builds it
in ``__init__``) and implements :meth:`JetModel.prepare`. The same ``prepare``
is used by the processor, by training code and by benchmarks, so features are
computed in exactly one place. Everything here works on flat numpy arrays (one
row per object): the processor flattens and unflattens the jagged structure.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .chunk import ChunkContext, ObjectRandom
from .errors import JetplugError, TensorSpecError
from .options import resolve_options
from .spec import ModelSpec

if TYPE_CHECKING:
    from .training import TrainingData, TrainSettings

__all__ = ["JetModel", "LazySpec", "ModelInputs", "lazy_spec"]


@dataclass(frozen=True)
class ModelInputs:
    """Inputs gathered for one chunk, flattened to one row per object.

    Attributes
    ----------
    fields
        ``field name -> (n_objects,)`` arrays, one per :class:`~jetplug.spec.FieldSpec`.
    constituents
        ``(n_objects, max_constituents, n_features)`` float32, or ``None`` when
        the spec declares no constituents.
    mask
        ``(n_objects, max_constituents)`` bool, ``True`` for real constituents.
    chunk
        Which events these are (dataset, file, entry range); ``None`` outside a run.
    random
        Reproducible random numbers per object (:class:`~jetplug.chunk.ObjectRandom`),
        keyed by the plugin's seed, the file and each object's entry and index,
        so they do not depend on the executor or the chunk size.
    incomplete
        ``(n_objects,)`` bool, ``True`` for objects whose constituents the file
        does not store in full (official NanoAOD stores none for some FatJets);
        ``None`` when every object's are there. Such objects are handled as
        objects with non-finite inputs (:mod:`jetplug.nonfinite`).
    """

    fields: Mapping[str, np.ndarray]
    constituents: np.ndarray | None = None
    mask: np.ndarray | None = None
    chunk: ChunkContext | None = None
    random: ObjectRandom | None = None
    incomplete: np.ndarray | None = None

    def __len__(self) -> int:
        for values in self.fields.values():
            return len(values)
        if self.constituents is not None:
            return len(self.constituents)
        return 0


class LazySpec:
    """A class attribute that builds a plugin's :class:`ModelSpec` on first access.

    Plugins whose spec reads model metadata (version, sha256) from a file
    declare it with :func:`lazy_spec`, so that importing the plugin never
    reads a file: a plugin whose model is not trained yet is listed as
    unavailable, with the reason, instead of breaking every command.
    """

    def __init__(self, name: str, factory: Callable[[], ModelSpec]) -> None:
        self.name = name
        self.factory = factory
        self._spec: ModelSpec | None = None
        self._lock = threading.Lock()

    def build(self) -> ModelSpec:
        """The spec (built once; errors from the factory propagate every time)."""
        with self._lock:
            if self._spec is None:
                spec = self.factory()
                if spec.name != self.name:
                    msg = f"lazy_spec named {self.name!r} built a spec named {spec.name!r}"
                    raise JetplugError(msg)
                self._spec = spec
            return self._spec

    def __get__(self, obj: object, owner: type | None = None) -> ModelSpec:
        return self.build()

    def __reduce__(self) -> tuple[Any, ...]:
        return (LazySpec, (self.name, self.factory))


def lazy_spec(name: str, factory: Callable[[], ModelSpec]) -> ModelSpec:
    """Declare ``spec = lazy_spec("name", build)``: ``build()`` runs on first access.

    Typed as returning a :class:`ModelSpec` because that is what reading the
    attribute gives (the object is a :class:`LazySpec` descriptor).
    """
    return LazySpec(name, factory)  # type: ignore[return-value]


def declared_name(model: type[JetModel]) -> str | None:
    """The plugin name of ``model`` without building its spec (``None`` if unknown)."""
    for klass in model.__mro__:
        attr = vars(klass).get("spec")
        if isinstance(attr, LazySpec):
            return attr.name
        if isinstance(attr, ModelSpec):
            return attr.name
    return None


class JetModel(ABC):
    """An ML plugin: declares a :class:`ModelSpec` and builds model tensors.

    Subclasses are registered through the ``jetplug_register_models`` hook.
    They are instantiated once per worker process with the run's options:
    the declared ``spec.options`` defaults, updated by the run config
    (unknown keys are refused).
    """

    spec: ClassVar[ModelSpec]
    truth_classes: ClassVar[tuple[int, ...] | None] = None
    """For a multi-class model: the generator truth label of each class, in the
    order of the first output's ``labels`` (used by ``jetplug train``)."""
    signal_truth: ClassVar[int | None] = None
    """For a binary tagger: the generator truth label its first scalar output
    selects against QCD (e.g. 1 for a top tagger; used by ``jetplug validate``)."""
    normal_truth: ClassVar[int | None] = None
    """For an anomaly score: the generator truth label of the jets it was trained
    on as normal (e.g. 0 for QCD); every other class is a signal to flag (used
    by ``jetplug validate --section anomaly``)."""
    padding_invariant: ClassVar[bool] = False
    """The model's outputs do not depend on padded constituent slots: its
    ``mask`` input tensor (real constituents first, as jetplug pads them)
    masks them out of every operation. Local backends then run jets sorted by
    their number of constituents and trim each batch's padding to the longest
    jet in it (:mod:`jetplug.backends.torch`); results are unchanged."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: dict[str, Any] = resolve_options(
            self.spec.options, options, owner=f"plugin {self.spec.name!r}"
        )

    @abstractmethod
    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """Return the model's input tensors (``spec.tensors_in``) for these objects."""

    def build_module(self) -> Any:
        """The ``torch.nn.Module`` architecture (weights are loaded by the backend).

        Only plugins with a ``torch-state-dict`` artifact implement it. The
        module's ``forward`` takes the input tensors in ``spec.tensors_in``
        order and returns one tensor per ``spec.tensors_out`` (a tuple if
        several).
        """
        msg = (
            f"plugin {self.spec.name!r} has no torch module (artifact {self.spec.artifact.format})"
        )
        raise NotImplementedError(msg)

    def train(
        self,
        data: TrainingData,
        output: Path,
        *,
        version: str,
        settings: TrainSettings,
        log: Callable[[str], None],
    ) -> dict[str, Any]:
        """Train this plugin's model on ``data`` and write it to ``output``; return its metadata.

        ``jetplug train PLUGIN FILES`` calls it with
        :func:`jetplug.training.training_inputs` of the files: exactly the
        inputs :meth:`prepare` sees, truth labels, gen-matched targets and
        the event-based split. Write the model and its metadata
        (:func:`jetplug.write_model_metadata`). Taggers with xgboost or
        torch-state-dict models have built-in trainers; other kinds
        (calibrators, anomaly scores, fast simulation, ...) implement this.
        """
        del data, output, version, settings, log
        raise NotImplementedError

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """Turn the model's output tensors into output columns (``spec.outputs``).

        ``outputs`` are the model's output tensors (``spec.tensors_out``),
        ``inputs`` the gathered inputs and ``prepared`` the input tensors that
        :meth:`prepare` returned (e.g. an autoencoder's reconstruction error
        needs its input and output together). The default maps each output
        column to the output tensor of the same name, or to the only output
        tensor when there is one.
        """
        del inputs, prepared
        tensors = outputs
        columns: dict[str, np.ndarray] = {}
        for out in self.spec.outputs:
            if out.name in tensors:
                columns[out.name] = np.asarray(tensors[out.name], dtype=out.dtype)
            elif len(tensors) == 1:
                columns[out.name] = np.asarray(next(iter(tensors.values())), dtype=out.dtype)
            else:
                msg = (
                    f"no output tensor named {out.name!r} (got {sorted(tensors)}); "
                    "override finalize()"
                )
                raise TensorSpecError(self.spec.name, msg)
        return columns
