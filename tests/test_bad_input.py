"""Bad input gives one clear error naming what and where, and loses nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from jetplug import ConfigError, InputFileError, MissingInputError, Plugins, UnknownPluginError
from jetplug.config import load_config, parse_config
from jetplug.errors import ChunksFailedError
from jetplug.runner import run
from jetplug.testing import copy_as_new_file

from .helpers import FATJET_FIELDS, copy_fatjets, corrupt_basket, jetplug_cli


def _config(tmp_path: Path, files: list[Path], **extra: object) -> Path:
    raw = {
        "fileset": {"sample": [str(f) for f in files]},
        "schema": "nanoaod",
        "plugins": ["top_bdt"],
        "histograms": {
            "score": {
                "axes": [{"field": "FatJet.top_bdt.score", "bins": 10, "start": 0, "stop": 1}]
            }
        },
        **extra,
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_missing_file_names_dataset_and_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.root"
    with pytest.raises(InputFileError, match=rf"dataset 'sample', file {missing}: does not exist"):
        run(load_config(_config(tmp_path, [missing])))


def test_truncated_file(tmp_path: Path, real_data: Path) -> None:
    data = (real_data / "nano_dy.root").read_bytes()
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(
        InputFileError, match=r"truncated\.root: cannot be read as a ROOT file .*truncated"
    ):
        run(load_config(_config(tmp_path, [truncated])))


def test_missing_branch_names_plugin_field_and_file(tmp_path: Path, real_data: Path) -> None:
    fields = [f for f in FATJET_FIELDS if f != "n3b1"]
    partial = copy_fatjets(real_data / "nano_tt_v15.root", tmp_path / "no_n3b1.root", fields)
    with pytest.raises(MissingInputError) as err:
        run(load_config(_config(tmp_path, [partial])))
    msg = str(err.value)
    assert "plugin 'top_bdt' needs field 'FatJet.n3b1'" in msg
    assert str(partial) in msg
    assert "Did you mean 'n2b1'" in msg


def test_unknown_plugin_in_config_lists_available(tmp_path: Path, real_data: Path) -> None:
    cfg = _config(tmp_path, [real_data / "nano_dy.root"], plugins=["top_bdtt"])
    with pytest.raises(
        UnknownPluginError, match=r"unknown plugin 'top_bdtt'.*Available plugins: .*top_bdt"
    ):
        run(load_config(cfg))


def test_unknown_histogram_field(tmp_path: Path, real_data: Path) -> None:
    cfg = _config(
        tmp_path,
        [real_data / "nano_dy.root"],
        histograms={
            "h": {"axes": [{"field": "FatJet.msoftdorp", "bins": 5, "start": 0, "stop": 1}]}
        },
    )
    with pytest.raises(
        MissingInputError,
        match=r"histogram 'h' needs field 'FatJet.msoftdorp'.*nano_dy.root.*Did you mean 'msoftdrop'",
    ):
        run(load_config(cfg))


def test_corrupt_chunk_is_reported_not_dropped(tmp_path: Path, real_data: Path) -> None:
    path = copy_fatjets(real_data / "nano_tt_v15.root", tmp_path / "corrupt.root", step=50)
    corrupt_basket(path, "FatJet_msoftdrop", 2)  # entries [100, 150)
    cfg = load_config(_config(tmp_path, [path], chunksize=50))
    outdir = tmp_path / "out"
    with pytest.raises(ChunksFailedError) as err:
        run(cfg, outdir)
    assert err.value.failures[0]["entrystart"] == 100
    assert err.value.failures[0]["entrystop"] == 150
    assert "1 of 4 chunks failed" in str(err.value)
    prov = json.loads((outdir / "provenance.json").read_text())
    assert prov["complete"] is False
    assert [c["entrystart"] for c in prov["chunks_processed"]] == [0, 50, 150]
    assert prov["chunks_failed"][0]["file"] == str(path)
    assert "error" in prov["chunks_failed"][0]["error"].lower() or prov["chunks_failed"][0]["error"]
    # with a failure budget the run succeeds and still records the failure
    result = run(cfg, tmp_path / "out2", max_failures=1)
    assert len(result.failed) == 1 and result.events == 150


def test_cli_prints_one_line_error_without_traceback(tmp_path: Path) -> None:
    cfg = _config(tmp_path, [tmp_path / "missing.root"])
    proc = jetplug_cli("run", str(cfg), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: dataset 'sample', file")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_missing_config(tmp_path: Path) -> None:
    proc = jetplug_cli("run", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2
    assert "configuration file" in proc.stderr and "does not exist" in proc.stderr


def test_cli_failed_chunks_exit_3(tmp_path: Path, real_data: Path) -> None:
    path = copy_fatjets(real_data / "nano_tt_v15.root", tmp_path / "c.root", step=100)
    corrupt_basket(path, "FatJet_tau2", 1)
    proc = jetplug_cli(
        "run",
        str(_config(tmp_path, [path], chunksize=100)),
        "-o",
        str(tmp_path / "o"),
        "--no-plots",
    )
    assert proc.returncode == 3, proc.stderr
    assert "1 of 2 chunks failed" in proc.stderr and "entries [100, 200)" in proc.stderr
    assert "Traceback" not in proc.stderr
    shutil.rmtree(tmp_path / "o")


@pytest.mark.parametrize(
    ("fileset", "message"),
    [
        (
            {"ttbar": ["a.root", "./sub/../a.root"]},
            r"file {a} is listed twice in dataset 'ttbar'",
        ),
        (
            {"ttbar": ["a.root"], "qcd": {"files": ["b.root", "{a}"]}},
            r"file {a} is listed in dataset 'ttbar' and in dataset 'qcd'",
        ),
        (
            {"x": ["root://eos//store/f.root"], "y": ["root://eos//store/f.root"]},
            r"file root://eos//store/f.root is listed in dataset 'x' and in dataset 'y'",
        ),
    ],
    ids=["one-dataset", "two-datasets", "remote"],
)
def test_file_listed_twice_is_refused(
    tmp_path: Path, fileset: dict[str, object], message: str
) -> None:
    a = (tmp_path / "a.root").resolve()
    raw = json.loads(json.dumps(fileset).replace("{a}", str(a)))
    with pytest.raises(ConfigError) as err:
        parse_config({"fileset": raw}, base=tmp_path, source="cfg.yaml")
    assert str(err.value).startswith(f"cfg.yaml: fileset: {message.format(a=a)}")


def test_copy_of_a_listed_file_is_refused(tmp_path: Path, real_data: Path) -> None:
    """A copy (or hard link, or a remote replica) is the same ROOT file: the same UUID."""
    source = real_data / "nano_tt_v15.root"
    copy = tmp_path / "elsewhere" / "copy.root"
    copy.parent.mkdir()
    shutil.copy(source, copy)
    raw = {"fileset": {"tt": [str(source)], "more": [str(copy)]}, "chunksize": 100}
    with pytest.raises(InputFileError) as err:
        run(parse_config(raw, base=tmp_path), tmp_path / "out")
    assert str(err.value).startswith(
        f"dataset 'more', file {copy}: is the same ROOT file as {source} (dataset 'tt'): "
        "both have UUID 6ac7019c294111f1b022001a4abb4031, so its 200 events would be "
        "processed twice; list the file once"
    )
    assert not (tmp_path / "out").exists()
    # a copy under another UUID is another file (as jetplug.testing makes them for scale tests)
    copy_as_new_file(source, copy, 1)
    result = run(parse_config(raw, base=tmp_path), tmp_path / "out2", plots=False)
    assert sum(c["events"] for c in result.chunks) == 400


def test_same_name_in_different_directories_is_no_duplicate(tmp_path: Path) -> None:
    cfg = parse_config(
        {"fileset": {"a": ["x/f.root"], "b": ["y/f.root", "root://eos//x/f.root"]}},
        base=tmp_path,
        source="cfg.yaml",
    )
    assert [len(d.files) for d in cfg.fileset] == [1, 2]


# -- issue 12, item 7: late or misleading errors ---------------------------------------------


def _tiny_xgboost(path: Path) -> Path:
    """A one-input xgboost model (JSON), as someone else might ship it."""
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 300, (200, 1)).astype(np.float32)
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(x, label=x[:, 0] > 100), 2)
    booster.save_model(str(path))
    return path


def test_changed_model_file_fails_before_the_run(tmp_path: Path, real_data: Path) -> None:
    from jetplug import ArtifactError, PluginHost, Plugins
    from jetplug.declared import DeclaredModels
    from jetplug.spec import sha256_file

    model = _tiny_xgboost(tmp_path / "theirs.json")
    cfg = load_config(
        _config(
            tmp_path,
            [real_data / "nano_tt_v15.root"],
            models={"theirs": {"file": str(model), "inputs": ["msoftdrop"]}},
            plugins=["theirs"],
            histograms={},
            chunksize=20,
        )
    )
    recorded = sha256_file(model)
    model.write_text(model.read_text() + "\n")  # replaced after the config recorded its sha256
    actual = sha256_file(model)
    with pytest.raises(ArtifactError) as err:
        run(cfg, tmp_path / "out")
    msg = str(err.value)
    assert msg.startswith("plugin 'theirs': ")
    assert str(model) in msg and f"sha256 {actual}" in msg and f"expected {recorded}" in msg
    assert not (tmp_path / "out").exists()  # failed before any chunk ran
    # the same check when a user's processor builds Plugins
    host = PluginHost()
    host.register(DeclaredModels(cfg.models), name="declared")
    with pytest.raises(ArtifactError, match=r"plugin 'theirs': .*theirs\.json has sha256"):
        Plugins(["theirs"], host=host)


@pytest.mark.parametrize("missing", ["luminosityBlock", "run", "event"])
def test_file_without_event_ids_fails_preflight(
    tmp_path: Path, real_data: Path, missing: str
) -> None:
    event = [b for b in ("run", "luminosityBlock", "event", "genWeight") if b != missing]
    path = copy_fatjets(real_data / "nano_tt_v15.root", tmp_path / "no_ids.root", event=event)
    with pytest.raises(InputFileError) as err:
        run(load_config(_config(tmp_path, [path])), tmp_path / "out")
    msg = str(err.value)
    assert f"file {path}: has no branch {missing!r}" in msg
    assert "NanoAOD schema" in msg
    assert not (tmp_path / "out").exists()


def test_later_file_without_event_ids_fails_its_chunks_named(
    tmp_path: Path, real_data: Path
) -> None:
    """Preflight reads a dataset's first file's branches; a later file lacking an event
    ID fails its own chunks, named, at once (coffea retried four times, then aborted
    the run without naming the file)."""
    good = copy_fatjets(real_data / "nano_tt_v15.root", tmp_path / "good.root")
    bad = copy_fatjets(
        real_data / "nano_tt_v15.root", tmp_path / "bad.root", event=["run", "event", "genWeight"]
    )
    cfg = load_config(_config(tmp_path, [good, bad]))
    with pytest.raises(ChunksFailedError) as failed:
        run(cfg)
    assert (
        f"First: dataset 'sample', file {bad}, entries [0, 200): InputFileError: "
        f"dataset 'sample', file {bad}: has no branch 'luminosityBlock'"
    ) in str(failed.value)
    result = run(cfg, max_failures=1)
    (failure,) = result.failed
    assert failure["file"] == str(bad) and failure["plugin"] is None
    assert [c["file"] for c in result.chunks] == [str(good)]
    assert result.hists["sample"]["score"].sum() > 0  # the good file's chunk is kept


def test_corrupt_basket_is_a_file_read_error_not_the_plugins(
    tmp_path: Path, real_data: Path
) -> None:
    from jetplug import Plugins
    from jetplug.errors import FileReadError, error_context

    path = copy_fatjets(real_data / "nano_tt_v15.root", tmp_path / "corrupt.root", step=50)
    corrupt_basket(path, "FatJet_msoftdrop", 2)  # entries [100, 150), read by top_bdt
    with pytest.raises(ChunksFailedError) as failed:
        run(load_config(_config(tmp_path, [path], chunksize=50)))
    assert f"First: dataset 'sample', file {path}, entries [100, 150): FileReadError: cannot " in (
        str(failed.value)
    )
    (failure,) = failed.value.failures
    assert failure["plugin"] is None
    assert failure["error"].startswith(f"FileReadError: dataset 'sample', file {path}, ")
    assert "entries [100, 150): cannot read its columns (zlib.error:" in failure["error"]
    assert failure["error"].endswith("(read for plugin 'top_bdt')")
    # a column only a histogram reads
    corrupt_basket(path, "FatJet_eta", 0)
    hist_only = {"eta": {"axes": [{"field": "FatJet.eta", "bins": 4, "start": -3, "stop": 3}]}}
    cfg = _config(tmp_path, [path], chunksize=50, plugins=[], histograms=hist_only)
    (failure,) = run(load_config(cfg), max_failures=1).failed
    assert failure["plugin"] is None and (failure["entrystart"], failure["entrystop"]) == (0, 50)
    assert failure["error"].startswith("FileReadError: ")
    assert failure["error"].endswith("(read for histogram 'eta')")
    # in a user's processor: the error names the file and entries, not the plugin
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    events = NanoEventsFactory.from_root(
        {str(path): "Events"},
        schemaclass=NanoAODSchema,
        entry_start=100,
        entry_stop=150,
        metadata={"dataset": "sample", "filename": str(path), "entrystart": 100, "entrystop": 150},
    ).events()
    with pytest.raises(FileReadError) as err:
        Plugins(["top_bdt"])(events)
    assert f"file {path}, entries [100, 150): cannot read its columns" in str(err.value)
    assert error_context(err.value).get("plugin") is None


def test_directory_as_input_file_says_so(tmp_path: Path, real_data: Path) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    shutil.copy(real_data / "nano_dy.root", folder / "a.root")
    with pytest.raises(InputFileError) as err:
        run(load_config(_config(tmp_path, [folder])))
    msg = str(err.value)
    assert f"file {folder}: is a directory, not a ROOT file" in msg
    assert f"'{folder}/*.root'" in msg and "does not exist" not in msg
    # jetplug validate reads its files through collect
    from jetplug.validation.collect import collect

    with pytest.raises(InputFileError, match=rf"file {folder}: is a directory, not a ROOT file"):
        collect([folder], ["top_bdt"])


def test_fileset_glob_expands_to_sorted_files(tmp_path: Path, real_data: Path) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    for name in ("b.root", "a.root"):
        shutil.copy(real_data / "nano_dy.root", folder / name)
    raw = {"fileset": {"dy": ["samples/*.root"]}}
    cfg = parse_config(raw, base=tmp_path, source="cfg.yaml")
    assert cfg.fileset[0].files == (str(folder / "a.root"), str(folder / "b.root"))
    with pytest.raises(ConfigError, match=r"fileset\.dy: 'samples/\*\.rot' matches no file"):
        parse_config({"fileset": {"dy": ["samples/*.rot"]}}, base=tmp_path, source="cfg.yaml")


def _huge(bins: int, **extra: object) -> dict[str, object]:
    axes = [
        {"field": "FatJet.pt", "bins": bins, "start": 0, "stop": 1},
        {"field": "FatJet.eta", "bins": bins, "start": 0, "stop": 1},
    ]
    return {"fileset": {"a": ["x.root"]}, "histograms": {"big": {"axes": axes}}, **extra}


def test_histogram_too_large_for_memory_is_refused_when_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_huge(100_000), base=tmp_path, source="cfg.yaml")
    msg = str(err.value)
    assert msg.startswith("cfg.yaml: histograms.big: ")
    assert "100002 x 100002 bins" in msg and "74.5 GiB" in msg and "limit of 2 GiB" in msg
    assert "max_histogram_memory" in msg
    # the limit is the run config's to raise (or lower)
    cfg = parse_config(_huge(100_000, max_histogram_memory="80 GiB"), base=tmp_path)
    assert cfg.max_histogram_memory == 80 * 2**30
    with pytest.raises(ConfigError, match=r"histograms.big: .*limit of 1 MiB"):
        parse_config(_huge(400, max_histogram_memory="1 MiB"), base=tmp_path)
    with pytest.raises(ConfigError, match=r"max_histogram_memory: .*'lots'"):
        parse_config(_huge(4, max_histogram_memory="lots"), base=tmp_path)


def test_histogram_memory_estimate_matches_booked_histograms(tmp_path: Path) -> None:
    from jetplug.histograms import book, estimate_bytes

    axes = [
        {"field": "FatJet.pt", "bins": 7, "start": 0, "stop": 1},
        {"field": "FatJet.eta", "edges": [0, 1, 2, 5]},
        {"field": "FatJet.truthLabel", "categories": [0, 1, 2]},
        {"field": "FatJet.flavour", "categories": ["b", "c"]},
        {"field": "FatJet.nConstituents", "integer": [0, 4]},
    ]
    for weight in (None, "genWeight"):
        h = {"axes": axes, **({"weight": weight} if weight else {})}
        cfg = parse_config({"fileset": {"a": ["x.root"]}, "histograms": {"h": h}}, base=tmp_path)
        booked = book(cfg.histograms[0])
        assert estimate_bytes(cfg.histograms[0]) == booked.view(flow=True).nbytes


def test_run_arguments_are_validated(tmp_path: Path, real_data: Path) -> None:
    from jetplug import JetplugError

    cfg = load_config(_config(tmp_path, [real_data / "nano_dy.root"]))
    with pytest.raises(JetplugError, match=r"max_failures must be at least 0, got -1"):
        run(cfg, max_failures=-1)
    with pytest.raises(JetplugError, match=r"workers must be at least 1, got 0"):
        run(cfg, executor="futures", workers=0)


def test_a_plugin_listed_twice_on_one_collection_says_why_and_what_to_do(
    tmp_path: Path,
) -> None:
    """Once per collection: the same entry twice is refused where it is written, and so is
    naming the default collection explicitly beside the default (found when the chain is
    built, where the plugin's own collection is known)."""
    raw = {"fileset": {"d": ["x.root"]}, "plugins": ["top_bdt", "pfn", "top_bdt"]}
    with pytest.raises(ConfigError, match=r"plugins\[2\]: plugin 'top_bdt' is listed twice") as e:
        parse_config(raw, base=tmp_path)
    assert "plugins[0]" in str(e.value) and "collection: NAME" in str(e.value)
    with pytest.raises(ConfigError, match=r"\['top_bdt@FatJet'\] run twice on the same collection"):
        Plugins(["top_bdt", {"name": "top_bdt", "collection": "FatJet"}])
    # a plugin creating a collection: two inputs, one created name; the fix is another target
    twice = ["fastsim_gan", {"name": "fastsim_gan", "collection": "GenJet"}]
    with pytest.raises(ConfigError) as e:
        Plugins(twice)
    assert str(e.value) == (
        "plugin(s) ['fastsim_gan@FastSimFatJet'] create the same collection twice; give one "
        "entry another 'target' (the name of the collection it creates)"
    )


def test_missing_collection_names_the_ones_like_it(tmp_path: Path, real_data: Path) -> None:
    """NanoAOD v15 has no MET: PFMET, PuppiMET, ... are offered instead of nothing."""
    raw = {
        "fileset": {"tt": [str(real_data / "nano_tt_v15.root")]},
        "schema": "nanoaod",
        "histograms": {"met": {"axes": [{"field": "MET.pt", "bins": 5, "start": 0, "stop": 1}]}},
    }
    with pytest.raises(MissingInputError) as err:
        run(parse_config(raw, base=tmp_path))
    msg = str(err.value)
    assert "(the file has no collection 'MET'; collections like it: 'PFMET', " in msg
    assert "'PuppiMET'" in msg and "'nCorrT1METJet'" not in msg


def test_misspelt_plugin_output_gets_a_suggestion(tmp_path: Path) -> None:
    err = MissingInputError(
        consumer="histogram 's'",
        field="FatJet.top_bdt.scroe",
        available=["pt", "msoftdrop", "top_bdt", "top_bdt.score"],
    )
    assert "Did you mean 'top_bdt.score'" in str(err)
    plain = MissingInputError(consumer="x", field="FatJet.n3b2", available=["n2b1", "n3b1"])
    assert "Did you mean 'n3b1'" in str(plain)
