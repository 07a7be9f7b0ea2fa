"""Bad input gives one clear error naming what and where, and loses nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jetplug import ConfigError, InputFileError, MissingInputError, UnknownPluginError
from jetplug.config import load_config, parse_config
from jetplug.errors import ChunksFailedError
from jetplug.runner import run

from .helpers import FATJET_FIELDS, copy_fatjets, corrupt_basket


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


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jetplug", *args], capture_output=True, text=True, check=False
    )


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


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"fileset": {}}, "fileset: at least one dataset is required"),
        ({"fileset": {"a": ["x.root"]}, "plugin": []}, r"unknown key\(s\) \['plugin'\]"),
        (
            {"fileset": {"a": ["x.root"]}, "histograms": {"h": {"axes": [{"field": "FatJet.pt"}]}}},
            r"histograms.h.axes\[0\]: give exactly one binning",
        ),
        (
            {
                "fileset": {"a": ["x.root"]},
                "histograms": {
                    "h": {
                        "axes": [{"field": "FatJet.pt", "bins": 3, "start": 0, "stop": 1}],
                        "cuts": ["pt >> 3"],
                    }
                },
            },
            r"histograms.h.cuts\[0\]: 'pt >> 3' is not a cut",
        ),
        ({"fileset": {"a": ["x.root"]}, "schema": "miniaod"}, "schema: 'miniaod' unknown"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, base=tmp_path, source="cfg.yaml")


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
    proc = _cli("run", str(cfg), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: dataset 'sample', file")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_missing_config(tmp_path: Path) -> None:
    proc = _cli("run", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2
    assert "configuration file" in proc.stderr and "does not exist" in proc.stderr


def test_cli_failed_chunks_exit_3(tmp_path: Path, real_data: Path) -> None:
    path = copy_fatjets(real_data / "nano_tt_v15.root", tmp_path / "c.root", step=100)
    corrupt_basket(path, "FatJet_tau2", 1)
    proc = _cli(
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


_DUPLICATE_DATASET = """\
fileset:
  ttbar: [a.root]
  qcd: [b.root]
  ttbar: [c.root]
"""
_DUPLICATE_HISTOGRAM = """\
fileset: {ttbar: [a.root]}
histograms:
  pt:
    axes: [{field: FatJet.pt, bins: 3, start: 0, stop: 1}]
  pt:
    axes: [{field: FatJet.pt, bins: 5, start: 0, stop: 1}]
"""
_DUPLICATE_NESTED = """\
fileset: {ttbar: [a.root]}
histograms:
  pt:
    axes:
      - field: FatJet.pt
        bins: 3
        start: 0
        bins: 4
        stop: 1
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_DUPLICATE_DATASET, "duplicate key 'ttbar' at line 4 (first at line 2)"),
        (_DUPLICATE_HISTOGRAM, "duplicate key 'pt' at line 5 (first at line 3)"),
        (_DUPLICATE_NESTED, "duplicate key 'bins' at line 8 (first at line 6)"),
    ],
    ids=["dataset", "histogram", "axis"],
)
def test_yaml_duplicate_keys_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)


def test_yaml_merge_keys_may_still_override(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(
        "fileset: {ttbar: [a.root]}\n"
        "histograms:\n"
        "  a: {axes: [&pt {field: FatJet.pt, bins: 3, start: 0, stop: 1}]}\n"
        "  b: {axes: [{<<: *pt, bins: 5}]}\n"
        "  c: {axes: [{<<: *pt, name: pt2}]}\n"
    )
    cfg = load_config(path)
    assert [h.axes[0].bins for h in cfg.histograms] == [3, 5, 3]


def test_cli_duplicate_dataset_key_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(_DUPLICATE_DATASET)
    proc = _cli("run", str(path), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: {path}: duplicate key 'ttbar' at line 4 (first at line 2); "
        "YAML would keep only the last one"
    )
    assert not (tmp_path / "out").exists()


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


def test_same_name_in_different_directories_is_no_duplicate(tmp_path: Path) -> None:
    cfg = parse_config(
        {"fileset": {"a": ["x/f.root"], "b": ["y/f.root", "root://eos//x/f.root"]}},
        base=tmp_path,
        source="cfg.yaml",
    )
    assert [len(d.files) for d in cfg.fileset] == [1, 2]
