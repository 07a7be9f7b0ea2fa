"""Mistakes a physicist moving from ``coffea.ml_tools`` makes with ``jetplug.Plugins``:
each fails in one line that says what to write instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from coffea.nanoevents import BaseSchema, NanoEventsFactory, PFNanoAODSchema

from jetplug import ConfigError, MissingInputError, Plugins
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


def _events(path: Path, schema: Any) -> Any:
    return NanoEventsFactory.from_root(
        {str(path): "Events"},
        schemaclass=schema,
        mode="eager",
        metadata={"dataset": "pf", "filename": str(path)},
    ).events()


def test_a_collection_or_flat_branches_instead_of_events_say_what_to_pass(
    real_data: Path,
) -> None:
    """``plugins(events.FatJet)``, as ``coffea.ml_tools`` wrappers are called, and events read
    with BaseSchema lack the collection 'FatJet': the error says why, in the same line."""
    plugins = Plugins(["top_bdt"])
    events = _events(real_data / "pfnano.root", PFNanoAODSchema)
    with pytest.raises(MissingInputError) as e:
        plugins(events.FatJet)
    assert "\n" not in str(e.value)
    assert "these are 'FatJet' objects, not events: pass the whole events, plugins(events)" in str(
        e.value
    )
    with pytest.raises(MissingInputError) as e:
        plugins(_events(real_data / "pfnano.root", BaseSchema))
    assert "read without a NanoAOD schema (BaseSchema?); use NanoAODSchema" in str(e.value)
    assert len(plugins(events).FatJet.top_bdt.score) == len(events)  # the events: fine


def test_a_misspelt_backend_option_under_options_gets_a_did_you_mean() -> None:
    """``options: {batchsize: ...}`` on the torch plugin 'part' said only "known options: none":
    the close key is the torch backend's ``batch_size``, which belongs under backend_options."""
    with pytest.raises(ConfigError) as e:
        Plugins([{"name": "part", "options": {"batchsize": 256}}])
    assert str(e.value) == (
        "plugin 'part': unknown option(s) 'batchsize'; known options: none (did you mean "
        "'batch_size', an option of backend 'torch', under 'backend_options'?)"
    )
    with pytest.raises(ConfigError, match=r"did you mean 'url', an option of backend 'triton'"):
        Plugins([{"name": "top_bdt", "backend": "triton", "options": {"ulr": "127.0.0.1:8001"}}])
    right = Plugins([{"name": "part", "backend_options": {"batch_size": 256}}])
    assert right.names == ["part"]


@pytest.mark.parametrize("url", ["grpc://127.0.0.1:8001", "http://127.0.0.1:8000"])
def test_a_triton_url_with_a_scheme_is_refused_at_construction(url: str) -> None:
    """The clients take host:port: with a scheme no request ever reached the server (gRPC
    "Misformatted domain name"), and with ``fallback: local`` every row ran in-process,
    silently but for report(). It now fails in the processor's __init__."""
    entry = {
        "name": "top_bdt",
        "backend": "triton",
        "backend_options": {"url": url, "fallback": "local"},
    }
    with pytest.raises(ConfigError) as e:
        Plugins([entry])
    host_port = url.split("://", 1)[1]
    assert str(e.value) == (
        f"plugin 'top_bdt': backend 'triton': option 'url': {url!r} has a scheme; write "
        f"host:port ({host_port!r}): option 'protocol' (grpc or http) picks the protocol and "
        "'tls' the encryption"
    )
    with pytest.raises(ConfigError, match="expected host:port or a list of them, got 8001"):
        Plugins([{"name": "top_bdt", "backend": "triton", "backend_options": {"url": 8001}}])
    ok = {"url": [host_port, "127.0.0.1:9001"], "fallback": "local"}
    assert Plugins([{"name": "top_bdt", "backend": "triton", "backend_options": ok}]).names
