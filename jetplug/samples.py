"""What a generated file records about how it was made, readable without the generator.

``jetplug generate`` stores the detector response that made a file as JSON in
the ``TObjString`` ``jetplugDetector`` and the generator switches (MPI, ISR,
extra Pythia settings) in ``jetplugGenerator``; training scripts and ``jetplug train``
record the responses of their sample (:func:`detectors_of`) in the model's
metadata. This module needs only uproot (not the ``generate`` extra).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import uproot

__all__ = ["DETECTOR_KEY", "GENERATOR_KEY", "detectors_of", "read_detector", "read_generator"]

DETECTOR_KEY = "jetplugDetector"
GENERATOR_KEY = "jetplugGenerator"


def _read_record(path: str | Path, key: str) -> dict[str, Any] | None:
    with uproot.open(path) as f:
        if key not in f:
            return None
        record: dict[str, Any] = json.loads(str(f[key]))
        return record


def read_detector(path: str | Path) -> dict[str, Any] | None:
    """The detector response recorded in a generated file (``None`` if none is)."""
    return _read_record(path, DETECTOR_KEY)


def read_generator(path: str | Path) -> dict[str, Any] | None:
    """The generator switches recorded in a generated file: ``mpi``, ``isr`` and
    the extra Pythia settings ``pythia`` (``None`` for files written before the
    record existed, or not by ``jetplug generate``)."""
    return _read_record(path, GENERATOR_KEY)


def detectors_of(files: Iterable[str | Path]) -> list[dict[str, str]]:
    """The distinct responses (``name``, ``fingerprint``) recorded in ``files``, sorted.

    What a model trained on these files records as its training sample's response.
    """
    seen = {(d["name"], d["fingerprint"]) for f in files if (d := read_detector(f))}
    return [{"name": n, "fingerprint": fp} for n, fp in sorted(seen)]
