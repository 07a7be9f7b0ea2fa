"""jetplug's preflight beside coffea's own preprocessing of the same many-file fileset.

The fileset is one dataset of ``--files`` copies of one NanoAOD file, each
with its own UUID (``jetplug.testing.copy_as_new_file``; links and plain
copies are one file to ROOT, which preflight refuses to read twice) (the
real ``nano_tt_v15.root``, 2,656 branches, or with ``--slim`` a copy holding
only the event IDs and the FatJet branches, 15 branches). Timed, each once
per round (median of ``--repeat``):

* jetplug's preflight (:func:`jetplug.preflight.preflight`) for a run of
  ``top_bdt`` with a histogram of its score: every file's entries, the
  first file's branches checked;
* coffea's ``Runner`` preprocessing (file metadata: entries and UUID of every
  file) on the iterative executor, and on the futures executor with
  ``--workers`` processes, each with an empty metadata cache;
* coffea's preprocessing as ``jetplug run`` now calls it, with preflight's
  metadata cache (it opens no file).

Ratios are to jetplug's preflight; only they are meaningful.

    python benchmarks/bench_preflight.py --files 2000 [--slim] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import awkward as ak
import uproot
from coffea import processor
from coffea.nanoevents import NanoAODSchema

from jetplug import PluginHost, Plugins
from jetplug.config import RunConfig, parse_config
from jetplug.preflight import Preflight, preflight
from jetplug.testing import copy_as_new_file

DATA = Path(
    os.environ.get("JETPLUG_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared/data")
)


_FATJET = ("pt", "eta", "phi", "mass", "msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1")


def _slim(src: Path, dst: Path) -> Path:
    """A copy of ``src``'s event IDs and the FatJet fields ``top_bdt`` reads (15 branches)."""
    ids = ["run", "luminosityBlock", "event"]
    arrays = uproot.open(src)["Events"].arrays(ids + [f"FatJet_{f}" for f in _FATJET])
    data = {
        **{k: arrays[k] for k in ids},
        "FatJet": ak.zip({f: arrays[f"FatJet_{f}"] for f in _FATJET}),
    }
    with uproot.recreate(dst) as f:
        f.mktree("Events", {k: v.type.content for k, v in data.items()}).extend(data)
    return dst


def _config(files: list[Path]) -> RunConfig:
    return parse_config(
        {
            "fileset": {"tt": [str(f) for f in files]},
            "schema": "nanoaod",
            "plugins": ["top_bdt"],
            "histograms": {
                "score": {
                    "axes": [{"field": "FatJet.top_bdt.score", "bins": 10, "start": 0, "stop": 1}]
                }
            },
        },
        base=files[0].parent,
    )


def _coffea(config: RunConfig, executor: processor.executor.ExecutorBase, cache: dict) -> int:  # type: ignore[type-arg]
    """coffea's ``Runner`` preprocessing of the fileset; the number of chunks it makes."""
    runner = processor.Runner(executor=executor, schema=NanoAODSchema, metadata_cache=cache)
    return sum(1 for _ in runner.preprocess(config.coffea_fileset(), treename=None))


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--source", type=Path, default=DATA / "nano_tt_v15.root")
    parser.add_argument("--slim", action="store_true", help="copy a 15-branch copy")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-preflight-") as tmp:
        source = Path(tmp) / "source.root"
        if args.slim:
            _slim(args.source, source)
        else:
            shutil.copyfile(args.source, source)
        branches = len(uproot.open(source)["Events"].keys())
        files = [Path(tmp) / f"f{i:05d}.root" for i in range(args.files)]
        for i, f in enumerate(files, 1):  # copies with their own UUID: links are one file
            copy_as_new_file(source, f, i)
        config = _config(files)
        plugins = Plugins(config.plugins, host=PluginHost())
        specs, derivations = plugins.chain.specs, plugins.chain.host.derivations
        checked: list[Preflight] = []
        rows: dict[str, list[float]] = {}
        contenders: dict[str, Callable[[], object]] = {
            "jetplug preflight": lambda: checked.append(preflight(config, specs, derivations)),
            "coffea preprocessing, iterative": lambda: _coffea(
                config, processor.IterativeExecutor(status=False), {}
            ),
            f"coffea preprocessing, futures ({args.workers} workers)": lambda: _coffea(
                config, processor.FuturesExecutor(workers=args.workers, status=False), {}
            ),
            "coffea preprocessing given preflight's metadata cache": lambda: _coffea(
                config, processor.IterativeExecutor(status=False), checked[-1].metadata_cache()
            ),
        }
        for _ in range(args.repeat):
            for name, fn in contenders.items():
                rows.setdefault(name, []).append(_time(fn))
        plugins.close()

    base = statistics.median(rows["jetplug preflight"])
    lines = [
        f"{args.files} files (copies, each with its own UUID, of one "
        f"{'slim copy of ' if args.slim else ''}{args.source.name}, {branches} branches), "
        f"median of {args.repeat}:",
        "",
        "| step | total (s) | per file (ms) | ratio to jetplug preflight |",
        "|---|---:|---:|---:|",
    ]
    for name, times in rows.items():
        t = statistics.median(times)
        lines.append(f"| {name} | {t:.2f} | {1e3 * t / args.files:.2f} | {t / base:.2f} |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
