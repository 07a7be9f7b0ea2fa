"""The config-driven coffea processor: run plugins on each chunk, fill histograms.

The processor holds only plain configuration, so it pickles cheaply to
futures and Dask workers. The plugin chain (plugin host, models, backends) is
built lazily, once per worker process, keyed by the configuration hash.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import awkward as ak
from coffea import processor

from jetplug.chain import PluginChain, PluginRunError, chain_for
from jetplug.config import RunConfig
from jetplug.histograms import book, fill
from jetplug.skims import write_skims

__all__ = ["PluginProcessor"]


class PluginProcessor(processor.ProcessorABC):  # type: ignore[misc]
    """Runs a :class:`~jetplug.config.RunConfig`'s plugins and histograms on each chunk.

    The output accumulator is a dict::

        {"hists": {dataset: {name: hist.Hist}},
         "chunks": [{dataset, file, entrystart, entrystop, events, filled: {...}, skims: [...]}],
         "failed": [{dataset, file, entrystart, entrystop, plugin, error, traceback}]}

    A chunk that fails is recorded in ``failed`` (never silently dropped);
    the caller decides whether that fails the run. With ``outdir``, the
    config's skims are written under ``<outdir>/skims`` (:mod:`jetplug.skims`).
    """

    def __init__(self, config: RunConfig, outdir: Path | None = None) -> None:
        self.config = config
        self.outdir = outdir
        self._key = config.hash()

    @property
    def chain(self) -> PluginChain:
        """This worker process's plugin chain."""
        return chain_for(self.config.plugins, self._key)

    def process(self, events: ak.Array) -> dict[str, Any]:
        """Process one chunk."""
        meta = events.metadata
        record: dict[str, Any] = {
            "dataset": meta["dataset"],
            "file": meta["filename"],
            "entrystart": int(meta["entrystart"]),
            "entrystop": int(meta["entrystop"]),
        }
        source = f"{meta['filename']} [entries {meta['entrystart']}-{meta['entrystop']})"
        try:
            self.chain.reports()  # reset counters left by a previous failed chunk
            events = self.chain.apply(events, source=source)
            hists = {h.name: book(h) for h in self.config.histograms}
            filled = {
                h.name: fill(hists[h.name], h, events, source=source)
                for h in self.config.histograms
            }
            skims = write_skims(self.config, events, record, self.outdir, source=source)
        except Exception as e:
            plugin = e.plugin if isinstance(e, PluginRunError) else None
            cause = e.error if isinstance(e, PluginRunError) else e
            failure = {
                **record,
                "plugin": plugin,
                "error": f"{type(cause).__name__}: {cause}",
                "traceback": "".join(traceback.format_exception(cause)),
            }
            return {"hists": {}, "chunks": [], "failed": [failure]}
        return {
            "hists": {record["dataset"]: hists},
            "chunks": [
                {
                    **record,
                    "events": len(events),
                    "filled": filled,
                    "skims": skims,
                    "backends": self.chain.reports(),
                }
            ],
            "failed": [],
        }

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        """Sort the chunk records so that outputs do not depend on completion order."""
        key = lambda r: (r["dataset"], r["file"], r["entrystart"])  # noqa: E731
        accumulator["chunks"] = sorted(accumulator.get("chunks", []), key=key)
        accumulator["failed"] = sorted(accumulator.get("failed", []), key=key)
        return accumulator
