"""A run config with a mistake is refused when it is read, in one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetplug import ConfigError
from jetplug.config import load_config, parse_config

from .helpers import jetplug_cli

_PT = {"axes": [{"field": "FatJet.pt", "bins": 3, "start": 0, "stop": 1}]}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"fileset": {}}, "fileset: at least one dataset is required"),
        (
            {"fileset": {"a": ["x.root"]}, "plugin": []},
            r"unknown key\(s\) \['plugin'\] \(did you mean 'plugins'\?\)",
        ),
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
        (  # would nest in histograms.root as a directory 'jets' holding 'pt'
            {"fileset": {"a": ["x.root"]}, "histograms": {"jets/pt": _PT}},
            r"histograms.jets/pt: name 'jets/pt' contains '/'; it names an object in "
            r"histograms.root",
        ),
        (  # would be written outside plots/
            {
                "fileset": {"a": ["x.root"]},
                "histograms": {"pt": _PT},
                "plots": [{"type": "hist1d", "hist": "pt", "name": "../pt"}],
            },
            r"plots\[0\].name: name '../pt' contains '/'; it names the file plots/<name>.png",
        ),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, base=tmp_path, source="cfg.yaml")


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


def test_yaml_numbers_in_scientific_notation(tmp_path: Path, real_data: Path) -> None:
    """PyYAML (YAML 1.1) reads 5.983e4 as a string; a config reads it as JSON and TOML do."""
    path = tmp_path / "cfg.yaml"
    path.write_text(
        f"fileset:\n  dy: {{files: [{real_data / 'nano_dy.root'}], metadata: {{xsec: 6.07722e3}}}}\n"
        "lumi: 5.983e4\nchunksize: 1e2\nmaxchunks: 2\n"
    )
    cfg = load_config(path)
    assert (cfg.lumi, cfg.chunksize, cfg.maxchunks) == (59830.0, 100, 2)
    assert cfg.fileset[0].metadata["xsec"] == 6077.22


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chunksize: true", r"chunksize: events per chunk, a positive integer; got True"),
        ("chunksize: 1.505e2", r"chunksize: events per chunk, a positive integer; got 150.5"),
        ("chunksize: null", r"chunksize: events per chunk, a positive integer; got None"),
        ("maxchunks: 0", r"maxchunks: chunks per file at most, a positive integer; got 0"),
        ("maxchunks: -1", r"maxchunks: chunks per file at most, a positive integer; got -1"),
    ],
)
def test_chunk_counts_are_positive_integers(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(f"fileset: {{a: [a.root]}}\n{text}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_cli_duplicate_dataset_key_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(_DUPLICATE_DATASET)
    proc = jetplug_cli("run", str(path), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: {path}: duplicate key 'ttbar' at line 4 (first at line 2); "
        "YAML would keep only the last one"
    )
    assert not (tmp_path / "out").exists()


def test_an_empty_schema_key_is_named_not_read_as_none(tmp_path: Path) -> None:
    raw = {"fileset": {"d": ["x.root"]}, "schema": None}
    with pytest.raises(ConfigError, match=r"schema: is empty; use one of \['pfnano', 'nanoaod'"):
        parse_config(raw, base=tmp_path)
