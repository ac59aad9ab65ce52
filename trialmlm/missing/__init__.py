"""Missing-data diagnostics: patterns, dropout by arm and visit, Kaplan-Meier time to dropout,
completers against dropouts, Little's MCAR test and the logistic dropout model.

The estimand machinery (ICE tables, strategies, imputation methods, pooling, tipping point)
is :mod:`trialmlm.estimands`; it imports from here, never the reverse.
"""

from .cohorts import completers_vs_dropouts
from .dropout import DropoutSurvival, time_to_dropout
from .dropout_model import DropoutModel, dropout_model
from .mcar import LittleMCAR, little_mcar_test
from .patterns import dropout_table, patterns

__all__ = ["DropoutModel", "DropoutSurvival", "LittleMCAR", "completers_vs_dropouts", "dropout_model",
           "dropout_table", "little_mcar_test", "patterns", "time_to_dropout"]
