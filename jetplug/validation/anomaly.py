"""``jetplug validate --section anomaly``: how well each anomaly score flags the other classes.

Every anomaly plugin (kind ``anomaly``) declares the truth label of the jets
it was trained on as normal (:attr:`jetplug.JetModel.normal_truth`). Its
``score`` (higher = more anomalous) runs through the plugin chain on
generated files; against **every other class** present (top, W, Z, H for a
QCD-trained score; QCD and the others for a top-trained one):

* the AUC of the score separating that class from the normal class;
* the signal efficiency εS of a trigger-like cut at the (1 − εB) quantile of
  the normal jets' score, for εB = 10⁻² and 10⁻³;

with bootstrap standard deviations (resampling jets). For an NAE, the model
metadata's per-epoch history (AUC computed after training, for the docs only;
the shipped epoch was chosen without labels) is reported with the chosen
epoch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import load_model_metadata
from ..host import PluginHost
from ..metrics import efficiency_metrics
from .collect import CLASS_NAMES, JetTable

__all__ = [
    "EFF_B",
    "AnomalyRow",
    "EpochHistory",
    "anomaly_markdown",
    "anomaly_rows",
    "epoch_histories",
    "write_anomaly",
]

EFF_B = (1e-2, 1e-3)
"""Background (normal-class) efficiencies of the trigger-like cuts."""
MIN_JETS = 20
"""A class needs this many jets to be reported."""


@dataclass(frozen=True)
class AnomalyRow:
    """One anomaly score against one other class."""

    plugin: str
    normal: str
    signal: str
    auc: float
    auc_err: float
    eff_s: tuple[float, ...]
    eff_s_err: tuple[float, ...]
    n_signal: int
    n_normal: int


def anomaly_rows(
    table: JetTable,
    normal_of: Mapping[str, int],
    *,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> list[AnomalyRow]:
    """AUC and εS at :data:`EFF_B` of each plugin's score against every other class."""
    truth = table.columns["truthLabel"]
    rows = []
    for plugin, normal in normal_of.items():
        score = table.outputs[f"{plugin}.score"]
        for other in sorted(set(truth.tolist()) - {normal}):
            use = np.isin(truth, [normal, other])
            labels = truth[use] == other
            if labels.sum() < MIN_JETS or (~labels).sum() < MIN_JETS:
                continue
            m = efficiency_metrics(
                labels, score[use], eff_b=EFF_B, n_bootstrap=n_bootstrap, seed=seed
            )
            rows.append(
                AnomalyRow(
                    plugin,
                    CLASS_NAMES[normal],
                    CLASS_NAMES[other],
                    m.auc,
                    m.auc_err,
                    m.eff_s,
                    m.eff_s_err,
                    m.n_signal,
                    m.n_background,
                )
            )
    return rows


@dataclass(frozen=True)
class EpochHistory:
    """An NAE's training history from its metadata."""

    plugin: str
    normal: int
    auc: dict[str, list[float]]
    """Other class (truth label, as text) -> AUC after each epoch (epoch 0: the AE)."""
    val_energy: list[float]
    neg_energy: list[float]
    chosen: int
    chosen_by: str


def epoch_histories(host: PluginHost, plugins: Sequence[str]) -> list[EpochHistory]:
    """The per-epoch histories of the plugins whose metadata records an NAE stage."""
    out = []
    for name in plugins:
        cls = host.models.get(name)
        meta = load_model_metadata(cls.spec.artifact.path)
        nae = meta.get("nae")
        if not nae:
            continue
        out.append(
            EpochHistory(
                name,
                int(cls.normal_truth or 0),
                nae.get("auc_by_epoch_after_the_fact", {}),
                nae["val_energy"],
                nae["neg_energy"],
                int(nae["chosen_epoch"]),
                str(nae.get("chosen_by", "")),
            )
        )
    return out


def _pct(value: float, err: float) -> str:
    return f"{100 * value:.1f} ± {100 * err:.1f}"


def anomaly_markdown(rows: Sequence[AnomalyRow], histories: Sequence[EpochHistory]) -> str:
    """The tables: one row per (score, other class); the NAE epoch choices."""
    heads = [f"εS at εB = {e:g} [%]" for e in EFF_B]
    lines = [
        f"| score | trained on | flags | AUC | {' | '.join(heads)} | jets (flagged / normal) |",
        "|---|---|---|---|" + "---|" * len(EFF_B) + "---|",
    ]
    for r in rows:
        effs = " | ".join(_pct(v, e) for v, e in zip(r.eff_s, r.eff_s_err, strict=True))
        lines.append(
            f"| `{r.plugin}` | {r.normal} | {r.signal} | {r.auc:.3f} ± {r.auc_err:.3f} | "
            f"{effs} | {r.n_signal} / {r.n_normal} |"
        )
    if histories:
        lines += [
            "",
            "NAE checkpoints (chosen without labels; AUC on the training files' test split, "
            "computed after training for this table only):",
            "",
            "| score | epochs | chosen epoch | AUC at chosen | best AUC (epoch) | AE (epoch 0) |",
            "|---|---|---|---|---|---|",
        ]
        for h in histories:
            for other, aucs in h.auc.items():
                best = int(np.argmax(aucs))
                lines.append(
                    f"| `{h.plugin}` vs {CLASS_NAMES[int(other)]} | {len(aucs) - 1} | {h.chosen} "
                    f"| {aucs[h.chosen]:.3f} | {aucs[best]:.3f} ({best}) | {aucs[0]:.3f} |"
                )
    return "\n".join(lines) + "\n"


def write_anomaly(
    output: Path,
    rows: Sequence[AnomalyRow],
    histories: Sequence[EpochHistory],
    info: Mapping[str, Any],
) -> tuple[Path, Path]:
    """``anomaly.md`` and ``anomaly.json`` in ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    md = output / "anomaly.md"
    js = output / "anomaly.json"
    lo, hi = info.get("pt_range", ("?", "?"))
    inputs = ", ".join(f"`{d}` ({n} files)" for d, n in dict(info.get("inputs", {})).items())
    md.write_text(
        "# Anomaly scores\n\n"
        f"{info.get('jets', '?')} FatJets ({lo} < pT < {hi} GeV, |η| < {info.get('eta_max')}) "
        f"of {info.get('files', '?')} files; "
        f"bootstrap: {info.get('n_bootstrap')} resamplings. Reproduce with "
        f"`{info.get('command', '')}`.\n\n"
        f"Inputs: {inputs}.\n\n" + anomaly_markdown(rows, histories)
    )
    js.write_text(
        json.dumps(
            {
                "info": dict(info),
                "rows": [asdict(r) for r in rows],
                "epochs": [asdict(h) for h in histories],
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    return md, js
