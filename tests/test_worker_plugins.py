"""A Dask worker whose environment lacks a plugin's package is named, with the install line.

A real LocalCluster on 127.0.0.1 whose worker blocks the plugin's entry point
(``JETPLUG_BLOCK_PLUGINS`` in the worker's environment only), as a worker
without the package installed would lack it; ``jetplug run -e dask
--scheduler`` on it.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jetplug.cli import main
from jetplug.errors import PluginMissingOnWorkerError
from jetplug.plugins import Plugins

pytestmark = [pytest.mark.dask, pytest.mark.slow]


def test_a_worker_lacking_the_plugins_package_is_named(real_data: Path, tmp_path: Path) -> None:
    """Regression: chunks failed with "unknown plugin 'top_bdt'", naming neither the worker
    nor the package to install there; then every chunk failed, one by one, where the run
    can be refused before it starts."""
    from distributed import Client, LocalCluster

    config = tmp_path / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "fileset": {"tt": [str(real_data / "nano_tt_v15.root")]},
                "schema": "nanoaod",
                "chunksize": 100,
                "plugins": ["top_bdt"],
            }
        )
    )
    version = importlib.metadata.version("jetplug-taggers")
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            env={"JETPLUG_BLOCK_PLUGINS": "taggers"},  # the worker's environment only
        ) as cluster,
        Client(cluster) as client,
    ):
        (worker,) = client.scheduler_info()["workers"]
        result = CliRunner().invoke(
            main,
            [
                "run",
                str(config),
                "-o",
                str(tmp_path / "out"),
                "-e",
                "dask",
                "--scheduler",
                cluster.scheduler_address,
            ],
        )
        # a chunk that still reaches such a worker (one that joined after the check) names it
        with pytest.raises(PluginMissingOnWorkerError) as chunk_error:
            client.submit(_chain_names, Plugins(["top_bdt"]), pure=False).result()
    assert result.exit_code == 2, result.output  # refused before any chunk ran
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(
        "error: 1 of 1 Dask worker(s) cannot run this config's plugins, checked before any "
        f"chunk: worker {worker} lacks plugin 'top_bdt'"
    ), line
    for text in (line, str(chunk_error.value)):
        for part in (
            f"worker {worker}",
            "plugin 'top_bdt'",
            "jetplug-taggers",
            "entry point 'taggers'",
            "JETPLUG_BLOCK_PLUGINS",
            f"pip install 'jetplug-taggers=={version}'",
        ):
            assert part in text, (part, text)
    assert not (tmp_path / "out" / "provenance.json").exists()  # nothing ran, nothing written


def _chain_names(plugins: Plugins) -> list[str]:
    return plugins.names
