"""``jetplug check PLUGIN [FILE]``: preflight, then one chunk through the plugin, summarised.

Without FILE the chunk is synthetic (:mod:`jetplug.synthetic`, written to a
temporary ROOT file so that preflight reads it as it reads real files). The
plugins PLUGIN requires run first. Each stage (gather, prepare, inference,
finalize, attach) is reported with what it produced; a failure is one line
naming the plugin and the stage (exit status 2), and so are NaN or infinite
outputs for objects whose inputs were finite.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import click
import numpy as np
import yaml

from ..chain import Step
from ..chunk import ChunkContext
from ..config import parse_config
from ..errors import FileReadError, JetplugError, annotate, error_context, is_file_read_error
from ..harness import events_from_file, outputs_of, plugins_for
from ..host import PluginHost
from ..plan import Plan
from ..preflight import check_files
from ..spec import TargetMode
from ..synthetic import write_synthetic


def _pairs(values: Sequence[str], flag: str) -> dict[str, Any]:
    """``("k=v", ...)`` -> ``{k: v}``, each value read as YAML (``0.3``, ``true``, ``[1, 2]``)."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            msg = f"expected KEY=VALUE, got {item!r}"
            raise click.BadParameter(msg, param_hint=flag)
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def _summary(values: np.ndarray) -> dict[str, Any]:
    flat = values.reshape(-1).astype(np.float64) if values.size else np.zeros(0)
    finite = flat[np.isfinite(flat)]
    return {
        "count": len(values),
        "shape": list(values.shape[1:]),
        "mean": float(finite.mean()) if len(finite) else None,
        "min": float(finite.min()) if len(finite) else None,
        "max": float(finite.max()) if len(finite) else None,
        "nan": int(np.isnan(flat).sum()),
        "inf": int(np.isinf(flat).sum()),
    }


def _nonfinite_objects(out: ak.Array, fields: Sequence[str]) -> int:
    """Objects with a NaN or infinite value in any float output."""
    bad: np.ndarray | None = None
    for f in fields:
        values = ak.to_numpy(ak.flatten(out[f], axis=1))
        if values.dtype.kind != "f":
            continue
        row = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        bad = row if bad is None else bad | row
    return int(bad.sum()) if bad is not None else 0


def _run_step(step: Step, host: PluginHost, events: ak.Array, report: dict[str, Any]) -> ak.Array:
    """Run the step, recording what each stage produced.

    An error keeps its type if it is a :class:`JetplugError`; any other
    becomes one line naming the plugin and the stage (the note says where).
    """
    spec, name = step.spec, step.spec.name
    stages: dict[str, Any] = {}
    report["stages"] = stages
    seen: dict[str, Any] = {}

    def record(stage: str, value: Any) -> None:
        seen[stage] = value
        if stage == "gather":
            n = int(value[1].sum())
            stages["gather"] = f"{n} {spec.inputs.collection} objects in {len(events)} events"
        elif stage in ("prepare", "infer"):
            key = stage if stage == "prepare" else f"infer ({step.backend.name})"
            stages[key] = {k: f"{v.dtype} {v.shape}" for k, v in value.items()}
        elif stage == "nonfinite":
            bad = np.logical_or.reduce(list(value.values()))
            per_input = ", ".join(f"{k}: {int(m.sum())}" for k, m in value.items())
            policy = spec.inputs.nonfinite.value
            stages["NaN/inf inputs"] = f"{int(bad.sum())} objects ({per_input}; {policy})"
        elif stage == "finalize":
            stages["finalize"] = sorted(value)

    chunk = ChunkContext.of(events)
    t0 = time.perf_counter()
    try:
        after = step.run(events, host, chunk, record)
    except JetplugError:
        raise
    except Exception as e:
        stage = error_context(e).get("stage")
        msg = f"plugin {name!r} failed in {stage}: {type(e).__name__}: {e}"
        raise annotate(JetplugError(msg), **chunk.where()) from e
    report["seconds"] = round(time.perf_counter() - t0, 3)
    plan = Plan(spec)
    out = outputs_of(after, spec)
    masks = seen.get("nonfinite") or {}
    explained = int(np.logical_or.reduce(list(masks.values())).sum()) if masks else 0
    report["nonfinite_outputs"] = _nonfinite_objects(out, plan.stored_names)
    report["nonfinite_inputs"] = explained
    report["outputs"] = {
        f"{plan.target}.{f}" if plan.mode is not TargetMode.ADD else f"{plan.target}.{name}.{f}": (
            _summary(ak.to_numpy(ak.flatten(out[f], axis=1)))
        )
        for f in plan.stored_names
    }
    if plan.mode is TargetMode.CREATE:
        made = int(ak.sum(ak.num(after[plan.target], axis=1)))
        report["multiplicity"] = {
            "collection": plan.target,
            "created": made,
            "input_collection": plan.collection,
            "input": int(seen["gather"][1].sum()),
        }
    return after


