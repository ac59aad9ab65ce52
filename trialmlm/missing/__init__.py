"""Missing data: patterns, dropout by arm and visit, time to dropout."""

from .dropout import DropoutSurvival, time_to_dropout
from .patterns import dropout_table, patterns

__all__ = ["DropoutSurvival", "dropout_table", "patterns", "time_to_dropout"]
