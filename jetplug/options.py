"""Declared options of plugins and backends (as tox's ``add_config`` declares keys).

A plugin (``ModelSpec.options``) or a backend (``Backend.options_spec``)
declares every option it reads: name, type, default and a one-line help.
:func:`resolve_options` fills in the defaults, converts the values and
refuses unknown keys with a "did you mean", so that ``device: cuda`` put under
the wrong key, or a misspelt ``url``, fails before anything runs. The docs
list the options from these declarations (``jetplug plugins --options``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, closest

__all__ = ["Option", "options_table", "resolve_options"]


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
        return False
    msg = f"expected true or false, got {value!r}"
    raise ValueError(msg)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return list(value)
    msg = f"expected a list, got {type(value).__name__}"
    raise ValueError(msg)


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    msg = f"expected a mapping, got {type(value).__name__}"
    raise ValueError(msg)


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        msg = f"expected an integer, got {value!r}"
        raise ValueError(msg)
    return int(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "int": _as_int,
    "float": float,
    "str": str,
    "bool": _as_bool,
    "list": _as_list,
    "dict": _as_dict,
    "any": lambda v: v,
}


@dataclass(frozen=True)
class Option:
    """One declared option.

    Parameters
    ----------
    name
        The key in the run config (``options`` or ``backend_options``).
    type
        ``int``, ``float``, ``str``, ``bool``, ``list``, ``dict`` or ``any``.
    default
        Value when the run config does not give one (``None``: unset).
    help
        One line for the docs and ``jetplug plugins --options``.
    choices
        Allowed values, if the option is an enumeration.
    """

    name: str
    type: str
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in _CONVERTERS:
            known = list(_CONVERTERS)
            msg = f"option {self.name!r}: type {self.type!r} unknown; use one of {known}"
            raise ValueError(msg)

    def convert(self, value: Any) -> Any:
        """``value`` converted to the declared type and checked against ``choices``."""
        if value is None:
            return None
        out = _CONVERTERS[self.type](value)
        if self.choices and out not in self.choices:
            msg = f"{out!r} is not one of {list(self.choices)}"
            raise ValueError(msg)
        return out


def resolve_options(
    declared: Iterable[Option], given: Mapping[str, Any] | None, *, owner: str
) -> dict[str, Any]:
    """Declared defaults updated by ``given``; unknown keys and bad values raise.

    ``owner`` names what the options belong to in the error, e.g.
    ``"plugin 'top_bdt' options"`` or ``"backend 'triton' (plugin 'part')"``.
    Raises :class:`~jetplug.errors.ConfigError`.
    """
    decl = {o.name: o for o in declared}
    given = dict(given or {})
    unknown = sorted(set(given) - set(decl))
    if unknown:
        hints = []
        for key in unknown:
            close = closest(key, decl)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        known = ", ".join(sorted(decl)) or "none"
        msg = f"{owner}: unknown option(s) {', '.join(hints)}; known options: {known}"
        raise ConfigError(msg)
    out: dict[str, Any] = {}
    for name, option in decl.items():
        value = given.get(name, option.default)
        try:
            out[name] = option.convert(value)
        except (TypeError, ValueError) as e:
            msg = f"{owner}: option {name!r}: {e}"
            raise ConfigError(msg) from None
    return out


def options_table(declared: Iterable[Option]) -> str:
    """A Markdown table of declared options (for the docs)."""
    rows = ["| option | type | default | description |", "|---|---|---|---|"]
    for o in declared:
        choices = f" (one of {', '.join(map(str, o.choices))})" if o.choices else ""
        text = o.help.replace("``", "`")
        rows.append(f"| `{o.name}` | {o.type} | `{o.default!r}` | {text}{choices} |")
    return "\n".join(rows)
