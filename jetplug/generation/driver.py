"""``generate()``: Pythia 8 + detector response + FastJet -> PFNano files, in parallel.

The work is cut into jobs of :data:`JOB_EVENTS` events. Job ``k`` seeds
Pythia and the detector response from ``(seed, k)``, so the output depends
only on the arguments, never on the number of worker processes. Each job
writes its own file ``<output>/<process>_s<seed>_<k>.root``.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .detector import DetectorResponse
from .events import reconstruct
from .processes import PROCESSES, pythia_settings
from .writer import NanoWriter

__all__ = ["JOB_EVENTS", "generate"]

JOB_EVENTS = 1000
_MB_TO_PB = 1e9


@dataclass(frozen=True)
class _Job:
    process: str
    index: int
    n_events: int
    seed: int
    pt_hat_min: float | None
    pt_hat_max: float | None
    mpi: bool
    isr: bool
    pythia: tuple[str, ...]
    detector: dict[str, Any]
    path: Path
    batch_size: int
    first_event: int

    @property
    def pythia_seed(self) -> int:
        return (self.seed * 1_000_003 + self.index * 7_919) % 900_000_000 + 1


def _run_job(job: _Job, progress: Callable[[int], None] | None = None) -> Path:
    import pythia8mc

    process = PROCESSES[job.process]
    detector = DetectorResponse.from_mapping(job.detector)
    pythia = pythia8mc.Pythia("", False)
    settings = pythia_settings(
        process,
        seed=job.pythia_seed,
        pt_hat_min=job.pt_hat_min,
        pt_hat_max=job.pt_hat_max,
        mpi=job.mpi,
        isr=job.isr,
        extra=job.pythia,
    )
    for line in settings:
        if not pythia.readString(line):
            msg = f"Pythia rejected the setting {line!r}"
            raise RuntimeError(msg)
    if not pythia.init():
        msg = f"Pythia failed to initialise process {job.process!r} with {settings}"
        raise RuntimeError(msg)
    first_event = job.first_event
    done = 0
    with NanoWriter(job.path) as writer:
        batch_index = 0
        while done < job.n_events:
            n = min(job.batch_size, job.n_events - done)
            batch = pythia.nextBatch(n)
            rng = np.random.default_rng([job.seed, job.index, batch_index])
            collections = reconstruct(batch, process, detector, rng)
            writer.write(
                collections, luminosity_block=job.index + 1, first_event=first_event + done
            )
            done += len(batch)
            batch_index += 1
            if progress is not None:
                progress(len(batch))
        info = pythia.infoPython()
        writer.close(
            cross_section_pb=info.sigmaGen() * _MB_TO_PB,
            sqrt_s_gev=info.eCM(),
            detector=detector.record(),
            generator={"mpi": job.mpi, "isr": job.isr, "pythia": list(job.pythia)},
            pt_hat=(job.pt_hat_min, job.pt_hat_max),
        )
    return job.path


def _refuse_replacing(job: _Job, detector: DetectorResponse) -> None:
    """Refuse to overwrite ``job.path`` when a file there was made with other settings.

    The file names hold the process, the seed and the job only, so a second
    run with another response, pT-hat window or Pythia settings would replace
    the first run's files without a word. The same settings (and seed) give
    the same events again, so such a file, or one that records nothing, is
    simply rewritten.
    """
    import uproot

    from ..samples import read_detector, read_generator

    if not job.path.is_file():
        return
    try:
        made = read_detector(job.path)
        generator = read_generator(job.path)
        with uproot.open(job.path) as f:
            runs = f["Runs"].arrays(["jetplugPtHatMin", "jetplugPtHatMax"], library="np")
    except Exception:  # unreadable (an interrupted run): nothing to keep
        return
    if made is None:
        return
    window = tuple(
        None if v < 0 else float(v)
        for v in (runs["jetplugPtHatMin"][0], runs["jetplugPtHatMax"][0])
    )
    before = {
        "detector": made.get("name"),
        "detector fingerprint": made.get("fingerprint"),
        "pT-hat window": window,
        "generator": generator,
    }
    now = {
        "detector": detector.name,
        "detector fingerprint": detector.fingerprint(),
        "pT-hat window": tuple(
            None if v is None else float(v) for v in (job.pt_hat_min, job.pt_hat_max)
        ),
        "generator": {"mpi": job.mpi, "isr": job.isr, "pythia": list(job.pythia)},
    }
    differ = [f"{k} {before[k]!r} -> {now[k]!r}" for k in now if before[k] != now[k]]
    if differ:
        msg = (
            f"{job.path} exists and was made with other settings ({'; '.join(differ)}): "
            "generating would replace it; write to another directory (-o) or remove it"
        )
        raise ValueError(msg)


def _check_pythia_settings(settings: tuple[str, ...]) -> None:
    """Refuse a malformed or unknown Pythia setting before any job starts."""
    if not settings:
        return
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings:
        if "=" not in line or not pythia.readString(line):
            msg = (
                f"Pythia does not know the setting {line!r} (expected 'Key = value', "
                "e.g. 'TimeShower:renormMultFac = 0.25')"
            )
            raise ValueError(msg)


def generate(
    process: str,
    n_events: int,
    output: Path,
    *,
    seed: int = 1,
    pt_hat_min: float | None = None,
    pt_hat_max: float | None = None,
    mpi: bool = False,
    isr: bool = True,
    pythia: Sequence[str] = (),
    detector: DetectorResponse | None = None,
    workers: int = 1,
    batch_size: int = 250,
    progress: bool = True,
) -> list[Path]:
    """Generate ``n_events`` of ``process`` into the directory ``output``.

    Returns the files written, one per job of up to :data:`JOB_EVENTS` events.
    Same arguments give identical files whatever ``workers`` is. ``pythia``
    holds extra Pythia settings (``"Key = value"``) applied after the
    process's own, checked before any job starts and recorded in every file
    (:func:`jetplug.samples.read_generator`).
    """
    if process not in PROCESSES:
        msg = f"unknown process {process!r}; available: {', '.join(sorted(PROCESSES))}"
        raise ValueError(msg)
    if n_events < 1:
        msg = f"n_events must be >= 1, got {n_events}"
        raise ValueError(msg)
    if not 0 <= seed < 900_000:
        msg = f"seed must be in [0, 900000), got {seed}"
        raise ValueError(msg)
    if pt_hat_min is not None and pt_hat_max is not None and pt_hat_max <= pt_hat_min:
        msg = f"pt_hat_max ({pt_hat_max}) must exceed pt_hat_min ({pt_hat_min})"
        raise ValueError(msg)
    if workers < 1 or batch_size < 1:
        msg = "workers and batch_size must be >= 1"
        raise ValueError(msg)
    pythia = tuple(pythia)
    _check_pythia_settings(pythia)
    detector = detector or DetectorResponse.default()
    n_jobs = math.ceil(n_events / JOB_EVENTS)
    jobs = [
        _Job(
            process=process,
            index=k,
            n_events=min(JOB_EVENTS, n_events - k * JOB_EVENTS),
            seed=seed,
            pt_hat_min=pt_hat_min,
            pt_hat_max=pt_hat_max,
            mpi=mpi,
            isr=isr,
            pythia=pythia,
            detector=detector.as_dict(),
            path=Path(output) / f"{process}_s{seed}_{k:03d}.root",
            batch_size=batch_size,
            first_event=seed * 1_000_000_000 + k * JOB_EVENTS + 1,
        )
        for k in range(n_jobs)
    ]
    for job in jobs:
        _refuse_replacing(job, detector)
    bar = tqdm(total=n_events, unit="ev", desc=f"generate {process}", disable=not progress)
    try:
        if workers == 1 or n_jobs == 1:
            return [_run_job(job, bar.update) for job in jobs]
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=min(workers, n_jobs, os.cpu_count() or 1)
        ) as pool:
            futures = {pool.submit(_run_job, job): job for job in jobs}
            for future in concurrent.futures.as_completed(futures):
                future.result()
                bar.update(futures[future].n_events)
        return [job.path for job in jobs]
    finally:
        bar.close()
