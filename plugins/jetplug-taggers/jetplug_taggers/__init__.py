"""Built-in jetplug tagger plugins."""

from .top_bdt import TopBDT

__all__ = ["TopBDT"]
