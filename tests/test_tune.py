"""jetplug tune: a resumable optuna study of a plugin's training, pruning, Dask, the best model."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import awkward as ak
import numpy as np
import optuna
import pytest
import xgboost as xgb
from click.testing import CliRunner
from optuna.trial import TrialState

from jetplug import PluginHost, Plugins
from jetplug.cli import main
from jetplug.errors import ConfigError, JetplugError, UnknownPluginError
from jetplug.training import TrainSettings, training_inputs
from jetplug.tuning import load_space, open_storage, tune, tuned_plugin
from jetplug.validation.collect import read_events

from .contract_plugins import ContractPlugins, make_models

#: small, fast trainings on the session's generated events (wide pT window: more jets)
SETTINGS = TrainSettings(
    pt_min=300, pt_max=1500, threads=1, max_rounds=40, early_stopping=10, n_bootstrap=5
)


def _files(generated: dict[str, list[Path]]) -> list[Path]:
    return generated["ttbar"] + generated["qcd"]


def _trials(out: Path, name: str = "top_bdt-tune") -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=open_storage(str(out / "study.journal")))
    return study.get_trials()


def test_a_rerun_resumes_the_study(generated: dict[str, list[Path]], tmp_path: Path) -> None:
    files = _files(generated)
    first = tune("top_bdt", files, tmp_path, n_trials=3, workers=0, settings=SETTINGS, log=print)
    assert first.ran_now == 3 and first.states["complete"] + first.states["pruned"] == 3
    before = [(t.number, t.params, t.value, t.state) for t in _trials(tmp_path)]
    # trial 0 is the trainer's defaults: the reference the search must beat
    assert before[0][1] == {
        "max_depth": 6,
        "learning_rate": 0.1,
        "min_child_weight": 1.0,
        "subsample": 0.8,
        "colsample_bytree": 1.0,
    }
    lines: list[str] = []
    again = tune(
        "top_bdt", files, tmp_path, n_trials=5, workers=0, settings=SETTINGS, log=lines.append
    )
    assert again.ran_now == 2
    assert any("3 trials finished, 2 to run" in line for line in lines)
    after = [(t.number, t.params, t.value, t.state) for t in _trials(tmp_path)]
    assert len(after) == 5 and after[:3] == before
    # the resumed trials explore: none repeats an earlier trial's settings
    assert all(a[1] not in [b[1] for b in after[: a[0]]] for a in after[3:])
    # the same command once more runs nothing
    assert tune("top_bdt", files, tmp_path, n_trials=5, workers=0, settings=SETTINGS).ran_now == 0
    assert len(_trials(tmp_path)) == 5
    # another selection is another search: refused, naming what differs
    other = dataclasses.replace(SETTINGS, pt_min=400)
    with pytest.raises(JetplugError, match=r"settings.pt_min: 300 -> 400"):
        tune("top_bdt", files, tmp_path, n_trials=6, workers=0, settings=other)


def test_an_sqlite_storage_holds_the_study(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    db = tmp_path / "studies.db"
    tune("top_bdt", _files(generated), tmp_path, n_trials=1, workers=0, settings=SETTINGS,
         storage=str(db), study_name="bdt")  # fmt: skip
    study = optuna.load_study(study_name="bdt", storage=f"sqlite:///{db}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]
    assert not (tmp_path / "study.journal").exists()


def test_interrupted_trials_are_marked_failed_and_rerun(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    files = _files(generated)
    tune("top_bdt", files, tmp_path, n_trials=1, workers=0, settings=SETTINGS)
    study = optuna.load_study(
        study_name="top_bdt-tune", storage=open_storage(str(tmp_path / "study.journal"))
    )
    study.ask()  # a trial a killed run left RUNNING
    result = tune("top_bdt", files, tmp_path, n_trials=2, workers=0, settings=SETTINGS)
    states = [t.state for t in _trials(tmp_path)]
    assert states[1] == TrialState.FAIL and result.states["fail"] == 1
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 2


def test_a_trial_worse_than_the_median_is_pruned(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    files = _files(generated)
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {low: 0.0001, high: 0.3, log: true}\n")
    kw = {"workers": 0, "settings": SETTINGS, "space_file": space, "warmup_steps": 2}
    tune("top_bdt", files, tmp_path, n_trials=5, **kw)  # type: ignore[arg-type]
    study = optuna.load_study(
        study_name="top_bdt-tune", storage=open_storage(str(tmp_path / "study.journal"))
    )
    # a learning rate 1000x too small: its validation loss stays near ln 2
    study.enqueue_trial({**study.trials[0].params, "learning_rate": 1e-4})
    result = tune("top_bdt", files, tmp_path, n_trials=6, **kw)  # type: ignore[arg-type]
    slow = _trials(tmp_path)[5]
    assert slow.state == TrialState.PRUNED, slow
    steps = sorted(slow.intermediate_values)
    assert steps[-1] < SETTINGS.max_rounds - 1  # stopped early, right after the warm-up
    others = [t.intermediate_values[steps[-1]] for t in _trials(tmp_path)[:5]]
    assert slow.intermediate_values[steps[-1]] > np.median(others)
    assert result.states["pruned"] >= 1
    assert "pruned at step" in (tmp_path / "trials" / "trial_0005" / "train.log").read_text()


@pytest.mark.dask
@pytest.mark.slow
def test_trials_run_on_a_dask_local_cluster_sharing_the_storage(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    result = tune("top_bdt", _files(generated), tmp_path, n_trials=4, workers=2, settings=SETTINGS)
    trials = _trials(tmp_path)
    assert len(trials) == 4 and result.states["complete"] + result.states["pruned"] == 4
    workers = {t.user_attrs["worker"] for t in trials}
    assert all(not w.endswith(f":{os.getpid()}") for w in workers)  # not this process
    assert len({t.params["max_depth"] for t in trials}) > 1  # workers' samplers differ


def test_the_best_model_loads_in_the_plugin_and_runs_in_the_processor(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    files = _files(generated)
    result = tune("top_bdt", files, tmp_path, n_trials=2, workers=0, settings=SETTINGS)
    meta = json.loads((tmp_path / "top_bdt.json").read_text())
    assert result.artifact == tmp_path / "top_bdt.ubj"
    assert meta["tuning"]["best_params"] == result.best_params
    assert meta["tuning"]["trials"]["complete"] + meta["tuning"]["trials"]["pruned"] == 2
    assert meta["settings"]["max_depth"] == result.best_params["max_depth"]
    assert {d["file"] for d in meta["data"]} == {f.name for f in files}
    assert meta["val_loss"] == pytest.approx(result.best_value)

    host = PluginHost(plugins=[tuned_plugin(PluginHost(), "top_bdt", result.artifact)])
    plugins = Plugins(["top_bdt_tuned", "top_bdt"], host=host)
    events = plugins(read_events(str(files[0])))
    tuned = ak.to_numpy(ak.flatten(events.FatJet.top_bdt_tuned.score))
    shipped = ak.to_numpy(ak.flatten(events.FatJet.top_bdt.score))
    model = host.create_model("top_bdt")
    data = training_inputs([files[0]], model.spec)
    direct = xgb.Booster(model_file=str(result.artifact)).predict(
        xgb.DMatrix(model.prepare(data.inputs)["features"])
    )
    np.testing.assert_allclose(tuned, direct, rtol=1e-6)
    assert not np.allclose(tuned, shipped)


def test_bad_inputs_fail_with_what_was_wrong(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    files = _files(generated)
    with pytest.raises(UnknownPluginError, match="top_bdt"):
        tune("top_bdtt", files, tmp_path, workers=0)
    with pytest.raises(JetplugError, match=r"'calib_ni' trains itself \(its JetModel.train\)"):
        tune("calib_ni", files, tmp_path, workers=0)
    untrainable = PluginHost(plugins=[ContractPlugins(make_models(tmp_path))])
    with pytest.raises(JetplugError, match=r"'pt_calibrator' is a calibrator.*JetModel.train"):
        tune("pt_calibrator", files, tmp_path, workers=0, host=untrainable)
    bad = tmp_path / "space.yaml"
    bad.write_text("max_depth: {low: 10, high: 3}\n")
    with pytest.raises(ConfigError, match=r"max_depth: needs numbers low < high"):
        load_space(bad, "xgboost-ubj")
    bad.write_text("eta: {low: 0.01, high: 0.3}\n")
    with pytest.raises(ConfigError, match=r"'eta' is not a xgboost hyper-parameter.*learning_rate"):
        load_space(bad, "xgboost-ubj")
    bad.write_text("lr: {low: 0.01, high: 0.3}\n")
    with pytest.raises(ConfigError, match=r"'lr' .* \(a setting of the other trainer\)"):
        load_space(bad, "xgboost-ubj")
    bad.write_text("subsample: {low: 0.5, hihg: 1}\n")
    with pytest.raises(ConfigError, match=r"subsample: unknown keys \['hihg'\]"):
        load_space(bad, "xgboost-ubj")
    toml = tmp_path / "space.toml"
    toml.write_text("max_depth = {low = 3, high = \n")
    with pytest.raises(ConfigError, match=r"space.toml is not valid toml"):
        load_space(toml, "xgboost-ubj")
    result = CliRunner().invoke(
        main, ["tune", "top_bdt", *map(str, files), "--space", str(bad), "-o", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "error: search-space file" in result.output and "hihg" in result.output
    assert not (tmp_path / "study.journal").exists()  # refused before any trial


def test_failing_trials_are_recorded_with_their_reason(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("subsample: 3.5\n")  # xgboost refuses a subsample above 1
    lines: list[str] = []
    with pytest.raises(JetplugError, match=r"has no completed trial .*'fail': 2"):
        tune("top_bdt", _files(generated), tmp_path, n_trials=2, workers=0, settings=SETTINGS,
             space_file=space, log=lines.append)  # fmt: skip
    trials = _trials(tmp_path)
    assert [t.state for t in trials] == [TrialState.FAIL] * 2
    assert all("subsample" in t.user_attrs["error"] for t in trials)
    assert any(line.startswith("trial 1 fail") and "subsample" in line for line in lines)


def test_a_space_file_overrides_and_fixes_parameters(tmp_path: Path) -> None:
    path = tmp_path / "space.toml"
    path.write_text("max_depth = {low = 2, high = 4}\ncolsample_bytree = 0.9\nsubsample = false\n")
    with pytest.raises(ConfigError, match="subsample: give a number"):
        load_space(path, "xgboost-ubj")
    path.write_text("max_depth = {low = 2, high = 4}\ncolsample_bytree = 0.9\n")
    space = load_space(path, "xgboost-ubj")
    assert space["max_depth"].is_int and space["max_depth"].describe() == "[2, 4]"
    assert space["colsample_bytree"].fixed == 0.9
    assert "learning_rate" in space  # the defaults not named stay
    torch_space = load_space(None, "torch-state-dict")
    assert set(torch_space) == {"lr", "weight_decay", "batch_size"}


def test_a_torch_tagger_is_tuned_with_the_gp_sampler(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    settings = TrainSettings(pt_min=300, pt_max=1500, threads=1, epochs=3, n_bootstrap=5)
    result = tune(
        "top_mlp",
        _files(generated),
        tmp_path,
        n_trials=2,
        workers=0,
        sampler="gp",
        settings=settings,
    )
    trials = _trials(tmp_path, "top_mlp-tune")
    assert trials[0].params == {"lr": 2e-3, "weight_decay": 1e-4, "batch_size": 512}
    assert all(len(t.intermediate_values) <= 3 for t in trials)  # one report per epoch
    assert result.artifact == tmp_path / "top_mlp.pt"
    host = PluginHost(plugins=[tuned_plugin(PluginHost(), "top_mlp", result.artifact)])
    events = Plugins(["top_mlp_tuned"], host=host)(read_events(str(_files(generated)[0])))
    score = ak.to_numpy(ak.flatten(events.FatJet.top_mlp_tuned.score))
    assert len(score) and np.all((score >= 0) & (score <= 1))


def test_the_command_writes_the_model_report_plots_and_comparison(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    files = [str(f) for f in _files(generated)]
    out = tmp_path / "out"
    args = ["tune", "top_bdt", *files, "-o", str(out), "--trials", "3", "--workers", "0"]
    args += ["--pt-min", "300", "--pt-max", "1500", "--threads", "1", "--n-bootstrap", "5"]
    args += ["--compare", str(generated["ttbar"][0].parent.parent / "*" / "*.root")]
    args += ["--pt-bins", "300,1500"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "tune.json").read_text())
    assert report["trials"]["complete"] + report["trials"]["pruned"] == 3
    assert report["baseline"]["trial"] == 0
    assert set(report["best_params"]) == set(report["space"])
    assert (out / "top_bdt.ubj").is_file() and (out / "top_bdt.json").is_file()
    for plot in ("history", "curves"):
        assert (out / "plots" / f"{plot}.png").stat().st_size > 1000
    taggers = {r["tagger"] for r in report["comparison"]["rows"]}
    assert {"top_bdt", "top_bdt_tuned"} <= taggers
    ratio = report["comparison"]["r50_ratio_to_shipped"]["top_bdt_tuned"]
    # R50 is infinite on so few jets when no QCD jet passes: the ratio is then undefined
    assert ratio["ratio"] > 0 or np.isnan(ratio["ratio"])
    text = (out / "tune.md").read_text()
    assert "| `max_depth` | [3, 10] |" in text and "top_bdt_tuned" in text
