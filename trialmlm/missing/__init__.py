"""Missing data: patterns, dropout by arm and visit, time to dropout, sensitivity analyses."""

from .dropout import DropoutSurvival, time_to_dropout
from .patterns import dropout_table, patterns
from .sensitivity import METHODS, MultipleImputation, TippingPoint, impute, tipping_point

__all__ = ["DropoutSurvival", "METHODS", "MultipleImputation", "TippingPoint", "dropout_table", "impute",
           "patterns", "time_to_dropout", "tipping_point"]
