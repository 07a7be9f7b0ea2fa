"""``jetplug validate``: physics performance of the tagger plugins on held-out jets.

:func:`collect` scores held-out generated jets with every tagger through the
plugin chain, :func:`evaluate` computes ROC metrics per signal and pT bin,
:func:`write_report` writes the markdown/JSON table, :func:`plot_all` the
plots, :func:`cms_check` the sanity check on real CMS PFNano.
"""

from .cms import CmsCheck, cms_check, cms_markdown
from .collect import Discriminant, JetTable, collect, discriminants
from .plots import plot_all
from .report import Row, evaluate, markdown_table, r50_ratios, scores_of, write_report

__all__ = [
    "CmsCheck",
    "Discriminant",
    "JetTable",
    "Row",
    "cms_check",
    "cms_markdown",
    "collect",
    "discriminants",
    "evaluate",
    "markdown_table",
    "plot_all",
    "r50_ratios",
    "scores_of",
    "write_report",
]
