"""Plugin host: entry-point discovery, autoload switches, blocking, clear errors."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from jetplug import (
    ConfigError,
    JetModel,
    ModelRegistry,
    PluginHost,
    Plugins,
    PluginValidationError,
    UnknownPluginError,
    hookimpl,
)
from jetplug.host import UnknownBlockWarning
from jetplug_taggers import TopBDT


def test_builtin_tagger_comes_from_its_entry_point(host: PluginHost) -> None:
    assert "top_bdt" in host.models
    assert host.models.package("top_bdt") == "jetplug-taggers"
    assert "taggers" in host.entry_point_distributions()
    info = {i.name: i for i in host.describe()}["top_bdt"]
    assert (info.kind, info.package) == ("tagger", "jetplug-taggers")


def test_core_backends_and_derivations_are_default_plugins(host: PluginHost) -> None:
    assert "xgboost" in host.backends
    assert host.backends.for_format("xgboost-ubj").name == "xgboost"
    assert "count_constituents" in host.derivations


def test_autoload_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JETPLUG_DISABLE_PLUGIN_AUTOLOAD", "1")
    host = PluginHost()
    assert "top_bdt" not in host.models
    assert "xgboost" in host.backends  # core defaults stay


def test_blocked_entry_point_is_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jetplug.host._WARNED_BLOCKS", set())
    monkeypatch.setenv("JETPLUG_BLOCK_PLUGINS", "taggers, other")
    with pytest.warns(UnknownBlockWarning, match="'other'"):
        assert "top_bdt" not in PluginHost().models
    assert "top_bdt" not in PluginHost(block=["taggers"]).models


def test_unknown_blocked_names_warn_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: a misspelt JETPLUG_BLOCK_PLUGINS entry blocked nothing, silently."""
    import subprocess
    import sys
    import warnings

    monkeypatch.setattr("jetplug.host._WARNED_BLOCKS", set())
    monkeypatch.setenv("JETPLUG_BLOCK_PLUGINS", "tagers,top_bdt,jetplug.backends.onnx,anomaly")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        host = PluginHost()
        PluginHost()  # once per process, not once per host
    texts = [str(w.message) for w in caught if w.category is UnknownBlockWarning]
    assert len(texts) == 2, texts  # the core module and the entry point are known names
    typo, plugin = texts
    assert typo.startswith("JETPLUG_BLOCK_PLUGINS names 'tagers', which is no jetplug entry")
    assert "did you mean 'taggers'?" in typo
    assert "(entry points: adaptation, anomaly, calibration," in typo
    assert "'top_bdt' is a plugin, provided by jetplug-taggers through entry point 'taggers'" in (
        plugin
    )
    assert "top_bdt" in host.models and "ae_qcd" not in host.models  # blocks only what it can
    # the command line says it once, on stderr
    env = {**os.environ, "JETPLUG_BLOCK_PLUGINS": "tagers"}
    jetplug = Path(sys.executable).with_name("jetplug")
    done = subprocess.run(
        [str(jetplug), "plugins"], env=env, capture_output=True, text=True, check=True
    )
    assert done.stderr.count("JETPLUG_BLOCK_PLUGINS names 'tagers'") == 1, done.stderr
    assert "top_bdt" in done.stdout


def test_unknown_plugin_lists_available(host: PluginHost) -> None:
    with pytest.raises(UnknownPluginError) as err:
        host.spec("top_bdtt")
    message = str(err.value)
    assert "unknown plugin 'top_bdtt'" in message
    assert "Did you mean 'top_bdt'" in message
    assert "Available plugins: " in message and "top_bdt" in message


def test_unknown_backend_lists_available(host: PluginHost) -> None:
    with pytest.raises(
        UnknownPluginError, match=r"unknown backend 'tensorrt'.*Available backends: .*onnx.*xgboost"
    ):
        host.create_backend(host.spec("top_bdt"), "tensorrt")


@pytest.mark.parametrize(
    ("plugin", "backend", "fmt"),
    [
        ("top_bdt", "onnx", "xgboost-ubj"),
        ("top_bdt", "torch", "xgboost-ubj"),
        ("top_mlp", "xgboost", "torch-state-dict"),
    ],
)
def test_backend_that_cannot_run_the_model_is_a_config_error(
    host: PluginHost, plugin: str, backend: str, fmt: str
) -> None:
    """Refused when the plugins are built, not in every chunk with the runtime's own trace."""
    with pytest.raises(ConfigError) as err:
        Plugins([{"name": plugin, "backend": backend}], host=host)
    assert str(err.value).startswith(
        f"plugin {plugin!r}: backend {backend!r} runs {', '.join(host.backends.get(backend).formats)} "
        f"models; this plugin's model is {fmt!r}: use backend 'local' ("
    )
    assert "or one taking any model (triton" in str(err.value)


def test_duplicate_model_name_names_both(host: PluginHost) -> None:
    class Again:
        @hookimpl
        def jetplug_register_models(self, registry: ModelRegistry) -> None:
            registry.add(TopBDT)

    host.register(Again())
    with pytest.raises(
        PluginValidationError,
        match=r"plugin 'top_bdt': plugin name registered twice, by .*'jetplug-taggers'",
    ):
        _ = host.models


def test_invalid_spec_is_rejected_with_plugin_name(host: PluginHost) -> None:
    class Broken(JetModel):
        spec = dataclasses.replace(TopBDT.spec, name="broken", outputs=())

        def prepare(self, inputs):  # type: ignore[no-untyped-def]
            return {}

    class Plugin:
        @hookimpl
        def jetplug_register_models(self, registry: ModelRegistry) -> None:
            registry.add(Broken)

    host.register(Plugin())
    with pytest.raises(
        PluginValidationError, match="plugin 'broken': a plugin must declare at least one output"
    ):
        _ = host.models


def test_unknown_hook_is_refused_at_registration(host: PluginHost) -> None:
    class Typo:
        @hookimpl
        def jetplug_register_model(self, registry: ModelRegistry) -> None:  # missing "s"
            pass

    with pytest.raises(
        PluginValidationError,
        match=r"Typo.*unknown hook 'jetplug_register_model' \(did you mean 'jetplug_register_models'",
    ):
        host.register(Typo())
    host.check_pending()  # nothing half-registered is left behind


def test_hosts_are_independent() -> None:
    a, b = PluginHost(), PluginHost(autoload=False)
    assert "top_bdt" in a.models and "top_bdt" not in b.models


def test_add_target_on_another_collection_is_refused_by_validate(host: PluginHost) -> None:
    """One value per input object cannot land on another collection's objects."""
    from jetplug.spec import Target, TargetMode

    spec = dataclasses.replace(host.spec("top_bdt"), target=Target(TargetMode.ADD, "Jet"))
    with pytest.raises(
        PluginValidationError,
        match=r"plugin 'top_bdt': target mode 'add' writes one value per input object, so its "
        r"collection must be the input collection 'FatJet', not 'Jet'",
    ):
        spec.validate()
    dataclasses.replace(spec, target=Target(TargetMode.ADD, "FatJet")).validate()
