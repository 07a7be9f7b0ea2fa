"""Named Pythia 8 processes (13.6 TeV pp) and their settings.

Every process has a pT-hat window and switches for multiple parton
interactions (MPI, off by default as in the top-tagging landscape recipe,
which makes Pythia ~4x faster) and initial-state radiation (ISR, on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PROCESSES", "Process", "pythia_settings"]


@dataclass(frozen=True)
class Process:
    """A generator process: Pythia settings and the truth label of its jets."""

    name: str
    description: str
    settings: tuple[str, ...]
    default_pt_hat: tuple[float, float | None]
    qcd: bool = False
    """Jets of a QCD process are labelled QCD (0) rather than unmatched (-1)."""


_HADRONIC_W = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
_HADRONIC_Z = ("23:onMode = off", "23:onIfAny = 1 2 3 4 5")

PROCESSES: dict[str, Process] = {
    p.name: p
    for p in (
        Process(
            "ttbar",
            "all-hadronic ttbar (W -> qq'): top jets",
            ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *_HADRONIC_W),
            (400.0, None),
        ),
        Process(
            "wjets",
            "W + jet, W -> qq': boosted W jets",
            ("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on", *_HADRONIC_W),
            (400.0, None),
        ),
        Process(
            "zjets",
            "Z + jet, Z -> qq (no photon interference): boosted Z jets",
            (
                "WeakBosonAndParton:qqbar2gmZg = on",
                "WeakBosonAndParton:qg2gmZq = on",
                "WeakZ0:gmZmode = 2",
                *_HADRONIC_Z,
            ),
            (400.0, None),
        ),
        Process(
            "hbb",
            "H + jet (top-loop), H -> bb: boosted H jets",
            (
                "HiggsSM:gg2Hg(l:t) = on",
                "HiggsSM:qg2Hq(l:t) = on",
                "HiggsSM:qqbar2Hg(l:t) = on",
                "25:onMode = off",
                "25:onIfMatch = 5 -5",
            ),
            (400.0, None),
        ),
        Process("qcd", "QCD dijets (HardQCD:all)", ("HardQCD:all = on",), (400.0, None), qcd=True),
    )
}


def pythia_settings(
    process: Process,
    *,
    seed: int,
    pt_hat_min: float | None,
    pt_hat_max: float | None,
    mpi: bool,
    isr: bool,
    ecm: float = 13600.0,
    extra: Sequence[str] = (),
) -> list[str]:
    """The full list of ``readString`` settings for one generator job.

    ``extra`` settings come last, so they override the process's own (for
    instance ``TimeShower:renormMultFac = 0.25`` for a parton-shower variation).
    """
    lo = process.default_pt_hat[0] if pt_hat_min is None else pt_hat_min
    hi = process.default_pt_hat[1] if pt_hat_max is None else pt_hat_max
    settings = [
        f"Beams:eCM = {ecm}",
        *process.settings,
        f"PhaseSpace:pTHatMin = {lo}",
        f"PartonLevel:MPI = {'on' if mpi else 'off'}",
        f"PartonLevel:ISR = {'on' if isr else 'off'}",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Next:numberCount = 0",
        "Next:numberShowEvent = 0",
        "Next:numberShowInfo = 0",
        "Next:numberShowProcess = 0",
        "Print:quiet = on",
    ]
    if hi is not None:
        settings.append(f"PhaseSpace:pTHatMax = {hi}")
    return [*settings, *extra]
