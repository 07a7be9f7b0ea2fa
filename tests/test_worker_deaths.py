"""A worker process dying on the futures executor loses only its chunk (issue 12, item 5).

A test plugin kills its worker process (SIGKILL, ``os._exit``) on one chunk,
as an out-of-memory kill or a segfault in a model would. The run keeps every
other chunk's histograms and names the chunk in provenance: recovered when a
rerun succeeds, failed ("worker died") when it dies every time.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from coffea.util import load

from jetplug import ModelInputs, ModelRegistry, PluginHost, hookimpl
from jetplug.config import RunConfig, parse_config
from jetplug.errors import ChunksFailedError
from jetplug.runner import RunResult, run

BAD_START, BAD_STOP = 40, 80  # the chunk whose worker dies (chunksize 40)


def _host(*, how: str, once: Path | None = None) -> PluginHost:
    """A host with ``killer``: top_bdt, whose worker dies on the bad chunk.

    ``how``: ``"sigkill"`` or ``"exit"``; with ``once``, only the first time
    (a marker file). In the test process itself (the iterative reference) the
    bad chunk raises an ordinary exception instead, unless ``once`` is given.
    """
    host = PluginHost()
    base = host.model_class("top_bdt")
    main_pid = os.getpid()

    class Killer(base):  # type: ignore[misc,valid-type]
        spec = dataclasses.replace(base.spec, name="killer")

        def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
            chunk = inputs.chunk
            if chunk is not None and chunk.entrystart == BAD_START:
                if os.getpid() == main_pid:
                    if once is None:
                        raise RuntimeError("the bad chunk")
                elif once is None or not once.exists():
                    if once is not None:
                        once.touch()
                    if how == "sigkill":
                        os.kill(os.getpid(), signal.SIGKILL)
                    os._exit(1)
            return dict(super().prepare(inputs))

    class Extra:
        @hookimpl
        def jetplug_register_models(self, registry: ModelRegistry) -> None:
            registry.add(Killer)

    host.register(Extra())
    return host


def _config(real_data: Path, base: Path) -> RunConfig:
    raw = {
        "fileset": {"tt": [str(real_data / "nano_tt_v15.root")]},
        "schema": "nanoaod",
        "chunksize": 40,
        "plugins": ["killer"],
        "histograms": {
            "score": {
                "weight": "genWeight",
                "axes": [{"field": "FatJet.killer.score", "bins": 20, "start": 0, "stop": 1}],
            },
            "pt": {"axes": [{"field": "FatJet.pt", "bins": 30, "start": 0, "stop": 1500}]},
        },
    }
    return parse_config(raw, base=base)


def _assert_same(hists: dict[str, object], reference: RunResult) -> None:
    for name, h in reference.hists["tt"].items():
        np.testing.assert_array_equal(
            hists[name].view(flow=True),  # type: ignore[attr-defined]
            h.view(flow=True),
        )


@pytest.mark.slow
def test_chunk_killing_its_worker_is_recorded_and_the_rest_kept(
    real_data: Path, tmp_path: Path
) -> None:
    cfg = _config(real_data, tmp_path)
    # reference: the same chunk fails (an exception) on the iterative executor
    reference = run(cfg, executor="iterative", max_failures=1, host=_host(how="sigkill"))
    assert [f["entrystart"] for f in reference.failed] == [BAD_START]
    assert reference.events == 160

    outdir = tmp_path / "out"
    with pytest.raises(ChunksFailedError) as info:
        run(
            cfg,
            outdir,
            executor="futures",
            workers=2,
            worker_retries=0,
            plots=False,
            host=_host(how="sigkill"),
        )
    message = str(info.value)
    assert "1 of 5 chunks failed" in message
    assert f"dataset 'tt', file {real_data / 'nano_tt_v15.root'}" in message
    assert f"entries [{BAD_START}, {BAD_STOP})" in message
    assert "worker died" in message

    # every other chunk was kept: the histograms equal the run without the bad chunk
    _assert_same(load(str(outdir / "histograms.coffea"))["tt"], reference)
    prov = json.loads((outdir / "provenance.json").read_text())
    assert prov["complete"] is False
    assert prov["events_processed"] == 160
    assert len(prov["chunks_processed"]) == 4
    (failed,) = prov["chunks_failed"]
    assert (failed["dataset"], failed["entrystart"], failed["entrystop"]) == (
        "tt",
        BAD_START,
        BAD_STOP,
    )
    assert failed["file"].endswith("nano_tt_v15.root")
    assert failed["error"].startswith("worker died (exit code SIGKILL(-9))")
    chunks = [d for d in prov["worker_deaths"] if "outcome" in d]
    bad = [d for d in chunks if d["entrystart"] == BAD_START]
    assert bad == [
        {
            "dataset": "tt",
            "file": failed["file"],
            "entrystart": BAD_START,
            "entrystop": BAD_STOP,
            "lost": 2,
            "killed_worker": 1,
            "outcome": "failed",
        }
    ]
    # a chunk lost with the pool while running beside the bad one was rerun
    assert all(d["outcome"] == "recovered" for d in chunks if d is not bad[0])
    assert any("pool_broke" in d for d in prov["worker_deaths"])


@pytest.mark.slow
def test_chunk_whose_worker_died_once_is_recovered(real_data: Path, tmp_path: Path) -> None:
    cfg = _config(real_data, tmp_path)
    once = tmp_path / "died-once"
    reference = run(cfg, executor="iterative", host=_host(how="exit", once=once))
    assert reference.events == 200 and not once.exists()

    result = run(cfg, executor="futures", workers=2, host=_host(how="exit", once=once))
    assert once.exists()  # a worker did die
    assert not result.failed and result.events == 200
    _assert_same(result.hists["tt"], reference)
    (bad,) = [d for d in result.provenance["worker_deaths"] if d.get("entrystart") == BAD_START]
    assert bad["outcome"] == "recovered" and bad["killed_worker"] == 0 and bad["lost"] == 1
    assert result.provenance["complete"] is True


# -- the executor on its own, with plain functions (fast) ---------------------------------------
def _dies_on(bad: set[int]) -> object:
    """A function (pickled by value) that kills its worker process on the items in ``bad``."""
    main_pid = os.getpid()

    def work(item: int) -> dict[str, set[int]]:
        if item in bad and os.getpid() != main_pid:
            os.kill(os.getpid(), signal.SIGKILL)
        return {"done": {item}}

    return work


def test_executor_keeps_the_others_and_hands_over_the_lost_chunk() -> None:
    from jetplug.workers import ResilientFuturesExecutor

    lost: list[tuple[int, str]] = []

    def on_lost(item: int, reason: str) -> dict[str, set[int]]:
        lost.append((item, reason))
        return {"lost": {item}}

    exe = ResilientFuturesExecutor(workers=2, status=False, worker_retries=1, on_lost=on_lost)
    out, code = exe(list(range(6)), _dies_on({2}), None)
    assert code == 0
    assert out == {"done": {0, 1, 3, 4, 5}, "lost": {2}}
    ((item, reason),) = lost
    assert item == 2
    assert reason.startswith("worker died (exit code SIGKILL(-9)) each of the 2 times it ran")
    (record,) = [d for d in exe.deaths if d.get("outcome") == "failed"]
    assert record["killed_worker"] == 2 and record["lost"] == 3


def test_executor_stops_when_workers_die_on_every_chunk() -> None:
    from jetplug.workers import ResilientFuturesExecutor

    exe = ResilientFuturesExecutor(
        workers=2, status=False, worker_retries=0, on_lost=lambda item, reason: None
    )
    with pytest.raises(RuntimeError, match=r"worker processes die on every chunk: 3 chunks"):
        exe(list(range(20)), _dies_on(set(range(20))), None)


def _growing(item: int) -> dict[str, list[int]]:
    """Keep 400 MB more per chunk, as a worker's heap grows with its largest chunk."""
    import time

    held = globals().setdefault("_held", [])
    if item:  # loky measures a worker's reference size after its first chunk
        held.append(np.ones(50_000_000))  # 400 MB, touched
        time.sleep(1.1)  # loky looks at most once a second
    return {"pids": [os.getpid()]}


@pytest.mark.parametrize(("growth", "workers_used"), [(None, 1), (300_000_000, 2)])
def test_a_growing_worker_is_kept(
    growth: int | None, workers_used: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that grows past loky's 300 MB is kept, so imports and models stay once per worker."""
    from jetplug.workers import LOKY_GROWTH, ResilientFuturesExecutor

    monkeypatch.delenv(LOKY_GROWTH, raising=False)
    exe = ResilientFuturesExecutor(workers=1, status=False)
    if growth is not None:  # loky's own limit: the worker is replaced after its second chunk
        exe.max_memory_growth = growth
    out, _ = exe([0, 1, 2], _growing, None)
    assert len(set(out["pids"])) == workers_used
