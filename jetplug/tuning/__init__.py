"""Bayesian hyper-parameter search of a plugin's training: ``jetplug tune PLUGIN``.

An optuna study (TPE or GP sampler, median pruning on the validation loss
after every boosting round / epoch) over the settings of the plugin's
built-in trainer (:mod:`jetplug.training`), kept in a persistent storage so
that a rerun resumes it, with trials as Dask tasks sharing that storage. The
best trial's model is written as a normal jetplug artifact, with a report
(best parameters, history, importances) and, optionally, a comparison with
the shipped model on independent files.
"""

from .compare import Comparison, compare, tuned_plugin
from .space import DEFAULT_SPACES, TUNABLE, Param, load_space
from .study import TuneResult, tune
from .trials import TuneJob, open_storage

__all__ = [
    "DEFAULT_SPACES",
    "TUNABLE",
    "Comparison",
    "Param",
    "TuneJob",
    "TuneResult",
    "compare",
    "load_space",
    "open_storage",
    "tune",
    "tuned_plugin",
]
