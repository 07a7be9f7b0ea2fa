"""Shared fixtures: real CMS files, a fresh plugin host, small generated samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jetplug import PluginHost

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
