"""Outputs at the end of a run: every histogram reaches ROOT, writes are atomic, none is lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hist
import numpy as np
import pytest
import uproot
import yaml
from click.testing import CliRunner
from coffea.util import load

from jetplug import outputs
from jetplug.cli import main
from jetplug.config import load_config
from jetplug.errors import OutputError
from jetplug.runner import run


def _flavour_config(tmp_path: Path, real_data: Path, **extra: object) -> Path:
    """Jets per hadron flavour: a histogram whose only axis is a category axis."""
    raw = {
        "fileset": {"tt": [str(real_data / "nano_tt_v15.root")]},
        "schema": "nanoaod",
        "histograms": {
            "flavour": {
                "axes": [{"field": "FatJet.hadronFlavour", "categories": [0, 5], "name": "flav"}]
            },
            "pt": {"axes": [{"field": "FatJet.pt", "bins": 10, "start": 0, "stop": 1000}]},
        },
        **extra,
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _roundtrip(tmp_path: Path, h: hist.Hist[Any]) -> Any:
    path = tmp_path / "h.root"
    outputs.write_root({"d": {"h": h}}, path)
    return uproot.open(path)


def test_int_category_only_histogram_is_a_labelled_th1(tmp_path: Path) -> None:
    h = hist.Hist(hist.axis.IntCategory([0, 4, 5], name="flav", label="hadron flavour"))
    h.fill(flav=[0, 0, 5, 4, 5, 5, 1, 2])  # 1 and 2 are no category: overflow ("other")
    th1 = _roundtrip(tmp_path, h)["d/h"]
    assert th1.classname == "TH1D"
    assert th1.axis().labels() == ["0", "4", "5"]
    assert th1.axis().member("fTitle") == "hadron flavour"
    np.testing.assert_array_equal(th1.values(flow=True), [0, 2, 1, 3, 2])
    assert th1.member("fEntries") == 8
    back = th1.to_hist()
    np.testing.assert_array_equal(back.values(flow=True), h.values(flow=True))


def test_weighted_str_category_only_histogram_keeps_variances(tmp_path: Path) -> None:
    h = hist.Hist(hist.axis.StrCategory(["top", "qcd"], name="cls"), storage=hist.storage.Weight())
    h.fill(cls=["top", "qcd", "qcd", "W"], weight=[2.0, 1.0, 3.0, 0.5])
    th1 = _roundtrip(tmp_path, h)["d/h"]
    assert th1.axis().labels() == ["top", "qcd"]
    np.testing.assert_allclose(th1.values(flow=True), [0, 2, 4, 0.5])
    np.testing.assert_allclose(th1.variances(flow=True), [0, 4, 10, 0.25])


def test_category_axes_alone_split_until_one_is_left(tmp_path: Path) -> None:
    h = hist.Hist(
        hist.axis.StrCategory(["a", "b"], name="ds"), hist.axis.IntCategory([0, 1], name="t")
    )
    h.fill(ds=["a", "a", "b"], t=[0, 1, 1])
    f = _roundtrip(tmp_path, h)
    assert sorted(f["d"].keys(cycle=False)) == ["h__ds_a", "h__ds_b"]
    np.testing.assert_array_equal(f["d/h__ds_b"].values(), [0, 1])
    assert f["d/h__ds_b"].axis().labels() == ["0", "1"]


def test_run_with_a_category_only_histogram_writes_every_output(
    tmp_path: Path, real_data: Path
) -> None:
    outdir = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(_flavour_config(tmp_path, real_data)), "-o", str(outdir)]
    )
    assert result.exit_code == 0, result.output
    prov = json.loads((outdir / "provenance.json").read_text())
    assert prov["complete"] is True and prov["outputs_failed"] == []
    flavour = load(outdir / "histograms.coffea")["tt"]["flavour"]
    th1 = uproot.open(outdir / "histograms.root")["tt/flavour"]
    assert th1.axis().labels() == ["0", "5"]
    np.testing.assert_array_equal(th1.values(), flavour.values())
    assert th1.values(flow=True)[-1] == flavour.values(flow=True)[-1] > 0  # flavour 4: other
    assert not [p for p in outdir.rglob("*") if p.name.startswith(".")]


def test_a_failing_writer_loses_nothing_else(
    tmp_path: Path, real_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(
        _flavour_config(tmp_path, real_data, plots=[{"type": "hist1d", "hist": "pt"}])
    )
    outdir = tmp_path / "out"
    run(cfg, outdir)
    before = (outdir / "histograms.root").read_bytes()

    def broken(hists: object, path: Path) -> None:
        path.write_bytes(b"half a file")
        raise OSError("No space left on device")

    monkeypatch.setattr(outputs, "write_root", broken)
    (outdir / "provenance.json").unlink()
    with pytest.raises(OutputError) as err:
        run(cfg, outdir)
    msg = str(err.value)
    assert "histograms.root" in msg and "OSError: No space left on device" in msg
    assert "provenance.json" in msg
    # the previous histograms.root is untouched, no temporary file is left behind
    assert (outdir / "histograms.root").read_bytes() == before
    assert not [p for p in outdir.rglob("*") if p.name.startswith(".")]
    # the other outputs were written, and provenance says what failed
    assert "tt" in load(outdir / "histograms.coffea")
    assert (outdir / "plots" / "00_hist1d_pt.png").is_file()
    prov = json.loads((outdir / "provenance.json").read_text())
    assert prov["complete"] is False
    assert [f["output"] for f in prov["outputs_failed"]] == ["histograms.root"]
    assert "No space left on device" in prov["outputs_failed"][0]["error"]
    assert "histograms.root" not in prov["outputs"]
    assert "histograms.coffea" in prov["outputs"]


def test_cli_reports_a_failing_writer_after_writing_the_rest(
    tmp_path: Path, real_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(hists: object, path: Path) -> None:
        raise TypeError("cannot convert")

    monkeypatch.setattr(outputs, "write_root", broken)
    outdir = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(_flavour_config(tmp_path, real_data)), "-o", str(outdir)]
    )
    assert result.exit_code == 2, result.output
    assert "error: could not write histograms.root (TypeError: cannot convert)" in result.output
    assert "Traceback" not in result.output
    assert (outdir / "histograms.coffea").is_file() and (outdir / "provenance.json").is_file()
    assert not (outdir / "histograms.root").exists()


def test_a_dataset_name_with_a_slash_is_one_escaped_key(tmp_path: Path, real_data: Path) -> None:
    """Regression: uproot wrote dataset 'mc/tt' as directory 'tt' inside dataset 'mc's."""
    outdir = tmp_path / "out"
    config = _flavour_config(tmp_path, real_data)
    raw = yaml.safe_load(config.read_text())
    raw["fileset"] = {  # DAS-style names have slashes; a dataset named as the prefix too
        "mc/tt": [str(real_data / "nano_tt_v15.root")],
        "mc": [str(real_data / "nano_dy.root")],
        "50%": [str(real_data / "pfnano.root")],
    }
    raw["histograms"] = {"pt": raw["histograms"]["pt"]}
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(main, ["run", str(config), "-o", str(outdir), "--no-plots"])
    assert result.exit_code == 0, result.output
    coffea = load(outdir / "histograms.coffea")
    assert sorted(coffea) == ["50%", "mc", "mc/tt"]  # the coffea file keeps the names
    with uproot.open(outdir / "histograms.root") as f:
        assert sorted(f.keys(cycle=False, recursive=False)) == ["50%25", "mc", "mc%2Ftt"]
        assert f["mc"].keys(cycle=False) == ["pt"]  # no directory 'tt' inside
        for dataset, key in (("mc/tt", "mc%2Ftt"), ("mc", "mc"), ("50%", "50%25")):
            np.testing.assert_array_equal(
                f[f"{key}/pt"].values(), coffea[dataset]["pt"].values(), err_msg=dataset
            )
