"""Testing kit for plugin authors: a pytest plugin (as pytest's ``pytester``, tox's ``tox.pytest``).

jetplug registers this module under the ``pytest11`` entry point, so with
jetplug installed every test session has

Fixtures
    ``jetplug_host``
        A fresh :class:`~jetplug.PluginHost` (installed entry points loaded).
    ``nanoaod_chunk`` / ``pfnano_chunk``
        64 synthetic events (coffea NanoEvents, built in memory, seeded) in the
        NanoAOD or PFNano layout: see :mod:`jetplug.synthetic`.
    ``jetplug_file``
        ``jetplug_file("nano.root")`` -> the path of a real file (given as is,
        or found in ``--jetplug-data DIR`` / ``$JETPLUG_DATA``);
        ``jetplug_file()`` -> the first ``--jetplug-file PATH``. A file that is
        not there skips the test, with the reason.
    ``jetplug_file_chunk``
        The first entries of ``jetplug_file()`` as NanoEvents.

Functions
    :func:`run_plugin` runs one plugin (and the plugins it requires) on events
    through :class:`jetplug.Plugins` and returns its per-object outputs;
    :func:`model_inputs` gives the :class:`~jetplug.ModelInputs` a plugin's
    ``prepare`` receives; :func:`events_from_file` reads NanoEvents from a file;
    :func:`assert_same_outputs` compares two runs' outputs object by object;
    :func:`copy_as_new_file` copies a ROOT file under another UUID (a dataset of
    many files made from one, for scale tests: preflight refuses plain copies
    and hard links, which are the same file).

:class:`PluginContract`
    Tests every plugin should pass; subclass it with ``plugin = "name"``.

Options: ``--jetplug-file PATH`` (repeatable), ``--jetplug-data DIR``,
``--jetplug-triton-url HOST:PORT`` (also ``$JETPLUG_TRITON_URL``).
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import awkward as ak
import numpy as np
import pytest

from .chain import PluginChain, Step
from .checks import check_tensors
from .chunk import ChunkContext
from .columns import gather_inputs
from .harness import chain_of, events_from_file, model_inputs, outputs_of, run_plugin
from .host import PluginHost
from .plan import Plan
from .spec import Kind, ModelSpec, TargetMode
from .synthetic import synthetic_events

__all__ = [
    "PluginContract",
    "assert_same_outputs",
    "copy_as_new_file",
    "events_from_file",
    "model_inputs",
    "outputs_of",
    "run_plugin",
    "synthetic_events",
]

CHUNK_EVENTS = 64
"""Events in the ``nanoaod_chunk`` / ``pfnano_chunk`` fixtures."""


def copy_as_new_file(source: Path, target: Path, number: int) -> Path:
    """Copy ROOT file ``source`` to ``target`` with UUID ``number``: to ROOT, another file.

    The events are the same; only the UUID in the file's header changes
    (``00000000-0000-0000-0000-<number>``), which is how preflight and coffea
    tell files apart.
    """
    data = bytearray(Path(source).read_bytes())
    if data[:4] != b"root":
        msg = f"{source} is not a ROOT file"
        raise ValueError(msg)
    big = struct.unpack(">i", data[4:8])[0] >= 1_000_000  # 8-byte seeks
    offset = struct.calcsize(">4siiqqiiiBiqiH" if big else ">4siiiiiiiBiiiH")
    data[offset : offset + 16] = uuid.UUID(int=number).bytes
    Path(target).write_bytes(data)
    return Path(target)


# -- pytest plugin: options and fixtures ------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    """``--jetplug-file``, ``--jetplug-data``, ``--jetplug-triton-url``."""
    group = parser.getgroup("jetplug", "jetplug plugin testing")
    group.addoption(
        "--jetplug-file",
        action="append",
        default=[],
        metavar="PATH",
        help="real NanoAOD/PFNano file for the jetplug_file fixtures (repeatable)",
    )
    group.addoption(
        "--jetplug-data",
        default=None,
        metavar="DIR",
        help="directory where jetplug_file(name) looks (default: $JETPLUG_DATA)",
    )
    group.addoption(
        "--jetplug-triton-url",
        default=None,
        metavar="HOST:PORT",
        help="Triton server for PluginContract's local-vs-Triton test ($JETPLUG_TRITON_URL)",
    )


class FileFinder:
    """The ``jetplug_file`` fixture: real files by name or from ``--jetplug-file``."""

    def __init__(self, files: list[str], data: str | None) -> None:
        self.files = [Path(f) for f in files]
        self.data = Path(data) if data else None

    def __call__(self, name: str | Path | None = None) -> Path:
        """The path of ``name`` (or of the first ``--jetplug-file``); skips when absent."""
        if name is None:
            if not self.files:
                pytest.skip("no real file given: pass --jetplug-file PATH")
            name = self.files[0]
        candidates = [Path(name)]
        if self.data is not None:
            candidates.append(self.data / name)
        candidates += [f for f in self.files if f.name == Path(name).name]
        for path in candidates:
            if path.is_file():
                return path
        where = ", ".join(str(c) for c in candidates)
        pytest.skip(
            f"real file {str(name)!r} not found (looked at {where}); "
            "pass --jetplug-data DIR or set JETPLUG_DATA"
        )


@pytest.fixture
def jetplug_host() -> PluginHost:
    """A fresh plugin host with the installed entry points loaded."""
    return PluginHost()


@pytest.fixture(scope="session")
def nanoaod_chunk() -> ak.Array:
    """64 synthetic NanoAOD-layout events (FatJet with nConstituents, no PF candidates)."""
    return synthetic_events(CHUNK_EVENTS, seed=1, layout="nanoaod")


@pytest.fixture(scope="session")
def pfnano_chunk() -> ak.Array:
    """64 synthetic PFNano-layout events (FatJetPFCands + PFCands, no FatJet nConstituents)."""
    return synthetic_events(CHUNK_EVENTS, seed=1, layout="pfnano")


@pytest.fixture(scope="session")
def jetplug_file(request: pytest.FixtureRequest) -> FileFinder:
    """``jetplug_file(name=None) -> Path`` of a real file; skips the test when it is absent."""
    data = request.config.getoption("jetplug_data") or os.environ.get("JETPLUG_DATA")
    return FileFinder(list(request.config.getoption("jetplug_file")), data)


@pytest.fixture(scope="session")
def jetplug_file_chunk(jetplug_file: FileFinder) -> ak.Array:
    """The first 200 events of the first ``--jetplug-file``."""
    return events_from_file(jetplug_file(), entry_stop=200)


# -- the contract -----------------------------------------------------------------------------
def _columns(outputs: ak.Array) -> dict[str, np.ndarray]:
    """Per-object fields of ``outputs`` as flat numpy arrays (one row per object)."""
    return {f: ak.to_numpy(ak.flatten(outputs[f], axis=1)) for f in ak.fields(outputs)}


def assert_same_outputs(
    a: ak.Array, b: ak.Array, *, rtol: float = 0.0, atol: float = 0.0, what: str = ""
) -> None:
    """Same objects per event, same fields, equal values (floats within ``rtol``/``atol``)."""
    counts_a, counts_b = ak.to_numpy(ak.num(a, axis=1)), ak.to_numpy(ak.num(b, axis=1))
    assert np.array_equal(counts_a, counts_b), f"{what}: objects per event differ"
    assert ak.fields(a) == ak.fields(b), f"{what}: fields {ak.fields(a)} vs {ak.fields(b)}"
    for (field, x), y in zip(_columns(a).items(), _columns(b).values(), strict=True):
        if x.dtype.kind == "f" and (rtol or atol):
            np.testing.assert_allclose(y, x, rtol=rtol, atol=atol, err_msg=f"{what}: {field}")
        else:
            np.testing.assert_array_equal(y, x, err_msg=f"{what}: {field}")


class PluginContract:
    """Tests every plugin should pass. Subclass it in a test module::

        from jetplug.testing import PluginContract

        class TestMyTagger(PluginContract):
            plugin = "my_tagger"
            chunk = "nanoaod_chunk"        # fixture giving the events (default pfnano_chunk)

    Class attributes: ``plugin`` (required); ``chunk`` (the name of a fixture
    returning NanoEvents, e.g. ``jetplug_file_chunk`` or one of your own);
    ``config`` (the plugin's run-config entry: ``backend``, ``options``,
    ``backend_options``, ``collection``, ``target``, ``seed``);
    ``host_plugins`` (plugin modules/objects registered by hand, for a package
    that is not installed) and ``autoload``; ``triton_url`` (compare the local
    backend with a Triton server that serves the plugin; default
    ``--jetplug-triton-url`` / ``$JETPLUG_TRITON_URL``, skipped without);
    ``chunk_rtol`` / ``triton_rtol`` (float tolerances). Override
    :meth:`make_host` for any other host.
    """

    plugin: ClassVar[str] = ""
    chunk: ClassVar[str] = "pfnano_chunk"
    config: ClassVar[Mapping[str, Any]] = {}
    host_plugins: ClassVar[tuple[object, ...]] = ()
    autoload: ClassVar[bool] = True
    triton_url: ClassVar[str | None] = None
    chunk_rtol: ClassVar[float] = 1e-5
    triton_rtol: ClassVar[float] = 1e-4

    def make_host(self) -> PluginHost:
        """A fresh host for one run (``autoload`` entry points plus ``host_plugins``)."""
        return PluginHost(autoload=self.autoload, plugins=self.host_plugins)

    @pytest.fixture
    def contract_events(self, request: pytest.FixtureRequest) -> ak.Array:
        """The events of fixture ``chunk``."""
        if not self.plugin:
            pytest.fail(f"{type(self).__name__}: set the class attribute plugin = '<name>'")
        events: ak.Array = request.getfixturevalue(self.chunk)
        return events

    def run(
        self, events: ak.Array, chunk: ChunkContext | None = None, **config: Any
    ) -> tuple[ak.Array, ak.Array, ModelSpec]:
        """``(events before, events after, spec as run)`` for one run on a fresh host."""
        chain = chain_of(self.make_host(), self.plugin, {**self.config, **config})
        ctx = ChunkContext.of(events, chunk)
        steps = chain.steps
        index = next(i for i, s in enumerate(steps) if s.spec.name == self.plugin)
        for step in steps[:index]:
            events = step.run(events, chain.host, ctx)
        return events, steps[index].run(events, chain.host, ctx), steps[index].spec

    def outputs(
        self, events: ak.Array, chunk: ChunkContext | None = None, **config: Any
    ) -> ak.Array:
        """The plugin's per-object outputs on ``events`` (:func:`outputs_of`)."""
        _, after, spec = self.run(events, chunk, **config)
        return outputs_of(after, spec)

    def _step(self) -> tuple[PluginChain, Step, int]:
        chain = chain_of(self.make_host(), self.plugin, self.config)
        index = next(i for i, s in enumerate(chain.steps) if s.spec.name == self.plugin)
        return chain, chain.steps[index], index

    # -- the tests ----------------------------------------------------------------------------
    def test_spec_validates(self) -> None:
        """The spec builds (lazy specs included) and validates; the artifact matches its sha256."""
        if not self.plugin:
            pytest.fail(f"{type(self).__name__}: set the class attribute plugin = '<name>'")
        host = self.make_host()
        spec = host.spec(self.plugin)
        spec.validate()
        assert spec.name == self.plugin
        assert isinstance(spec.kind, Kind)
        spec.artifact.verify()
        host.create_model(self.plugin, dict(self.config.get("options", {})))

    def test_tensors_match_spec(self, contract_events: ak.Array) -> None:
        """prepare -> tensors_in, backend -> tensors_out, finalize -> outputs.

        Names, dtypes and shapes, with one row per object (:func:`jetplug.checks.check_tensors`).
        """
        chain, step, index = self._step()
        events, ctx = contract_events, ChunkContext.of(contract_events)
        for before in chain.steps[:index]:
            events = before.run(events, chain.host, ctx)
        spec = step.spec
        inputs, counts = gather_inputs(
            events, spec, chain.host.derivations, chunk=ctx, seed=step.config.seed
        )
        n = int(counts.sum())
        assert n > 0, f"chunk {self.chunk!r} has no {spec.inputs.collection} objects to test on"
        prepared = step.model.prepare(inputs)
        check_tensors(spec.name, "prepare() returned", prepared, spec.tensors_in, n)
        outputs = step.backend.infer(spec, prepared)
        check_tensors(spec.name, "the backend returned", outputs, spec.tensors_out, n)
        columns = step.model.finalize(outputs, inputs, prepared)
        check_tensors(spec.name, "finalize() returned", columns, spec.outputs, n)

    def test_outputs_finite_and_valid(self, contract_events: ak.Array) -> None:
        """No NaN/inf; a tagger's labelled outputs are probabilities (in [0, 1], summing to 1,
        except for a binary tagger, ``signal_truth`` set, whose labelled vector, e.g. a λ
        scan of its score, is not one of classes: its entries only need to lie in [0, 1])."""
        _, after, spec = self.run(contract_events)
        columns = _columns(outputs_of(after, spec))
        assert any(len(v) for v in columns.values()), "the plugin produced no objects"
        for name, values in columns.items():
            if values.dtype.kind == "f":
                bad = int((~np.isfinite(values)).sum())
                assert bad == 0, f"output {name!r}: {bad} of {values.size} values are NaN or inf"
        if spec.kind is not Kind.TAGGER:
            return
        for out in spec.outputs:
            if not out.labels or out.name not in columns:
                continue
            p = columns[out.name]
            outside = int(((p < -1e-6) | (p > 1 + 1e-6)).sum())
            assert outside == 0, (
                f"output {out.name!r} {out.labels}: {outside} probabilities outside [0, 1] "
                f"(min {p.min()}, max {p.max()})"
            )
            model = self.make_host().models.get(spec.name)
            if model.signal_truth is not None and model.truth_classes is None:
                continue  # a binary tagger: the vector is not one of class probabilities
            np.testing.assert_allclose(
                p.sum(axis=1), 1.0, atol=1e-4, err_msg=f"output {out.name!r}: rows do not sum to 1"
            )

    def test_deterministic(self, contract_events: ak.Array) -> None:
        """Two runs (each with a fresh host and model) give equal outputs."""
        first = self.outputs(contract_events)
        second = self.outputs(contract_events)
        assert_same_outputs(first, second, what="two runs")

    def test_multiplicity(self, contract_events: ak.Array) -> None:
        """add/replace keep the objects; create never has more objects than its input."""
        before, after, spec = self.run(contract_events)
        plan = Plan(spec)
        source = ak.to_numpy(ak.num(before[plan.collection], axis=1))
        made = ak.to_numpy(ak.num(after[plan.target], axis=1))
        if plan.mode is not TargetMode.CREATE:
            assert np.array_equal(made, source), f"{plan.target} objects per event changed"
            for field, values in _columns(outputs_of(after, spec)).items():
                assert len(values) == source.sum(), f"output {field!r}: {len(values)} rows"
            return
        grew = np.flatnonzero(made > source)
        assert not len(grew), (
            f"{plan.target} has more objects than {plan.collection} in events {grew[:10].tolist()}"
        )
        if spec.target.keep is None:
            assert np.array_equal(made, source), "without 'keep' every input object is kept"
        idx = after[plan.target].sourceIdx
        assert ak.all((idx >= 0) & (idx < ak.num(before[plan.collection], axis=1))), (
            "sourceIdx points outside the input collection"
        )

    def test_random_numbers_independent_of_chunking(self, contract_events: ak.Array) -> None:
        """The chunk split in two (ChunkContext entry ranges) gives the whole chunk's outputs."""
        events = contract_events
        ctx = ChunkContext.of(events)
        n = len(events)
        assert n >= 2, "the chunk needs two events to be split"
        whole = self.outputs(events, ctx)
        parts = []
        for a, b in ((0, n // 3), (n // 3, n)):
            part_ctx = replace(ctx, entrystart=ctx.entrystart + a, entrystop=ctx.entrystart + b)
            parts.append(self.outputs(events[a:b], part_ctx))
        assert_same_outputs(
            whole,
            ak.concatenate(parts),
            rtol=self.chunk_rtol,
            atol=self.chunk_rtol,
            what="one chunk vs the same events in two chunks",
        )

    def test_local_matches_triton(self, request: pytest.FixtureRequest) -> None:
        """The Triton backend gives the local backend's outputs (skipped without a server)."""
        url = (
            self.triton_url
            or request.config.getoption("jetplug_triton_url", None)
            or os.environ.get("JETPLUG_TRITON_URL")
        )
        if not url:
            pytest.skip("no Triton server (triton_url, --jetplug-triton-url, JETPLUG_TRITON_URL)")
        events = request.getfixturevalue("contract_events")
        local = self.outputs(events)
        options = {**self.config.get("backend_options", {}), "url": url}
        remote = self.outputs(events, backend="triton", backend_options=options)
        assert_same_outputs(
            local, remote, rtol=self.triton_rtol, atol=self.triton_rtol, what="local vs Triton"
        )
