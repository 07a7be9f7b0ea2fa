"""Shared fixtures: real CMS files, a fresh plugin host, small generated samples."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from jetplug import PluginHost

if TYPE_CHECKING:
    from jetplug.triton import TritonServer

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("JETPLUG_SHARED_DATA", REPO.parent / "shared" / "data"))
REAL_FILES = ("pfnano.root", "nano_tt_v15.root", "nano_dy.root", "nano_dy_empty.root")


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Directory holding the real CMS NanoAOD/PFNano files."""
    missing = [f for f in REAL_FILES if not (SHARED_DATA / f).is_file()]
    if missing:
        pytest.fail(
            f"real CMS files {missing} not found in {SHARED_DATA} (set JETPLUG_SHARED_DATA)"
        )
    return SHARED_DATA


@pytest.fixture
def host() -> PluginHost:
    """A fresh plugin host with entry points loaded."""
    return PluginHost()


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Small generated ttbar and QCD samples (PFNano layout), made once per session."""
    from jetplug.generation import generate

    base = tmp_path_factory.mktemp("generated")
    return {
        name: [
            Path(p)
            for p in generate(
                name,
                120,
                base / name,
                seed=seed,
                pt_hat_min=450,
                pt_hat_max=900,
                workers=1,
                progress=False,
            )
        ]
        for name, seed in (("ttbar", 11), ("qcd", 12))
    }


@pytest.fixture(scope="session")
def servable() -> list[str]:
    """The plugins whose artifacts Triton serves."""
    from jetplug.triton.repository import SERVABLE_FORMATS

    host = PluginHost()
    return [n for n in host.models.names() if host.spec(n).artifact.format in SERVABLE_FORMATS]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, servable: list[str]) -> Iterator[TritonServer]:
    """One real tritonserver serving every servable plugin, for the whole session."""
    from jetplug.triton import ExportSettings, TritonServer, export_repository

    repo = tmp_path_factory.mktemp("model_repository")
    export_repository(PluginHost(), servable, repo, ExportSettings(max_batch_size=4096))
    srv = TritonServer(repo, log_path=tmp_path_factory.mktemp("triton") / "server.log")
    srv.start()
    yield srv
    assert srv.stop() == 0
