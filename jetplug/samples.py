"""What a generated file records about how it was made, readable without the generator.

``jetplug generate`` stores the detector response that made a file as JSON in
the ``TObjString`` ``jetplugDetector``; training scripts and ``jetplug train``
record the responses of their sample (:func:`detectors_of`) in the model's
metadata. This module needs only uproot (not the ``generate`` extra).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import uproot

__all__ = ["DETECTOR_KEY", "detectors_of", "read_detector"]

DETECTOR_KEY = "jetplugDetector"


def read_detector(path: str | Path) -> dict[str, Any] | None:
    """The detector response recorded in a generated file (``None`` if none is)."""
    with uproot.open(path) as f:
        if DETECTOR_KEY not in f:
            return None
        record: dict[str, Any] = json.loads(str(f[DETECTOR_KEY]))
        return record


def detectors_of(files: Iterable[str | Path]) -> list[dict[str, str]]:
    """The distinct responses (``name``, ``fingerprint``) recorded in ``files``, sorted.

    What a model trained on these files records as its training sample's response.
    """
    seen = {(d["name"], d["fingerprint"]) for f in files if (d := read_detector(f))}
    return [{"name": n, "fingerprint": fp} for n, fp in sorted(seen)]
