"""Sanity check of tagger plugins on real CMS (PF)NanoAOD.

On a CMS file the plugins' outputs must be valid (finite; class
probabilities summing to 1), and each top score is compared with CMS's own
``FatJet_particleNet_TvsQCD`` on the same jets (Pearson and Spearman
correlations): a sanity check, not a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from ..errors import JetplugError
from ..host import PluginHost
from .collect import Discriminant, collect

__all__ = ["CMS_REFERENCE", "CmsCheck", "cms_check", "cms_markdown"]

CMS_REFERENCE = "particleNet_TvsQCD"


@dataclass(frozen=True)
class CmsCheck:
    """One plugin on one CMS file."""

    file: str
    tagger: str
    n_jets: int
    finite: bool
    max_sum_deviation: float | None
    pearson: float | None
    spearman: float | None
    error: str | None = None


def cms_check(
    path: str | Path, discs: Sequence[Discriminant], host: PluginHost | None = None
) -> list[CmsCheck]:
    """Run each top discriminant's plugin on every FatJet of ``path`` and compare."""
    host = host or PluginHost()
    out = []
    for d in (d for d in discs if d.signal == 1):
        try:
            table = collect(
                [path],
                [d.plugin],
                split=None,
                pt_range=(0.0, np.inf),
                eta_max=np.inf,
                host=host,
                truth=False,
                extra=(CMS_REFERENCE,),
            )
        except JetplugError as e:
            out.append(CmsCheck(str(path), d.name, 0, False, None, None, None, str(e)))
            continue
        values = table.outputs[f"{d.plugin}.{d.column}"]
        finite = all(
            np.isfinite(v).all() for k, v in table.outputs.items() if k.startswith(d.plugin)
        )
        deviation = (
            float(np.max(np.abs(values.sum(axis=1) - 1.0)))
            if values.ndim == 2 and len(values)
            else None
        )
        score = d.score(values)
        ref = table.columns[CMS_REFERENCE]
        ok = np.isfinite(ref) & np.isfinite(score)
        enough = ok.sum() >= 3 and np.std(score[ok]) > 0
        out.append(
            CmsCheck(
                file=Path(path).name,
                tagger=d.name,
                n_jets=len(score),
                finite=bool(finite),
                max_sum_deviation=deviation,
                pearson=float(pearsonr(score[ok], ref[ok])[0]) if enough else None,
                spearman=float(spearmanr(score[ok], ref[ok])[0]) if enough else None,
            )
        )
    return out


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}" if abs(x) >= 1e-2 else f"{x:.1e}"


def cms_markdown(checks: Sequence[CmsCheck]) -> str:
    """A markdown section for the report."""
    lines = [
        "",
        f"## Real CMS PFNano: validity and correlation with CMS `FatJet_{CMS_REFERENCE}`",
        "",
        "| file | tagger | jets | finite | max abs(Σp − 1) | Pearson | Spearman |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for c in checks:
        if c.error:
            lines.append(f"| {c.file} | {c.tagger} | — | cannot run: {c.error} | | | |")
            continue
        lines.append(
            f"| {c.file} | {c.tagger} | {c.n_jets} | {'yes' if c.finite else 'NO'} "
            f"| {_num(c.max_sum_deviation)} | {_num(c.pearson)} | {_num(c.spearman)} |"
        )
    return "\n".join(lines) + "\n"
