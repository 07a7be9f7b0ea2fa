"""Preflight at scale: many files cost milliseconds each, are opened once, and bad ones are named."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uproot
import yaml
from coffea import processor

from jetplug import InputFileError
from jetplug.config import load_config
from jetplug.errors import ChunksFailedError
from jetplug.preflight import _header_entries
from jetplug.runner import run
from jetplug.testing import copy_as_new_file

from .helpers import FATJET_FIELDS, copy_fatjets, write_events

PT_HIST = {"pt": {"axes": [{"field": "FatJet.pt", "bins": 20, "start": 0, "stop": 2000}]}}
SCORE_HIST = {
    "score": {"axes": [{"field": "FatJet.top_bdt.score", "bins": 10, "start": 0, "stop": 1}]}
}


def _config(tmp_path: Path, files: list[Path], **extra: Any) -> Path:
    raw = {
        "fileset": {"sample": [str(f) for f in files]},
        "schema": "nanoaod",
        "plugins": [],
        "histograms": PT_HIST,
        **extra,
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _links(source: Path, directory: Path, n: int) -> list[Path]:
    """``n`` copies of ``source``, each with its own UUID (preflight refuses the same file twice)."""
    directory.mkdir(exist_ok=True)
    return [copy_as_new_file(source, directory / f"f{i:04d}.root", i + 1) for i in range(n)]


@pytest.fixture
def slim(tmp_path: Path, real_data: Path) -> Path:
    """A small NanoAOD-layout file: event IDs and FatJets of nano_tt_v15 (200 events)."""
    return copy_fatjets(real_data / "nano_tt_v15.root", tmp_path / "slim.root", step=200)


def test_header_entries_match_uproot(tmp_path: Path, real_data: Path) -> None:
    src = real_data / "nano_tt_v15.root"
    files = [*sorted(real_data.glob("*.root")), write_events(tmp_path / "o.root", "Other", src)]
    for path in files:
        with uproot.open(path) as f:
            for name, cls in f.classnames(recursive=False).items():
                if cls == "TTree":
                    assert _header_entries(f, name) == f[name].num_entries, (path, name)
    rntuple = write_events(tmp_path / "r.root", "Events", src, rntuple=True)
    with uproot.open(rntuple) as f:
        assert _header_entries(f, "Events") is None  # not a TTree: read in full


def test_many_files_preflight_fast_coffea_opens_none_same_histograms(
    tmp_path: Path, slim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _links(slim, tmp_path / "many", 200)
    single = run(load_config(_config(tmp_path, [slim])))

    def opened(*args: object) -> None:
        raise AssertionError("coffea's preprocessing opened a file")

    monkeypatch.setattr(processor.Runner, "metadata_fetcher_root", staticmethod(opened))
    start = time.perf_counter()
    many = run(load_config(_config(tmp_path, files)))
    elapsed = time.perf_counter() - start
    assert [f.entries for f in many.files] == [200] * 200
    assert len(many.chunks) == 200 and not many.failed
    got = many.hists["sample"]["pt"].values()
    np.testing.assert_array_equal(got, 200 * single.hists["sample"]["pt"].values())
    assert elapsed < 60, f"200 small files took {elapsed:.1f} s"


def test_preflight_of_many_files_takes_milliseconds_each(tmp_path: Path, slim: Path) -> None:
    from jetplug import PluginHost, Plugins
    from jetplug.preflight import preflight

    config = load_config(_config(tmp_path, _links(slim, tmp_path / "many", 200)))
    plugins = Plugins(config.plugins, host=PluginHost())
    start = time.perf_counter()
    checked = preflight(config, plugins.chain.specs, plugins.chain.host.derivations)
    elapsed = time.perf_counter() - start
    assert checked.sampled == [("sample", str(tmp_path / "many" / "f0000.root"))]
    assert len(checked.metadata_cache()) == 200
    assert elapsed < 10, f"preflight of 200 files took {elapsed:.1f} s"


def test_file_in_the_middle_missing_a_plugin_branch_fails_its_chunk_by_name(
    tmp_path: Path, real_data: Path
) -> None:
    src = real_data / "nano_tt_v15.root"
    good = [copy_fatjets(src, tmp_path / f"good{i}.root") for i in range(4)]
    fields = [f for f in FATJET_FIELDS if f != "n3b1"]
    bad = copy_fatjets(src, tmp_path / "no_n3b1.root", fields)
    files = [*good[:2], bad, *good[2:]]
    cfg = _config(tmp_path, files, plugins=["top_bdt"], histograms=SCORE_HIST)
    with pytest.raises(ChunksFailedError) as err:
        run(load_config(cfg))
    failed = err.value.failures
    assert {f["file"] for f in failed} == {str(bad)}, failed
    for f in failed:
        assert "plugin 'top_bdt' needs field 'FatJet.n3b1'" in f["error"]
        assert str(bad) in f["error"]
    assert str(bad) in str(err.value)
    # tolerated: the other files' chunks all ran and nothing was lost silently
    result = run(load_config(cfg), max_failures=len(failed))
    assert {c["file"] for c in result.chunks} == {str(f) for f in files if f != bad}
    assert result.provenance["complete"] is False


def test_file_in_the_middle_missing_a_histogram_branch_fails_its_chunk_by_name(
    tmp_path: Path, real_data: Path
) -> None:
    src = real_data / "nano_tt_v15.root"
    good = [copy_fatjets(src, tmp_path / f"good{i}.root") for i in range(2)]
    bad = copy_fatjets(src, tmp_path / "no_tau1.root", [f for f in FATJET_FIELDS if f != "tau1"])
    hist = {"tau1": {"axes": [{"field": "FatJet.tau1", "bins": 10, "start": 0, "stop": 1}]}}
    cfg = _config(tmp_path, [good[0], bad, good[1]], histograms=hist)
    with pytest.raises(ChunksFailedError) as err:
        run(load_config(cfg))
    assert {f["file"] for f in err.value.failures} == {str(bad)}
    for f in err.value.failures:
        assert "tau1" in f["error"] and str(bad) in f["error"], f["error"]


@pytest.mark.parametrize("problem", ["truncated", "missing", "no tree"])
def test_bad_file_among_many_is_named(
    tmp_path: Path, slim: Path, real_data: Path, problem: str
) -> None:
    files = _links(slim, tmp_path / "many", 100)
    bad = tmp_path / "many" / "bad.root"
    if problem == "truncated":
        data = (real_data / "nano_dy.root").read_bytes()
        bad.write_bytes(data[: len(data) // 3])
        message = r"cannot be read as a ROOT file .*truncated or corrupt"
    elif problem == "no tree":
        write_events(bad, "Other", real_data / "nano_tt_v15.root")
        message = r"has no tree 'Events' \(it has \['Other'\]\)"
    else:
        message = "does not exist"
    files.insert(57, bad)
    with pytest.raises(InputFileError, match=rf"dataset 'sample', file {bad}: {message}"):
        run(load_config(_config(tmp_path, files)))
