"""Missing data: patterns, dropout, time to dropout, MCAR diagnostics, sensitivity analyses,
conditional mean imputation and bootstrapped ML multiple imputation with intercurrent events."""

from .bmlmi import BootstrappedMLMI, bmlmi
from .cohorts import completers_vs_dropouts
from .condmean import ConditionalMean, condmean
from .delta import delta_template
from .dropout import DropoutSurvival, time_to_dropout
from .dropout_model import DropoutModel, dropout_model
from .ice_table import ice_table
from .mcar import LittleMCAR, little_mcar_test
from .patterns import dropout_table, patterns
from .pipeline import BMLMI, Ancova, ApproxBayes, CondMean, ImputationModel, Mmrm
from .sensitivity import METHODS, MultipleImputation, TippingPoint, delta_steps, impute, tipping_point

__all__ = ["BMLMI", "Ancova", "ApproxBayes", "BootstrappedMLMI", "CondMean", "ConditionalMean",
           "DropoutModel",
           "DropoutSurvival", "ImputationModel", "LittleMCAR", "METHODS", "Mmrm", "MultipleImputation",
           "TippingPoint", "bmlmi", "completers_vs_dropouts", "condmean", "delta_steps", "delta_template",
           "dropout_model", "dropout_table", "ice_table", "impute", "little_mcar_test", "patterns",
           "time_to_dropout", "tipping_point"]
