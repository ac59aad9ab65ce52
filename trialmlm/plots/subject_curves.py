r"""Subject-specific against population-averaged curves of a GLMM (non-collapsibility drawn).

One panel per arm over a continuous time covariate: the conditional curves
:math:`g^{-1}(x(t)^\top\hat\beta + z(t)^\top\hat b_i)` of a random sample of the arm's
subjects (their conditional modes), the curve of the "typical" subject (:math:`b = 0`,
dashed) and the population-averaged curve :math:`\bar\mu(t) = E_b\,g^{-1}(x(t)^\top\hat\beta
+ z(t)^\top b)` with its pointwise delta-method confidence band
(:func:`trialmlm.glimmix.margins.marginal_means`).  Under the logit the typical subject's curve
is steeper than the average one: the population-averaged effect is nearer the null than the
subject-specific one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..errors import DataError
from ..glimmix.margins import conditional_means, marginal_means, subject_arms
from ..glimmix.results import GLMMResults
from .style import NEUTRAL, arm_palette, figure_legend, label, label_outer, new_grid, visit_ticks, visit_width


def subject_curves(fit: GLMMResults, treatment: str, time: str, n_subjects: int = 25, seed: int = 1,
                   n_times: int = 61, ci: float = 0.95, axes=None, palette: Mapping | None = None,
                   title: str | None = None, xlabel: str | None = None,
                   ylabel: str | None = None) -> np.ndarray:
    """Per arm of ``treatment``: ``n_subjects`` subject-specific curves (a random sample, numpy
    generator ``seed``; all subjects when fewer), the typical subject's curve (:math:`b = 0`)
    and the population-averaged curve with its ``ci`` band, over ``n_times`` values of the
    covariate ``time`` from its smallest to its largest fitted value, or over the levels of
    ``time`` when it is a factor of the mean model (a visit; other covariates at their mean, as
    in the reference grid).  Returns the array of Axes (one per arm)."""
    design = fit.design
    if design is None or time not in design.encoding.variables or time == treatment:
        raise DataError(f"time '{time}' must be a covariate or factor of the GLMM's mean model other "
                        "than the treatment")
    if time in design.encoding.levels:  # a visit factor: one point per level
        levels = list(design.encoding.levels[time])
        times, ticks, grid_of = np.arange(len(levels)), levels, {"by": time}
    else:
        values = design.fixed_frame[time].to_numpy(dtype=float)
        times, ticks = np.linspace(values.min(), values.max(), n_times), None
        grid_of = {"at": {time: list(times)}}
    averaged = marginal_means(fit, treatment, alpha=1 - ci, **grid_of)
    labels, typical = conditional_means(fit, treatment, np.zeros((1, len(fit.random_names))), **grid_of)
    arms = list(design.encoding.levels[treatment])
    owner = subject_arms(fit, treatment)
    colours = arm_palette(arms, palette)
    rng = np.random.default_rng(seed)
    binomial = fit.settings.family == "binomial"
    panel_width = 4.2 if ticks is None else visit_width(len(ticks), 4.2, 0.25, 6.0)
    grid = new_grid(len(arms), axes, ncols=len(arms), panel=(panel_width, 3.4))
    for ax, arm in zip(grid, arms):
        mine = np.flatnonzero(owner == arm)
        chosen = np.sort(rng.choice(mine, size=min(n_subjects, mine.size), replace=False))
        _, subjects = conditional_means(fit, treatment, fit.modes.to_numpy()[chosen], **grid_of)
        column = (labels[treatment] == arm).to_numpy()
        ax.plot(times, subjects[:, column].T, color=colours[arm], alpha=0.35, lw=0.8)
        ax.plot(times, typical[0, column], color=NEUTRAL, ls="--", lw=1.8)
        part = averaged[averaged[treatment] == arm]
        ax.fill_between(times, part["lower"].clip(lower=0), part["upper"], color=colours[arm], alpha=0.2,
                        lw=0)
        ax.plot(times, part["estimate"], color=colours[arm], lw=2.6)
        ax.set_ylim(-0.02, 1.02) if binomial else ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        if ticks is not None:
            visit_ticks(ax, times, ticks)
        label(ax, str(arm), None, None)
    label_outer(grid, xlabel or time, ylabel or ("Probability" if binomial else "Rate"))
    fig = grid[0].figure
    if title is not None:
        fig.suptitle(title)
    handles = [Line2D([], [], color="grey", alpha=0.6, lw=0.8),
               Line2D([], [], color=NEUTRAL, ls="--", lw=1.8),
               Line2D([], [], color="grey", lw=2.6), Patch(color="grey", alpha=0.2)]
    names = [f"subjects (sample of {n_subjects}, conditional modes)", "typical subject (b = 0)",
             "population-averaged", f"{100 * ci:g}% CI (delta method)"]
    figure_legend(fig, handles, names, ncol=2)
    return grid
