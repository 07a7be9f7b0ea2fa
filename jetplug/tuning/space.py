"""Search spaces of ``jetplug tune``: ranges of the trainers' hyper-parameters.

A search space maps :class:`~jetplug.training.TrainSettings` fields to ranges,
so a trial is the plugin's ordinary training with some settings replaced.
Each built-in trainer has a default space (:data:`DEFAULT_SPACES`); a YAML or
TOML file overrides it, one entry per parameter::

    learning_rate: {low: 0.01, high: 0.3, log: true}
    max_depth: {low: 3, high: 10}          # integers when both bounds are
    subsample: {low: 0.5, high: 1.0}
    batch_size: {choices: [256, 512, 1024]}
    colsample_bytree: 0.8                  # fixed: not searched

Entries of the file replace the default's entries of the same name; ``null``
removes one from the search (its value stays the trainer's default).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import ConfigError
from ..training import TrainSettings

if TYPE_CHECKING:
    import optuna

__all__ = ["DEFAULT_SPACES", "TUNABLE", "Param", "load_space", "suggest"]

Value = int | float | str


@dataclass(frozen=True)
class Param:
    """One searched (or fixed) hyper-parameter.

    ``low``/``high`` give a range (integer when both are integers, sampled on a
    log scale with ``log``); ``choices`` a categorical list; ``fixed`` a value.
    """

    name: str
    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    choices: tuple[Value, ...] | None = None
    fixed: Value | None = None

    @property
    def is_int(self) -> bool:
        """An integer range (both bounds integers)."""
        return isinstance(self.low, int) and isinstance(self.high, int)

    def describe(self) -> str:
        """``[0.01, 0.3] log``, ``{256, 512}`` or ``= 0.8``."""
        if self.fixed is not None:
            return f"= {self.fixed}"
        if self.choices is not None:
            return "{" + ", ".join(map(str, self.choices)) + "}"
        return f"[{self.low:g}, {self.high:g}]" + (" log" if self.log else "")


Space = dict[str, Param]

TUNABLE = {
    "xgboost": (
        "max_depth",
        "learning_rate",
        "max_rounds",
        "early_stopping",
        "min_child_weight",
        "subsample",
        "colsample_bytree",
    ),
    "torch": ("lr", "weight_decay", "epochs", "batch_size", "patience"),
}
"""Settings a search may vary, per trainer family. Network width and depth are
fixed by the plugin's ``build_module()`` (the artifact must load in the plugin)."""

DEFAULT_SPACES: dict[str, Space] = {
    "xgboost": {
        "max_depth": Param("max_depth", 3, 10),
        "learning_rate": Param("learning_rate", 0.01, 0.3, log=True),
        "min_child_weight": Param("min_child_weight", 0.5, 20.0, log=True),
        "subsample": Param("subsample", 0.5, 1.0),
        "colsample_bytree": Param("colsample_bytree", 0.5, 1.0),
    },
    "torch": {
        "lr": Param("lr", 1e-4, 1e-2, log=True),
        "weight_decay": Param("weight_decay", 1e-6, 1e-2, log=True),
        "batch_size": Param("batch_size", choices=(256, 512, 1024)),
    },
}
"""Default spaces. Boosting rounds and epochs are bounded by ``max_rounds`` /
``epochs`` with early stopping on the validation loss, not searched."""


def family(fmt: str) -> str:
    """``xgboost`` or ``torch``: the trainer family of an artifact format."""
    return "xgboost" if fmt.startswith("xgboost") else "torch"


def _param(name: str, entry: Any, where: str) -> Param | None:
    """One file entry as a :class:`Param` (``None`` for ``null``)."""
    if entry is None:
        return None
    if isinstance(entry, bool):
        msg = f"{where}: {name}: give a number, a range {{low, high}} or {{choices: [...]}}"
        raise ConfigError(msg)
    if isinstance(entry, int | float | str):
        return Param(name, fixed=entry)
    if not isinstance(entry, Mapping):
        msg = f"{where}: {name}: give a number, a range {{low, high}} or {{choices: [...]}}"
        raise ConfigError(msg)
    unknown = sorted(set(entry) - {"low", "high", "log", "choices"})
    if unknown:
        msg = f"{where}: {name}: unknown keys {unknown} (use low, high, log or choices)"
        raise ConfigError(msg)
    if "choices" in entry:
        choices = entry["choices"]
        if not isinstance(choices, list) or not choices or set(entry) - {"choices"}:
            msg = f"{where}: {name}: choices must be a non-empty list, alone"
            raise ConfigError(msg)
        return Param(name, choices=tuple(choices))
    low, high = entry.get("low"), entry.get("high")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not low < high:  # type: ignore[operator]
        msg = f"{where}: {name}: needs numbers low < high (got low={low!r}, high={high!r})"
        raise ConfigError(msg)
    log = entry.get("log", False)
    if not isinstance(log, bool) or (log and low <= 0):  # type: ignore[operator]
        msg = f"{where}: {name}: log must be true or false, and log ranges positive"
        raise ConfigError(msg)
    return Param(name, low, high, log=log)


def load_space(path: Path | None, fmt: str) -> Space:
    """The search space for a model of artifact format ``fmt``, overridden by ``path``."""
    kind = family(fmt)
    space = dict(DEFAULT_SPACES[kind])
    if path is None:
        return space
    try:
        text = path.read_text()
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except FileNotFoundError:
        msg = f"search-space file {path} not found"
        raise ConfigError(msg) from None
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as e:
        msg = f"search-space file {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {e}"
        raise ConfigError(msg) from None
    if not isinstance(raw, Mapping):
        msg = f"search-space file {path}: expected a mapping of parameter -> range"
        raise ConfigError(msg)
    settings = {f.name for f in dataclasses.fields(TrainSettings)}
    for name, entry in raw.items():
        if name not in TUNABLE[kind]:
            other = " (a setting of the other trainer)" if name in settings else ""
            msg = (
                f"search-space file {path}: {name!r} is not a {kind} hyper-parameter{other}; "
                f"use one of {', '.join(TUNABLE[kind])}"
            )
            raise ConfigError(msg)
        param = _param(name, entry, f"search-space file {path}")
        if param is None:
            space.pop(name, None)
        else:
            space[name] = param
    return space


def suggest(trial: optuna.Trial, space: Space) -> dict[str, Value]:
    """The trial's settings: each searched parameter suggested, fixed ones as given."""
    values: dict[str, Value] = {}
    for name, p in space.items():
        if p.fixed is not None:
            values[name] = p.fixed
        elif p.choices is not None:
            values[name] = trial.suggest_categorical(name, p.choices)  # type: ignore[assignment]
        elif p.is_int:
            values[name] = trial.suggest_int(name, int(p.low), int(p.high), log=p.log)  # type: ignore[arg-type]
        else:
            values[name] = trial.suggest_float(name, float(p.low), float(p.high), log=p.log)  # type: ignore[arg-type]
    return values
