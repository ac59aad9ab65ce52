"""Regulatory-style plots of trial data and fits (matplotlib only).

Every function takes data or a fit, draws on ``ax`` (a new figure when None) and returns
it; multi-panel plots take ``axes`` and return a numpy array of Axes.  Arms keep one
colour-blind-safe colour across all plots (:func:`arm_palette`); titles and axis labels
come from column names and can be overridden with ``title``, ``xlabel``, ``ylabel``.

==========================  ================================================
:func:`spaghetti`           individual profiles per arm, dropouts, arm means
:func:`observed_means`      observed mean and t CI per arm and visit
:func:`lsmeans_plot`        model LS means and CIs per arm and visit
:func:`difference_forest`   treatment differences per visit with CIs
:func:`missing_pattern_heatmap`  subjects x visits observed / missing map
:func:`km_dropout`          Kaplan-Meier time to dropout, numbers at risk
:func:`tipping_point_plot`  difference and CI against the shift delta
:func:`residual_diagnostics`  QQ, residual vs fitted, residuals by visit
:func:`individual_trajectories`  observed, population and BLUP predictions
:func:`shrinkage_plot`      subject OLS estimates against BLUPs
:func:`subject_curves`      GLMM subject-specific vs population-averaged curves
:func:`subgroup_forest`     differences by subgroup level, interaction p (:func:`trialmlm.subgroups`)
==========================  ================================================
"""

from .data import missing_pattern_heatmap, observed_mean_table, observed_means, spaghetti
from .diagnostics import individual_trajectories, model_residuals, residual_diagnostics, shrinkage_plot
from .inference import difference_forest, lsmeans_plot, tipping_point_plot
from .missing import km_dropout
from .style import OKABE_ITO, arm_palette
from .subgroups import subgroup_forest
from .subject_curves import subject_curves

__all__ = ["OKABE_ITO", "arm_palette", "difference_forest", "individual_trajectories", "km_dropout",
           "lsmeans_plot", "missing_pattern_heatmap", "model_residuals", "observed_mean_table",
           "observed_means", "residual_diagnostics", "shrinkage_plot", "spaghetti", "subgroup_forest",
           "subject_curves", "tipping_point_plot"]
