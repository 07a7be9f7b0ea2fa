"""The user processor of docs/processor.md, run as written, equals ``jetplug run``."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from coffea import processor

from jetplug.config import parse_config
from jetplug.runner import run

from .conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.dask]


def _docs_module() -> types.ModuleType:
    text = (REPO / "docs" / "processor.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    code = next(b for b in blocks if "class TopTagProcessor" in b)
    module = types.ModuleType("docs_user_processor")  # not importable: pickled by value
    exec(compile(code, "docs/processor.md", "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def fileset(real_data: Path) -> dict[str, list[Path]]:
    return {
        "tt": [real_data / "nano_tt_v15.root"],
        "dy": [real_data / "nano_dy.root", real_data / "nano_dy_empty.root"],
    }


@pytest.fixture(scope="module")
def reference(fileset: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> Any:
    raw = {
        "fileset": {d: [str(f) for f in fs] for d, fs in fileset.items()},
        "schema": "nanoaod",
        "chunksize": 50,
        "plugins": ["top_bdt"],
        "histograms": {
            "score": {
                "weight": "genWeight",
                "cuts": ["FatJet.pt > 300"],
                "axes": [
                    {"field": "FatJet.top_bdt.score", "bins": 40, "start": 0, "stop": 1},
                    {"field": "FatJet.msoftdrop", "bins": 20, "start": 0, "stop": 400},
                ],
            }
        },
    }
    base = tmp_path_factory.mktemp("user_processor")
    return run(parse_config(raw, base=base), None, executor="iterative").hists


@pytest.fixture(scope="module", params=["iterative", "futures", "dask"])
def executor(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "iterative":
        yield processor.IterativeExecutor()
    elif request.param == "futures":
        yield processor.FuturesExecutor(workers=2)
    else:
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            yield processor.DaskExecutor(client=client, status=False)


def test_docs_processor_equals_jetplug_run(
    executor: Any, fileset: dict[str, list[Path]], reference: Any
) -> None:
    module = _docs_module()
    coffea_fileset = {d: {"files": [str(f) for f in fs]} for d, fs in fileset.items()}
    out, provenance = module.analyse(coffea_fileset, executor)
    assert [p["name"] for p in provenance] == ["top_bdt"]
    assert provenance[0]["artifact"]["sha256"]
    for dataset in ("tt", "dy"):
        ours = reference[dataset]["score"]
        theirs = out[dataset]["score"]
        np.testing.assert_allclose(theirs.values(flow=True), ours.values(flow=True), rtol=1e-6)
        np.testing.assert_allclose(
            theirs.variances(flow=True), ours.variances(flow=True), rtol=1e-6
        )
    assert reference["tt"]["score"].sum().value > 0
