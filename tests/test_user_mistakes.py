"""Mistakes a physicist moving from ``coffea.ml_tools`` makes with ``jetplug.Plugins``:
each fails in one line that says what to write instead."""

from __future__ import annotations

from typing import Any

import pytest

from jetplug import ConfigError, Plugins
from jetplug.config import PluginConfig


@pytest.mark.parametrize(
    ("one", "written"),
    [
        ("top_bdt", "['top_bdt']"),
        ({"name": "top_bdt", "backend": "xgboost"}, "[{'name': 'top_bdt', 'backend': 'xgboost'}]"),
        (PluginConfig("top_bdt"), "[PluginConfig('top_bdt')]"),
    ],
)
def test_one_plugin_not_in_a_list_is_refused_in_one_line(one: Any, written: str) -> None:
    """``Plugins("top_bdt")`` was read as the list of its letters and failed with "plugin
    't' is listed twice" (plugins[6]); a mapping as the list of its keys."""
    with pytest.raises(ConfigError) as e:
        Plugins(one)
    assert str(e.value) == f"plugins: expected a list of plugins, got one: write {written}"
    assert Plugins(("top_bdt",)).names == ["top_bdt"]  # any other iterable is the list
