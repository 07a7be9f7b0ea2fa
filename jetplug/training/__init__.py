"""Reproducible training of plugins on generated events.

:func:`training_inputs` returns, for any plugin, exactly the inputs its
:meth:`~jetplug.JetModel.prepare` sees, with truth labels and gen-matched
targets, so training and inference share one implementation. Objects are
split into train / validation / test **by event** (a hash of the event
number), so objects of one event never straddle the split. Taggers have
built-in trainers (one per model family); other kinds implement
:meth:`jetplug.JetModel.train`.
"""

from .data import JetSample, TrainSettings, load_jets
from .inputs import SPLITS, TrainingData, split_of, training_inputs
from .torch import train_torch_tagger
from .xgboost import train_xgboost_tagger

__all__ = [
    "SPLITS",
    "JetSample",
    "TrainSettings",
    "TrainingData",
    "load_jets",
    "split_of",
    "train_torch_tagger",
    "train_xgboost_tagger",
    "training_inputs",
]
