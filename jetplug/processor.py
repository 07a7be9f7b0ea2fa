"""The config-driven coffea processor: run plugins on each chunk, fill histograms.

It is built on :class:`jetplug.Plugins`, the same object a user puts in their
own processor: it holds plain configuration and a picklable description of
the plugin host, so it pickles cheaply to futures and Dask workers, and each
worker process builds the models once.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
from coffea import processor

from .chain import file_read_error
from .chunk import ChunkContext
from .config import RunConfig
from .errors import error_context, is_file_read_error
from .histograms import book, fill_entries
from .host import PluginHost
from .normalisation import Normalisation, normalise
from .plugins import Plugins
from .preflight import check_event_ids
from .skims import write_skims

__all__ = ["PluginProcessor"]


class PluginProcessor(processor.ProcessorABC):  # type: ignore[misc]
    """Runs a :class:`~jetplug.config.RunConfig`'s plugins and histograms on each chunk.

    The output accumulator is a dict::

        {"hists": {dataset: {name: hist.Hist}},
         "chunks": [{dataset, file, entrystart, entrystop, events, filled, dropped_nan,
                     skims, backends, nonfinite, overflowed, ran}],
         "failed": [{dataset, file, entrystart, entrystop, plugin, error, traceback}]}

    ``filled`` and ``dropped_nan`` count, per histogram, the entries filled
    and those left out for a NaN value; ``nonfinite`` the objects with NaN or
    infinite inputs per plugin (:meth:`Plugins.nonfinite`, plugins with none
    left out), ``overflowed`` the objects whose float outputs did not fit their
    declared dtype (:meth:`Plugins.overflowed`). A chunk that fails is recorded
    in ``failed`` (never silently dropped); the caller decides whether that
    fails the run. A failure to read the chunk's columns from its file is
    recorded as a
    :class:`~jetplug.errors.FileReadError` with no plugin, whichever plugin,
    histogram or skim read the column first. With ``outdir``, the
    config's skims are written under ``<outdir>/skims`` (:mod:`jetplug.skims`).
    ``normalisation`` weighs each dataset's events (:mod:`jetplug.normalisation`);
    when the config gives ``lumi`` and it is None, it is read from the files here.
    """

    def __init__(
        self,
        config: RunConfig,
        plugins: Plugins | None = None,
        host: PluginHost | None = None,
        outdir: Path | None = None,
        normalisation: Mapping[str, Normalisation] | None = None,
    ) -> None:
        self.config = config
        self.plugins = plugins if plugins is not None else Plugins(config.plugins, host=host)
        self.outdir = outdir
        if normalisation is None and config.lumi is not None:
            normalisation = normalise(config)  # reads the files' Runs trees
        self.normalisation = dict(normalisation or {})

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
        reader = "the plugins"
        try:
            check_event_ids(record["dataset"], record["file"], set(events.fields))
            self.plugins.report()  # reset counters left by a previous failed chunk
            self.plugins.nonfinite()  # (backends', non-finite inputs' and overflowed outputs')
            self.plugins.overflowed()
            events = self.plugins(events)
            norm = self.normalisation.get(record["dataset"])
            weight = norm.event_weight(events) if norm is not None else None
            weighted = self.config.lumi is not None
            hists = {h.name: book(h, weighted=weighted) for h in self.config.histograms}
            counts = {}
            for h in self.config.histograms:
                reader = f"histogram {h.name!r}"
                counts[h.name] = fill_entries(
                    hists[h.name], h, events, source=source, event_weight=weight
                )
            reader = "the skims"
            skims = write_skims(self.config, events, record, self.outdir, source=source)
        except Exception as e:
            if is_file_read_error(e):  # a corrupt basket is the file's fault, not the reader's
                e = file_read_error(e, ChunkContext(**record), reader)
            failure = {
                **record,
                "plugin": error_context(e).get("plugin"),
                "error": f"{type(e).__name__}: {e}",
                "traceback": "".join(traceback.format_exception(e)),
            }
            return {"hists": {}, "chunks": [], "failed": [failure]}
        return {
            "hists": {record["dataset"]: hists},
            "chunks": [
                {
                    **record,
                    "events": len(events),
                    "filled": {name: c.filled for name, c in counts.items()},
                    "dropped_nan": {name: c.nan for name, c in counts.items() if c.nan},
                    "skims": skims,
                    "backends": self.plugins.report(),
                    "nonfinite": self.plugins.nonfinite(),
                    "overflowed": self.plugins.overflowed(),
                    "ran": self.plugins.fingerprint(),
                    "resolved": self.plugins.resolved(),
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
