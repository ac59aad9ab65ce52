"""Missing data: patterns, dropout, time to dropout, MCAR diagnostics, sensitivity analyses."""

from .cohorts import completers_vs_dropouts
from .dropout import DropoutSurvival, time_to_dropout
from .dropout_model import DropoutModel, dropout_model
from .mcar import LittleMCAR, little_mcar_test
from .patterns import dropout_table, patterns
from .sensitivity import METHODS, MultipleImputation, TippingPoint, delta_steps, impute, tipping_point

__all__ = ["DropoutModel", "DropoutSurvival", "LittleMCAR", "METHODS", "MultipleImputation", "TippingPoint",
           "completers_vs_dropouts", "delta_steps", "dropout_model", "dropout_table", "impute",
           "little_mcar_test", "patterns", "time_to_dropout", "tipping_point"]
