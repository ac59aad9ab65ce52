"""Missing data: patterns, dropout by arm and visit, time to dropout, MCAR diagnostics."""

from .cohorts import completers_vs_dropouts
from .dropout import DropoutSurvival, time_to_dropout
from .dropout_model import DropoutModel, dropout_model
from .mcar import LittleMCAR, little_mcar_test
from .patterns import dropout_table, patterns

__all__ = ["DropoutModel", "DropoutSurvival", "LittleMCAR", "completers_vs_dropouts", "dropout_model",
           "dropout_table", "little_mcar_test", "patterns", "time_to_dropout"]
