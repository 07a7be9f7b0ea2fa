"""Built-in jetplug tagger plugins."""

from .top_bdt import TopBDT
from .top_cnn import TopCNN
from .top_mlp import TopMLP

__all__ = ["TopBDT", "TopCNN", "TopMLP"]
