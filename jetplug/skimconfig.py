"""The ``skims:`` section of a run configuration (written by :mod:`jetplug.skims`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .configkit import NAME, ConfigContext, Cut, parse_cut

__all__ = ["SKIM_FORMATS", "SkimConfig", "parse_skims"]

SKIM_FORMATS: Mapping[str, str] = {"parquet": ".parquet", "root": ".root"}
"""Skim format -> file suffix."""


@dataclass(frozen=True)
class SkimConfig:
    """Columns of one collection (and event-level fields) written per chunk after cuts.

    ``fields`` are relative to ``collection``; ``event`` fields are paths from
    the event (one value per event). Without a collection the skim has event
    fields only. See :mod:`jetplug.skims`.
    """

    name: str
    collection: str | None
    fields: tuple[str, ...] = ()
    event: tuple[str, ...] = ()
    cuts: tuple[Cut, ...] = ()
    formats: tuple[str, ...] = ("parquet",)

    def reads(self) -> list[str]:
        """Every field path (from the event) the skim reads: fields, event fields, cuts."""
        own = [f"{self.collection}.{f}" for f in self.fields]
        return [*own, *self.event, *(f for c in self.cuts for f in c.reads())]


def _field_list(ctx: ConfigContext, raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        ctx.fail(where, "expected a list of field paths")
    return tuple(ctx.field(f, f"{where}[{i}]") for i, f in enumerate(raw))


def _parse_skim(ctx: ConfigContext, name: str, raw: Any) -> SkimConfig:
    where = f"skims.{name}"
    if not NAME.match(name):
        ctx.fail(where, "a skim name is a directory name: letters, digits, '_', '-', '.'")
    raw = ctx.mapping(raw, where)
    ctx.keys(raw, where, ("collection", "fields", "event", "cuts", "format"))
    collection = raw.get("collection")
    if collection is not None and not (isinstance(collection, str) and collection.isidentifier()):
        ctx.fail(f"{where}.collection", f"{collection!r} is not a collection name like 'FatJet'")
    fields = _field_list(ctx, raw.get("fields"), f"{where}.fields")
    event = _field_list(ctx, raw.get("event"), f"{where}.event")
    if collection is None and fields:
        ctx.fail(f"{where}.fields", "needs a 'collection' (or list event-level fields in 'event')")
    if collection is not None and not fields:
        ctx.fail(f"{where}.fields", f"list at least one field of {collection}")
    if not fields and not event:
        ctx.fail(where, "needs 'collection' and 'fields', or 'event' fields")
    for key, names in (("fields", fields), ("event", event)):
        flat = [f.replace(".", "_") for f in names]
        dupes = sorted({f for f in flat if flat.count(f) > 1})
        if dupes:
            ctx.fail(f"{where}.{key}", f"column name(s) {dupes} given twice")
    if collection is not None:
        clash = {collection, f"n{collection}"} & {f.replace(".", "_") for f in event}
        if clash:
            ctx.fail(f"{where}.event", f"{sorted(clash)} clash with the collection's columns")
    cuts_raw = raw.get("cuts") or []
    if not isinstance(cuts_raw, list):
        ctx.fail(f"{where}.cuts", "expected a list of cuts like 'FatJet.pt > 300'")
    cuts = tuple(parse_cut(ctx, c, f"{where}.cuts[{i}]") for i, c in enumerate(cuts_raw))
    formats = raw.get("format", "parquet")
    formats = [formats] if isinstance(formats, str) else formats
    if (
        not isinstance(formats, list)
        or not formats
        or any(f not in SKIM_FORMATS for f in formats)
        or len(set(formats)) != len(formats)
    ):
        ctx.fail(f"{where}.format", f"{formats!r}: use one or both of {list(SKIM_FORMATS)}")
    return SkimConfig(name, collection, fields, event, cuts, tuple(formats))


def parse_skims(ctx: ConfigContext, raw: Any) -> tuple[SkimConfig, ...]:
    if raw is None:
        return ()
    return tuple(_parse_skim(ctx, str(n), s) for n, s in ctx.mapping(raw, "skims").items())
