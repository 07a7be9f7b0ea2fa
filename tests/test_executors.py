"""iterative, futures and Dask (a real LocalCluster on 127.0.0.1) give identical histograms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import uproot
from coffea.util import load

from jetplug.config import parse_config
from jetplug.runner import run


def _config(files: dict[str, list[Path]], base: Path, schema: str) -> dict[str, object]:
    return {
        "fileset": {d: [str(f) for f in fs] for d, fs in files.items()},
        "schema": schema,
        "chunksize": 40,
        "plugins": ["top_bdt"],
        "histograms": {
            "score": {
                "weight": "genWeight",
                "axes": [
                    {"field": "FatJet.top_bdt.score", "bins": 40, "start": 0, "stop": 1},
                    {"field": "FatJet.msoftdrop", "bins": 20, "start": 0, "stop": 400},
                ],
            },
            "pt": {
                "axes": [{"field": "FatJet.pt", "bins": 30, "start": 0, "stop": 1500}],
                "cuts": ["FatJet.top_bdt.score > 0.5"],
            },
        },
        "plots": [{"type": "hist1d", "hist": "pt"}],
    }


@pytest.fixture(scope="module")
def runs(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    files = {
        "tt": [real_data / "nano_tt_v15.root"],
        "dy": [real_data / "nano_dy.root", real_data / "nano_dy_empty.root"],
    }
    base = tmp_path_factory.mktemp("executors")
    cfg = parse_config(_config(files, base, "nanoaod"), base=base)
    out = {}
    for executor in ("iterative", "futures", "dask"):
        out[executor] = base / executor
        run(cfg, out[executor], executor=executor, workers=2)
    return out


@pytest.mark.dask
@pytest.mark.slow
def test_histograms_identical_across_executors(runs: dict[str, Path]) -> None:
    ref = load(str(runs["iterative"] / "histograms.coffea"))
    assert ref["tt"]["score"].sum().value > 0
    for executor in ("futures", "dask"):
        other = load(str(runs[executor] / "histograms.coffea"))
        assert other.keys() == ref.keys()
        for dataset, hs in ref.items():
            for name, h in hs.items():
                np.testing.assert_array_equal(
                    other[dataset][name].view(flow=True), h.view(flow=True)
                )


@pytest.mark.dask
@pytest.mark.slow
def test_provenance_and_root_output(runs: dict[str, Path]) -> None:
    for executor, outdir in runs.items():
        prov = json.loads((outdir / "provenance.json").read_text())
        assert prov["executor"]["name"] == executor
        assert prov["complete"] is True
        assert prov["events_processed"] == 240
        ranges = [
            (c["file"].rsplit("/", 1)[-1], c["entrystart"], c["entrystop"])
            for c in prov["chunks_processed"]
        ]
        assert ("nano_tt_v15.root", 0, 40) in ranges
        assert sum(stop - start for _, start, stop in ranges) == 240
        (bdt,) = prov["plugins"]
        assert bdt["name"] == "top_bdt"
        assert len(bdt["artifact"]["sha256"]) == 64
        assert bdt["backend"]["backend"] == "xgboost"
        assert prov["packages"]["coffea"]
        with uproot.open(outdir / "histograms.root") as f:
            h = f["tt/score"].to_hist()
            assert h.sum().value == pytest.approx(
                load(str(outdir / "histograms.coffea"))["tt"]["score"].sum().value
            )
        assert (outdir / "plots").is_dir()


@pytest.mark.dask
@pytest.mark.slow
def test_existing_scheduler_address(real_data: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    cfg = parse_config(
        _config({"tt": [real_data / "nano_tt_v15.root"]}, tmp_path, "nanoaod"), base=tmp_path
    )
    with LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        result = run(cfg, tmp_path / "out", executor="dask", scheduler=cluster.scheduler_address)
    assert result.provenance["executor"]["scheduler"] == cluster.scheduler_address
    assert result.events == 200
    reference = run(cfg)
    np.testing.assert_array_equal(
        result.hists["tt"]["score"].view(flow=True), reference.hists["tt"]["score"].view(flow=True)
    )


def test_toml_configuration(real_data: Path, tmp_path: Path) -> None:
    from jetplug.config import load_config

    path = tmp_path / "run.toml"
    path.write_text(
        f"""
schema = "nanoaod"
chunksize = 100
plugins = ["top_bdt"]

[fileset]
dy = ["{real_data / "nano_dy.root"}"]

[histograms.pt]
weight = "genWeight"
axes = [{{field = "FatJet.pt", bins = 10, start = 0, stop = 1000}}]
"""
    )
    cfg = load_config(path)
    assert cfg.chunksize == 100 and cfg.histograms[0].weight == "genWeight"
    assert run(cfg).events == 40


@pytest.mark.dask
@pytest.mark.slow
def test_local_cluster_leaves_malloc_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask's MALLOC_TRIM_THRESHOLD_ costs ~50 % per chunk (docs/benchmarks.md): not set."""
    import os

    import dask
    import distributed  # noqa: F401  (loads dask's distributed config)

    from jetplug.runner import MALLOC_TRIM, SPAWN_ENVIRON, local_cluster

    monkeypatch.delenv(MALLOC_TRIM, raising=False)
    # the nanny writes its spawn environment into this process's: restored afterwards
    monkeypatch.setattr(os, "environ", os.environ.copy())
    assert MALLOC_TRIM in dask.config.get(SPAWN_ENVIRON)  # dask's default, which jetplug drops
    with local_cluster(1) as client:  # what `jetplug run -e dask` and `jetplug tune` start
        environ = client.run(
            lambda: {k: os.environ.get(k) for k in (MALLOC_TRIM, "OMP_NUM_THREADS")}
        )
    assert [e[MALLOC_TRIM] for e in environ.values()] == [None]
    assert [e["OMP_NUM_THREADS"] for e in environ.values()] == ["1"]  # thread caps kept
    assert MALLOC_TRIM not in os.environ  # nor left in this process for later workers


@pytest.mark.slow
def test_driver_of_futures_run_leaves_torch_to_workers(real_data: Path, tmp_path: Path) -> None:
    """The driver describes a torch plugin without importing torch (1.2 s a run), and
    provenance records the device the workers resolved ``auto`` to."""
    import subprocess
    import sys

    raw = _config({"tt": [real_data / "nano_tt_v15.root"]}, tmp_path, "nanoaod")
    raw["plugins"] = ["top_mlp"]
    raw["histograms"] = {
        "score": {"axes": [{"field": "FatJet.top_mlp.score", "bins": 10, "start": 0, "stop": 1}]}
    }
    raw.pop("plots")
    (tmp_path / "run.json").write_text(json.dumps(raw))
    code = (
        "import sys, json; from pathlib import Path; from jetplug.config import load_config; "
        "from jetplug.runner import run; "
        f"r = run(load_config(Path({str(tmp_path / 'run.json')!r})), executor='futures', "
        "workers=2); "
        "print(json.dumps({'torch': 'torch' in sys.modules, "
        "'backend': r.provenance['plugins'][0]['backend']}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["torch"] is False
    import torch

    from jetplug.backends.torch import resolve_device

    assert seen["backend"]["device"] == resolve_device("auto")  # the workers', not "auto"
    assert seen["backend"]["torch"] == torch.__version__