def _print(report: dict[str, Any]) -> None:
    click.echo(f"preflight: {report['file']} ({report['entries']} entries) ok")
    for name in report["ran"]:
        click.echo(f"ran first: {name}")
    for stage, what in report["stages"].items():
        click.echo(f"{stage}: {what}")
    header = ("output", "count", "mean", "min", "max", "NaN")
    rows = [header]
    for field, s in report["outputs"].items():
        shape = f" {tuple(s['shape'])}" if s["shape"] else ""
        cells = [s[k] for k in ("mean", "min", "max")]
        rows.append(
            (
                field + shape,
                str(s["count"]),
                *("-" if c is None else f"{c:.4g}" for c in cells),
                str(s["nan"] + s["inf"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if "multiplicity" in report:
        m = report["multiplicity"]
        ratio = m["created"] / m["input"] if m["input"] else float("nan")
        click.echo(
            f"multiplicity: {m['created']} {m['collection']} from {m['input']} "
            f"{m['input_collection']} ({ratio:.3f} per input object)"
        )


def _verdict(report: dict[str, Any]) -> None:
    """Fail (one line) when objects with finite inputs got NaN or infinite outputs."""
    unexplained = report["nonfinite_outputs"] - report["nonfinite_inputs"]
    if unexplained > 0:
        msg = (
            f"plugin {report['plugin']!r} gave NaN or infinite outputs to {unexplained} objects "
            f"whose inputs were finite ({report['nonfinite_outputs']} objects with such outputs, "
            f"{report['nonfinite_inputs']} with NaN/inf inputs)"
        )
        raise JetplugError(msg)


@click.command()
@click.argument("plugin")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option("--backend", default="local", show_default=True, help="Backend to run on.")
@click.option("--collection", default=None, help="Re-target the plugin to this collection.")
@click.option("--target", default=None, help="Name of the collection a 'create' plugin makes.")
@click.option("--seed", type=int, default=None, help="Seed of its per-object random numbers.")
@click.option(
    "--option", "options", multiple=True, metavar="KEY=VALUE", help="Plugin option (repeatable)."
)
@click.option(
    "--backend-option",
    "backend_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Backend option (repeatable).",
)
@click.option(
    "--schema",
    type=click.Choice(["auto", "pfnano", "nanoaod"]),
    default="auto",
    show_default=True,
    help="NanoEvents schema (auto: pfnano when FILE has PFCands).",
)
@click.option(
    "-n",
    "--events",
    "n_events",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Events in the chunk (read from FILE, or synthetic).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check(
    plugin: str,
    file: Path | None,
    backend: str,
    collection: str | None,
    target: str | None,
    seed: int | None,
    options: tuple[str, ...],
    backend_options: tuple[str, ...],
    schema: str,
    n_events: int,
    as_json: bool,
) -> None:
    """Check PLUGIN on FILE (default: a synthetic PFNano chunk): preflight, then one chunk."""
    host = PluginHost()
    config: dict[str, Any] = {
        "name": plugin,
        "backend": backend,
        "options": _pairs(options, "--option"),
        "backend_options": _pairs(backend_options, "--backend-option"),
    }
    if collection:
        config["collection"] = collection
    if target:
        config["target"] = target
    if seed is not None:
        config["seed"] = seed
    plugins = plugins_for(host, plugin, config)
    with tempfile.TemporaryDirectory(prefix="jetplug-check-") as tmp:
        layout = "nanoaod" if schema == "nanoaod" else "pfnano"
        shown = str(file)
        if file is None:
            file = write_synthetic(Path(tmp) / f"synthetic-{layout}.root", n_events, layout=layout)
            shown = f"synthetic {layout} chunk"
        entries = [
            {
                "name": c.name,
                "backend": c.backend,
                "options": dict(c.options),
                "backend_options": dict(c.backend_options),
                "seed": c.seed,
                **({"collection": c.collection} if c.collection else {}),
                **({"target": c.target} if c.target else {}),
            }
            for c in plugins.configs
        ]
        run = parse_config(
            {"fileset": {"check": [str(file)]}, "plugins": entries},
            base=Path.cwd(),
            source="jetplug check",
        )
        (info,) = check_files(run, plugins.specs, host.derivations)
        try:
            events = events_from_file(file, layout=schema, entry_stop=n_events, dataset="check")
        except Exception as e:
            if not is_file_read_error(e):
                raise
            raise FileReadError(str(file), e, entries=(0, min(n_events, info.entries))) from e
        report: dict[str, Any] = {
            "plugin": plugin,
            "file": shown,
            "entries": info.entries,
            "events": len(events),
            "ran": [],
        }
        chain = plugins.chain
        for step in chain.steps:
            if step.spec.name == plugin:
                _run_step(step, chain.host, events, report)
                break
            events = step.run(events, chain.host, ChunkContext.of(events))
            report["ran"].append(step.spec.name)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print(report)
    _verdict(report)
    if not as_json:
        click.echo(
            f"ok: {report['plugin']} ran on {report['events']} events in {report['seconds']} s"
        )
