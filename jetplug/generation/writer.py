"""Write NanoAOD/PFNano-layout ROOT files with uproot (``mktree`` + ``extend``).

``uproot``'s plain assignment writes an RNTuple, which coffea's NanoAOD
schemas do not read, so the ``Events`` TTree is created with ``mktree`` from
the first batch's types and extended batch by batch. A record collection
``X`` becomes a counter ``nX`` and branches ``X_<field>``. A ``Runs`` tree
holds ``genEventCount``, ``genEventSumw``, the generator cross-section and
the centre-of-mass energy (``jetplugSqrtS``, GeV) and the pT-hat window
(``jetplugPtHatMin``/``jetplugPtHatMax``, GeV, −1 when open). The detector
response that made the file is stored as JSON in the ``TObjString``
``jetplugDetector`` (:func:`jetplug.samples.read_detector`).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any

import awkward as ak
import numpy as np
import uproot

from ..samples import DETECTOR_KEY, GENERATOR_KEY

__all__ = ["NanoWriter"]


def _branch_type(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.dtype
    return ak.type(value).content


class NanoWriter:
    """Context manager writing batches of collections to one file."""

    def __init__(self, path: Path, *, run: int = 1) -> None:
        self.path = path
        self.run = run
        self._file: Any = None
        self._tree: Any = None
        self.count = 0
        self.sumw = 0.0

    def __enter__(self) -> NanoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = uproot.recreate(self.path)
        return self

    def write(
        self, collections: dict[str, Any], *, luminosity_block: int, first_event: int
    ) -> None:
        """Append one batch; ``first_event`` numbers the batch's events consecutively."""
        n = len(collections["genWeight"])
        data = {
            "run": np.full(n, self.run, dtype=np.uint32),
            "luminosityBlock": np.full(n, luminosity_block, dtype=np.uint32),
            "event": np.arange(first_event, first_event + n, dtype=np.uint64),
            **collections,
        }
        if self._tree is None:
            self._tree = self._file.mktree("Events", {k: _branch_type(v) for k, v in data.items()})
        self._tree.extend(data)
        self.count += n
        self.sumw += float(np.sum(collections["genWeight"], dtype=np.float64))

    def close(
        self,
        cross_section_pb: float,
        sqrt_s_gev: float,
        *,
        detector: dict[str, Any] | None = None,
        generator: dict[str, Any] | None = None,
        pt_hat: tuple[float | None, float | None] = (None, None),
    ) -> None:
        """Write the ``Runs`` tree (and the detector and generator records) and close."""
        if self._file is None:
            return
        if detector is not None:
            self._file[DETECTOR_KEY] = json.dumps(detector, sort_keys=True)
        if generator is not None:
            self._file[GENERATOR_KEY] = json.dumps(generator, sort_keys=True)
        lo, hi = (-1.0 if v is None else float(v) for v in pt_hat)
        self._file.mktree(
            "Runs",
            {
                "run": np.uint32,
                "genEventCount": np.int64,
                "genEventSumw": np.float64,
                "jetplugCrossSection": np.float64,
                "jetplugSqrtS": np.float64,
                "jetplugPtHatMin": np.float64,
                "jetplugPtHatMax": np.float64,
            },
        ).extend(
            {
                "run": np.array([self.run], dtype=np.uint32),
                "genEventCount": np.array([self.count], dtype=np.int64),
                "genEventSumw": np.array([self.sumw]),
                "jetplugCrossSection": np.array([cross_section_pb]),
                "jetplugSqrtS": np.array([sqrt_s_gev]),
                "jetplugPtHatMin": np.array([lo]),
                "jetplugPtHatMax": np.array([hi]),
            }
        )
        self._file.close()
        self._file = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
