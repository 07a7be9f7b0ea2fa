"""What every section parser of a run configuration shares: the error context, field paths, cuts.

Errors name the key at fault and the file it came from (:class:`ConfigContext`).
YAML is read by :func:`load_yaml`, which refuses a key given twice in one
mapping (plain YAML silently keeps the last one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

from .errors import ConfigError, ExpressionError, closest
from .expressions import parse_expression

__all__ = ["NAME", "ConfigContext", "Cut", "load_yaml", "parse_cut"]

_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_CUT = re.compile(r"^\s*(.+?)\s*(>=|<=|==|!=|>|<)\s*([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*$")
_FIELD = re.compile(rf"^{_PATH}$")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
"""A name that is also a directory name (skims)."""


@dataclass(frozen=True)
class Cut:
    """``field op value`` or ``expression op value``; all cuts of a histogram are ANDed.

    ``field`` is a field path (``FatJet.pt``) or, with ``expr``, an arithmetic
    expression of fields (``abs(FatJet.eta)``, :mod:`jetplug.expressions`).
    """

    field: str
    op: str
    value: float
    expr: bool = False

    def __str__(self) -> str:
        return f"{self.field} {self.op} {self.value:g}"

    def reads(self) -> tuple[str, ...]:
        """The field paths the cut reads."""
        return parse_expression(self.field).fields if self.expr else (self.field,)

    def values(self, resolve: Callable[[str], Any]) -> Any:
        """The cut's left-hand side, each field path looked up by ``resolve``."""
        return parse_expression(self.field).evaluate(resolve) if self.expr else resolve(self.field)


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
            close = {k: closest(str(k), allowed, n=1) for k in unknown}
            hints = [
                f"{c[0]!r}" + (f" for {k!r}" if len(unknown) > 1 else "")
                for k, c in close.items()
                if c
            ]
            mean = f" (did you mean {', '.join(hints)}?)" if hints else ""
            self.fail(where, f"unknown key(s) {unknown}{mean}; allowed: {sorted(allowed)}")

    def field(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _FIELD.match(value):
            self.fail(where, f"{value!r} is not a field path like 'FatJet.pt'")
        return value


def parse_cut(ctx: ConfigContext, raw: Any, where: str) -> Cut:
    m = _CUT.match(raw) if isinstance(raw, str) else None
    if not m:
        ctx.fail(where, f"{raw!r} is not a cut like 'FatJet.pt > 300' or 'abs(FatJet.eta) < 2.4'")
    lhs = m.group(1)
    if _FIELD.match(lhs):
        return Cut(lhs, m.group(2), float(m.group(3)))
    try:
        parse_expression(lhs)
    except ExpressionError as e:
        ctx.fail(where, f"{raw!r} is not a cut like 'abs(FatJet.eta) < 2.4': {e}")
    return Cut(lhs, m.group(2), float(m.group(3)), expr=True)


_MERGE = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A ``SafeLoader`` that refuses a key given twice in one mapping.

    Each mapping node is checked once, on its own keys and before YAML merge
    keys (``<<: *anchor``) are flattened into it, so a key may still override
    a merged one.
    """

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self.source = source
        self._checked: set[int] = set()

    def _check_unique(self, node: yaml.MappingNode) -> None:
        if id(node) in self._checked:
            return
        self._checked.add(id(node))
        first: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                seen = key in first
            except TypeError:  # unhashable: construct_mapping says so
                continue
            if seen:
                msg = (
                    f"duplicate key {key!r} at line {line} (first at line {first[key]}); "
                    "YAML would keep only the last one"
                )
                raise ConfigError(msg, source=self.source)
            first[key] = line

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """Check ``node``'s own keys, then merge ``<<`` keys into it as YAML does."""
        self._check_unique(node)
        super().flatten_mapping(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        """A mapping whose keys are unique (:class:`ConfigError` naming both lines otherwise)."""
        self._check_unique(node)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 (PyYAML) reads 5.983e4 and 1e5 as strings; YAML 1.2, JSON and TOML read numbers
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)
_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML ``text`` like ``yaml.safe_load``, refusing duplicate mapping keys.

    A duplicate raises :class:`ConfigError` naming the key, the lines of both
    occurrences and ``source``; a syntax error raises ``yaml.YAMLError``.
    """
    loader = _UniqueKeyLoader(text, source)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
