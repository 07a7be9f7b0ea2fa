"""Base class of ML plugins: turns gathered inputs into tensors and back.

A plugin subclasses :class:`JetModel`, sets :attr:`JetModel.spec` (or builds it
in ``__init__``) and implements :meth:`JetModel.prepare`. The same ``prepare``
is used by the processor, by training code and by benchmarks, so features are
computed in exactly one place. Everything here works on flat numpy arrays (one
row per object): the processor flattens and unflattens the jagged structure.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .spec import ModelSpec

__all__ = ["JetModel", "ModelInputs"]


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
    """

    fields: Mapping[str, np.ndarray]
    constituents: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __len__(self) -> int:
        for values in self.fields.values():
            return len(values)
        if self.constituents is not None:
            return len(self.constituents)
        return 0


class JetModel(ABC):
    """An ML plugin: declares a :class:`ModelSpec` and builds model tensors.

    Subclasses are registered through the ``jetplug_register_models`` hook.
    They are instantiated once per worker process with the run's options
    (spec defaults updated by the run config).
    """

    spec: ClassVar[ModelSpec]
    truth_classes: ClassVar[tuple[int, ...] | None] = None
    """For a multi-class model: the generator truth label of each class, in the
    order of the first output's ``labels`` (used by ``jetplug train``)."""
    signal_truth: ClassVar[int | None] = None
    """For a binary tagger: the generator truth label its first scalar output
    selects against QCD (e.g. 1 for a top tagger; used by ``jetplug validate``)."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: dict[str, Any] = {**self.spec.options, **(options or {})}

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

    def finalize(
        self, tensors: Mapping[str, np.ndarray], inputs: ModelInputs
    ) -> dict[str, np.ndarray]:
        """Turn the model's output tensors into output columns (``spec.outputs``).

        The default maps each output column to the output tensor of the same
        name, or to the only output tensor when there is one.
        """
        del inputs
        columns: dict[str, np.ndarray] = {}
        for out in self.spec.outputs:
            if out.name in tensors:
                columns[out.name] = np.asarray(tensors[out.name], dtype=out.dtype)
            elif len(tensors) == 1:
                columns[out.name] = np.asarray(next(iter(tensors.values())), dtype=out.dtype)
            else:
                msg = (
                    f"plugin {self.spec.name!r}: no output tensor named {out.name!r} "
                    f"(got {sorted(tensors)}); override finalize()"
                )
                raise KeyError(msg)
        return columns
