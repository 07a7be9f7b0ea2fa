"""Learning-rate schedules shared by the trainings (pure Python, no torch import)."""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["cosine_decay", "cosine_factor"]


def cosine_factor(progress: float, final: float = 0.0) -> float:
    """Learning-rate factor at ``progress`` (0 → 1): a cosine from 1 to ``final``, then flat."""
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def cosine_decay(steps: int, final: float) -> Callable[[int], float]:
    """Learning-rate factor of step ``k``: cosine from 1 to ``final`` over ``steps``."""

    def factor(k: int) -> float:
        return cosine_factor(k / steps, final)

    return factor
