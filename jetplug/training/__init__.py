"""Reproducible training of tagger plugins on generated events.

The features come from the plugin's own :meth:`~jetplug.JetModel.prepare`, so
training and inference share one implementation. Jets are split into
train / validation / test **by event** (a hash of the event number), so jets
of one event never straddle the split. One trainer per model family.
"""

from .data import SPLITS, JetSample, TrainSettings, load_jets, split_of
from .torch import train_torch_tagger
from .xgboost import train_xgboost_tagger

__all__ = [
    "SPLITS",
    "JetSample",
    "TrainSettings",
    "load_jets",
    "split_of",
    "train_torch_tagger",
    "train_xgboost_tagger",
]
