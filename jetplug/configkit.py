"""What every section parser of a run configuration shares: the error context, field paths, cuts.

Errors name the key at fault and the file it came from (:class:`ConfigContext`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from .errors import ConfigError

__all__ = ["NAME", "ConfigContext", "Cut", "parse_cut"]

_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_CUT = re.compile(rf"^\s*({_PATH})\s*(>=|<=|==|!=|>|<)\s*([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*$")
_FIELD = re.compile(rf"^{_PATH}$")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
"""A name that is also a directory name (skims)."""


@dataclass(frozen=True)
class Cut:
    """``field op value``; all cuts of a histogram are ANDed."""

    field: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.field} {self.op} {self.value:g}"


class ConfigContext:
    """Where a configuration comes from; its helpers fail with the key at fault."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> NoReturn:
        msg = f"{where}: {message}"
        raise ConfigError(msg, source=self.source)

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(where, f"expected a mapping, got {type(value).__name__}")
        return value

    def keys(self, value: Mapping[str, Any], where: str, allowed: Sequence[str]) -> None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            self.fail(where, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")

    def field(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _FIELD.match(value):
            self.fail(where, f"{value!r} is not a field path like 'FatJet.pt'")
        return value


def parse_cut(ctx: ConfigContext, raw: Any, where: str) -> Cut:
    m = _CUT.match(raw) if isinstance(raw, str) else None
    if not m:
        ctx.fail(where, f"{raw!r} is not a cut like 'FatJet.pt > 300'")
    return Cut(m.group(1), m.group(2), float(m.group(3)))
