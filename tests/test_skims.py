"""Skims: per-object columns after cuts, written chunk by chunk as parquet and ROOT TTrees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot

from jetplug import ConfigError, MissingInputError
from jetplug.config import parse_config
from jetplug.errors import ChunksFailedError
from jetplug.runner import RunResult, run
from jetplug.skims import chunk_stem

from .helpers import copy_fatjets, corrupt_basket

CUTS = ["FatJet.pt > 400", "FatJet.eta < 2.0", "FatJet.eta > -2.0"]
LABELS = ("top", "W", "Z", "H", "QCD")


def _generated_config(files: dict[str, list[Path]]) -> dict[str, Any]:
    return {
        "fileset": {d: [str(f) for f in fs] for d, fs in files.items()},
        "schema": "pfnano",
        "chunksize": 50,
        "plugins": ["top_bdt", "part"],
        "histograms": {
            "score": {
                "cuts": CUTS,
                "axes": [{"field": "FatJet.top_bdt.score", "bins": 20, "start": 0, "stop": 1}],
            },
            "score_sum": {  # the sum of the selected scores, as a weight
                "cuts": CUTS,
                "weight": "FatJet.top_bdt.score",
                "axes": [{"field": "FatJet.pt", "bins": 1, "start": 0, "stop": 1e5}],
            },
        },
        "skims": {
            "jets": {
                "collection": "FatJet",
                "fields": ["pt", "eta", "msoftdrop", "truthLabel", "top_bdt.score", "part.probs"],
                "event": ["run", "luminosityBlock", "event", "genWeight"],
                "cuts": CUTS,
                "format": ["parquet", "root"],
            },
        },
    }


@pytest.fixture(scope="module")
def generated_runs(
    generated: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, RunResult]]:
    base = tmp_path_factory.mktemp("skims")
    cfg = parse_config(_generated_config(generated), base=base)
    out = {}
    for executor in ("iterative", "futures"):
        outdir = base / executor
        out[executor] = (outdir, run(cfg, outdir, executor=executor, workers=2, plots=False))
    return out


def _read_parquet(outdir: Path, dataset: str) -> ak.Array:
    files = sorted((outdir / "skims" / "jets" / dataset).glob("*.parquet"))
    files.sort(key=lambda p: int(p.stem.rsplit("_", 1)[1].split("-")[0]))
    return ak.concatenate([ak.from_parquet(f) for f in files])


def test_skim_rows_are_the_objects_passing_the_cuts(
    generated_runs: dict[str, tuple[Path, RunResult]],
) -> None:
    outdir, result = generated_runs["iterative"]
    assert not result.failed
    for dataset in ("ttbar", "qcd"):
        skim = _read_parquet(outdir, dataset)
        jets = skim.FatJet
        assert ak.all(ak.num(jets) > 0)  # events without a selected jet are dropped
        pt, eta = ak.flatten(jets.pt), ak.flatten(jets.eta)
        assert ak.all(pt > 400) and ak.all(abs(eta) < 2.0)
        filled = sum(c["filled"]["score"] for c in result.chunks if c["dataset"] == dataset)
        assert len(pt) == filled > 0
        # the plugin score column is what the histograms saw
        score = ak.to_numpy(ak.flatten(jets.top_bdt_score))
        h = result.hists[dataset]["score"]
        counts, _ = np.histogram(score, bins=20, range=(0, 1))
        np.testing.assert_array_equal(h.values(), counts)
        total = result.hists[dataset]["score_sum"].sum().value
        assert total == pytest.approx(float(np.sum(score, dtype=np.float64)), rel=1e-6)
        # a vector output becomes one column per label, equal to the plugin's own columns
        assert {f"part_probs_{label}" for label in LABELS} <= set(ak.fields(jets))
        probs = np.stack([ak.to_numpy(ak.flatten(jets[f"part_probs_{x}"])) for x in LABELS], 1)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
        # event-level columns: one value per row, and the rows are the right events
        assert ak.to_numpy(skim.event).ndim == 1
        assert len(np.unique(ak.to_numpy(skim.event))) == len(skim)


def test_root_skim_equals_the_parquet_skim(
    generated_runs: dict[str, tuple[Path, RunResult]],
) -> None:
    outdir, _ = generated_runs["iterative"]
    for path in (outdir / "skims" / "jets" / "ttbar").glob("*.root"):
        tree = uproot.open(path)["Events"]
        assert {"nFatJet", "FatJet_pt", "FatJet_top_bdt_score", "FatJet_part_probs_top"} <= set(
            tree.keys()
        )
        arrays = tree.arrays()
        parquet = ak.from_parquet(path.with_suffix(".parquet"))
        assert ak.to_list(arrays.nFatJet) == ak.to_list(ak.num(parquet.FatJet))
        for name in ("pt", "top_bdt_score", "part_probs_QCD"):
            assert ak.to_list(arrays[f"FatJet_{name}"]) == ak.to_list(parquet.FatJet[name])
        assert ak.to_list(arrays.event) == ak.to_list(parquet.event)


def test_skims_identical_across_executors_and_listed_in_provenance(
    generated_runs: dict[str, tuple[Path, RunResult]],
) -> None:
    listed = {}
    for executor, (outdir, result) in generated_runs.items():
        prov = json.loads((outdir / "provenance.json").read_text())
        listed[executor] = prov["skims"]
        on_disk = sorted(str(p.relative_to(outdir)) for p in (outdir / "skims").rglob("*.*"))
        assert sorted(prov["skims"]) == on_disk  # every file listed, no temporary file left
        assert len(set(prov["skims"])) == len(prov["skims"]) == 2 * len(result.chunks)
        assert sorted(result.skims) == sorted(outdir / p for p in prov["skims"])
        for chunk in prov["chunks_processed"]:
            assert len(chunk["skims"]) == 2
            assert all(f"_{chunk['entrystart']}-{chunk['entrystop']}." in p for p in chunk["skims"])
    assert listed["iterative"] == listed["futures"]  # deterministic names
    ref, other = (generated_runs[e][0] for e in ("iterative", "futures"))
    for rel in listed["iterative"]:
        if rel.endswith(".parquet"):
            assert ak.to_list(ak.from_parquet(ref / rel)) == ak.to_list(
                ak.from_parquet(other / rel)
            )


def test_real_cms_file(real_data: Path, tmp_path: Path) -> None:
    source = real_data / "nano_tt_v15.root"
    cfg = parse_config(
        {
            "fileset": {"tt": [str(source)]},
            "schema": "nanoaod",
            "chunksize": 60,
            "plugins": ["top_bdt"],
            "histograms": {
                "score": {
                    "cuts": ["FatJet.pt > 200"],
                    "axes": [{"field": "FatJet.top_bdt.score", "bins": 10, "start": 0, "stop": 1}],
                }
            },
            "skims": {
                "fatjets": {
                    "collection": "FatJet",
                    "fields": ["pt", "msoftdrop", "top_bdt.score"],
                    "event": ["event", "PFMET.pt"],
                    "cuts": ["FatJet.pt > 200"],
                    "format": "root",
                },
                "met": {"event": ["event", "PFMET.pt"], "cuts": ["PFMET.pt > 30"]},
            },
        },
        base=tmp_path,
    )
    result = run(cfg, tmp_path / "out", plots=False)
    assert not result.failed and len(result.chunks) > 1
    order = lambda p: int(p.stem.rsplit("_", 1)[1].split("-")[0])  # noqa: E731
    roots = sorted((tmp_path / "out" / "skims" / "fatjets" / "tt").glob("*.root"), key=order)
    assert len(roots) == len(result.chunks)
    skim = ak.concatenate([uproot.open(p)["Events"].arrays() for p in roots])
    events = uproot.open(source)["Events"].arrays(["event", "FatJet_pt", "PFMET_pt"])
    selected = events.FatJet_pt[events.FatJet_pt > 200]
    keep = ak.num(selected) > 0
    assert ak.to_list(skim.FatJet_pt) == ak.to_list(selected[keep])
    assert ak.to_list(skim.event) == ak.to_list(events.event[keep])
    assert ak.to_list(skim.PFMET_pt) == ak.to_list(events.PFMET_pt[keep])
    assert len(ak.flatten(skim.FatJet_top_bdt_score)) == result.hists["tt"]["score"].sum()
    met = ak.concatenate(
        [
            ak.from_parquet(p)
            for p in sorted((tmp_path / "out" / "skims" / "met" / "tt").glob("*"), key=order)
        ]
    )
    assert ak.fields(met) == ["event", "PFMET_pt"]
    assert ak.to_list(met.event) == ak.to_list(events.event[events.PFMET_pt > 30])


def _fatjet_config(tmp_path: Path, files: list[Path], **skim: Any) -> dict[str, Any]:
    return {
        "fileset": {"sample": [str(f) for f in files]},
        "schema": "nanoaod",
        "chunksize": 50,
        "plugins": ["top_bdt"],
        "skims": {
            "jets": {
                "collection": "FatJet",
                "fields": ["pt", "top_bdt.score"],
                "format": ["parquet", "root"],
                **skim,
            }
        },
    }


def test_failed_chunk_leaves_no_file(tmp_path: Path, real_data: Path) -> None:
    path = copy_fatjets(real_data / "nano_tt_v15.root", tmp_path / "corrupt.root", step=50)
    corrupt_basket(path, "FatJet_msoftdrop", 2)  # entries [100, 150)
    cfg = parse_config(_fatjet_config(tmp_path, [path]), base=tmp_path)
    outdir = tmp_path / "out"
    # a stale file of the failing chunk from an earlier run is not left behind
    stale = outdir / "skims" / "jets" / "sample" / "corrupt_100-150.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_text("stale")
    with pytest.raises(ChunksFailedError):
        run(cfg, outdir, plots=False)
    names = sorted(p.name for p in stale.parent.iterdir())
    assert names == [
        f"corrupt_{a}-{b}.{ext}"
        for a, b in ((0, 50), (150, 200), (50, 100))
        for ext in ("parquet", "root")
    ]
    prov = json.loads((outdir / "provenance.json").read_text())
    assert sorted(Path(p).name for p in prov["skims"]) == names
    assert prov["chunks_failed"][0]["entrystart"] == 100


def test_failed_write_removes_what_the_chunk_wrote(
    tmp_path: Path, real_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jetplug import skims

    def broken(array: ak.Array, path: Path) -> None:
        path.write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setitem(skims._WRITERS, "root", broken)  # type: ignore[attr-defined]
    path = copy_fatjets(real_data / "nano_dy.root", tmp_path / "dy.root")
    cfg = parse_config(_fatjet_config(tmp_path, [path]), base=tmp_path)
    result = run(cfg, tmp_path / "out", max_failures=10, plots=False)
    assert result.failed and not result.chunks
    assert "OSError: disk full" in result.failed[0]["error"]
    assert not [p for p in (tmp_path / "out" / "skims").rglob("*") if p.is_file()]


def test_file_names_unique_and_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "nano.root", tmp_path / "b" / "nano.root"
    cfg = parse_config(
        {"fileset": {"d": [str(a), str(b), str(tmp_path / "other.root")]}}, base=tmp_path
    )
    names = {chunk_stem(cfg, "d", str(p), 0, 100) for p in (a, b)}
    assert len(names) == 2 and all(n.startswith("nano-") and n.endswith("_0-100") for n in names)
    assert chunk_stem(cfg, "d", str(a), 0, 100) == chunk_stem(cfg, "d", str(a), 0, 100)
    assert chunk_stem(cfg, "d", str(tmp_path / "other.root"), 5, 9) == "other_5-9"


def test_datasets_never_share_a_skim_directory(real_data: Path, tmp_path: Path) -> None:
    """``tt/a`` and ``tt_a`` once both wrote to ``tt_a``: same-named files overwrote each other."""
    sources = {"tt/a": "nano_tt_v15.root", "tt_a": "nano_dy.root", "..": "pfnano.root"}
    fileset = {}
    for i, (name, source) in enumerate(sources.items()):
        (tmp_path / f"c{i}").mkdir()
        link = tmp_path / f"c{i}" / "nano.root"  # the same file name in every dataset
        link.symlink_to(real_data / source)
        fileset[name] = [str(link)]
    raw = {
        "fileset": fileset,
        "chunksize": 100,
        "skims": {"jets": {"collection": "FatJet", "fields": ["pt"]}},
    }
    outdir = tmp_path / "out"
    result = run(parse_config(raw, base=tmp_path), outdir, plots=False)
    written = [outdir / p for p in result.provenance["skims"]]
    assert len(set(written)) == len(written) == len(result.chunks)  # one file per chunk, kept
    assert all(p.is_file() and outdir / "skims" / "jets" in p.parents for p in written)
    assert {p.parent.name for p in written} == {"tt%2Fa", "tt_a", "%2E%2E"}


@pytest.mark.parametrize(
    ("skim", "message"),
    [
        ({"collection": "FatJet", "fields": ["pt"], "colour": 1}, r"skims.jets: unknown key"),
        ({"collection": "FatJet", "fields": ["pt"], "format": "csv"}, r"skims.jets.format: "),
        ({"collection": "FatJet", "fields": ["pt"], "format": []}, r"skims.jets.format: "),
        ({"fields": ["pt"]}, r"skims.jets.fields: needs a 'collection'"),
        ({"collection": "FatJet"}, r"skims.jets.fields: list at least one field"),
        ({"collection": "Fat.Jet", "fields": ["pt"]}, r"skims.jets.collection: "),
        ({"collection": "FatJet", "fields": ["pt", "p t"]}, r"skims.jets.fields\[1\]: "),
        ({"collection": "FatJet", "fields": ["a.b", "a_b"]}, r"skims.jets.fields: column name"),
        ({"collection": "FatJet", "fields": ["pt"], "cuts": ["pt >> 1"]}, r"skims.jets.cuts\[0\]"),
        ({"collection": "FatJet", "fields": ["pt"], "event": ["nFatJet"]}, r"skims.jets.event: "),
        ({}, r"skims.jets: needs 'collection' and 'fields', or 'event'"),
    ],
)
def test_bad_skim_config_names_the_key(tmp_path: Path, skim: dict[str, Any], message: str) -> None:
    raw = {"fileset": {"a": ["x.root"]}, "skims": {"jets": skim}}
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, base=tmp_path, source="cfg.yaml")


def test_preflight_checks_skim_fields(tmp_path: Path, real_data: Path) -> None:
    path = real_data / "nano_dy.root"
    missing = _fatjet_config(tmp_path, [path], fields=["pt", "top_bdt.scor"])
    with pytest.raises(MissingInputError, match=r"skim 'jets' needs field 'FatJet.top_bdt.scor'"):
        run(parse_config(missing, base=tmp_path))
    other = _fatjet_config(tmp_path, [path], cuts=["Jet.pt > 30"])
    with pytest.raises(ConfigError, match=r"skims.jets: 'Jet.pt' is a field of the collection Jet"):
        run(parse_config(other, base=tmp_path))
    no_coll = _fatjet_config(tmp_path, [path], collection="FatJets")
    with pytest.raises(MissingInputError, match=r"skim 'jets' needs field 'FatJets'"):
        run(parse_config(no_coll, base=tmp_path))
