r"""Model diagnostics: residual plots, subject trajectories with BLUPs, shrinkage.

Residuals (per observation :math:`j` of subject :math:`i`, with weights :math:`w`):

* ``raw``: :math:`r_{ij} = y_{ij} - x_{ij}^\top\hat\beta` (marginal residual);
* ``pearson``: :math:`r_{ij}/\sqrt{\hat V_{jj}}` with :math:`\hat V` the estimated marginal
  covariance of :math:`y`: :math:`W_i^{-1/2}\hat\Sigma_iW_i^{-1/2}` (:math:`Z_iGZ_i^\top + R_i`
  with random effects) plus, with outer grouping factors, :math:`\sum_f z_{f,j}^\top G_fz_{f,j}`
  — SAS's marginal Pearson residual (``RESIDUAL`` option, ``VCIRY`` excluded);
* ``scaled``: :math:`\hat L_c^{-1}r_c` with :math:`\hat V_c = \hat L_c\hat L_c^\top` the marginal
  covariance of the independent cluster *c* (the subject, or the block of subjects that share
  an outer level) (SAS ``VCIRY`` scaled residuals), independent standard normal under the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from scipy import stats

from ..engine.design import is_factor, natural_key
from ..errors import DataError
from ..tables.formats import MINUS, decimals_for, fmt_number
from .style import (
    NEUTRAL,
    OKABE_ITO,
    TITLE_SIZE,
    figure_legend,
    label,
    label_outer,
    new_grid,
    visit_ticks,
)

RESIDUAL_KINDS = ("raw", "pearson", "scaled")
RESIDUAL_LABELS = {"raw": "Residual", "pearson": "Pearson residual", "scaled": "Scaled residual"}
SHRINKAGE_LABELS = ("Subject's own fit (OLS)", "BLUP", "BLUP, no own fit (too few observations)")


def _fit_order(fit, series: pd.Series) -> np.ndarray:
    """Values of a data-order Series (fitted, residuals, predict) in the fit's row order."""
    out = np.empty(len(series))
    out[np.argsort(fit.design.row_position)] = series.to_numpy()
    return out


def model_residuals(fit, kind: str = "pearson") -> np.ndarray:
    """Residuals of the rows used, in the fit's row order (sorted by subject, visit).

    ``kind``: "raw", "pearson" or "scaled" (see the module docstring).
    """
    if kind not in RESIDUAL_KINDS:
        raise DataError(f"residual kind {kind!r} is not one of {', '.join(RESIDUAL_KINDS)}")
    d = fit.design
    raw = d.y - d.X @ fit.beta
    if kind == "raw":
        return raw
    out = np.empty_like(raw)
    for rows, v in fit.likelihood.cluster_covariances(fit.phi):  # rows -1 pad, v 1 on the padding
        used = rows >= 0
        e = np.where(used, raw[rows], 0.0)  # (m, k)
        if kind == "pearson":
            scaled = e / np.sqrt(np.diagonal(v, axis1=1, axis2=2))
        else:
            scaled = np.linalg.solve(np.linalg.cholesky(v), e[..., None])[..., 0]
        out[rows[used]] = scaled[used]
    return out


def _time_variable(fit) -> str | None:
    """First numeric variable of the random-effects design that is in the fit's data."""
    spec = fit.design.random_spec
    names = sorted(getattr(spec, "required_variables", []) or []) if spec is not None else []
    frame = fit.design.fixed_frame
    for name in names:
        if name in frame and not is_factor(frame[name]):
            return name
    return None


def _visit_groups(fit) -> tuple[np.ndarray, list, str]:
    """Group of each row (fit order) for the by-visit panel, its levels and a label."""
    d = fit.design
    if fit.spec.positions:
        labels = np.asarray(d.position_labels, dtype=object)
        return labels[d.position], list(d.position_labels), ", ".join(fit.spec.positions)
    time = _time_variable(fit)
    if time is None:
        counts = pd.Series(d.subject).groupby(d.subject).cumcount().to_numpy() + 1
        return counts, sorted(set(counts)), "Observation number"
    values = d.fixed_frame[time].to_numpy()
    if np.unique(values).size <= 20:
        return values, sorted(set(values), key=natural_key), time
    codes = pd.qcut(values, 5, labels=False, duplicates="drop")
    d = decimals_for(values).data
    names = [f"{fmt_number(values[codes == c].min(), d, minus=MINUS)}\u2013"
             f"{fmt_number(values[codes == c].max(), d, minus=MINUS)}" for c in np.unique(codes)]
    return np.asarray(names, dtype=object)[codes], names, f"{time} (quintile groups)"


def residual_diagnostics(fit, kind: str = "pearson", axes=None, title: str | None = None) -> np.ndarray:
    """Three panels: normal QQ plot, residual vs fitted, residuals by visit (boxplots).

    ``kind``: "pearson" (default), "raw" or "scaled" residuals (module docstring).  The
    QQ plot uses Blom's plotting positions :math:`\\Phi^{-1}((i - 3/8)/(n + 1/4))` and a
    line through the quartiles.  The third panel groups by the fit's visit factor, or for
    random-effect models without one by the time variable of the random terms (its
    quintiles when it has more than 20 values).  Fitted values are the population means
    :math:`x^\\top\\hat\\beta`.  Returns an array of the 3 Axes.
    """
    res = model_residuals(fit, kind)
    fitted = fit.design.X @ fit.beta
    name = RESIDUAL_LABELS[kind]
    grid = new_grid(3, axes, ncols=3, panel=(4.3, 4.0), sharex=False, sharey=False)
    ax_qq, ax_fit, ax_box = grid
    n = res.size
    theo = stats.norm.ppf((np.arange(1, n + 1) - 0.375) / (n + 0.25))
    srt = np.sort(res)
    ax_qq.plot(theo, srt, "o", ms=3.5, color=OKABE_ITO[0], alpha=0.6, mew=0)
    q_y = np.quantile(res, [0.25, 0.75])
    q_x = stats.norm.ppf([0.25, 0.75])
    slope = (q_y[1] - q_y[0]) / (q_x[1] - q_x[0])
    ax_qq.axline((q_x[0], q_y[0]), slope=slope, color=OKABE_ITO[1], lw=1.4)
    label(ax_qq, "Normal QQ plot", "Theoretical normal quantile", name)
    ax_fit.plot(fitted, res, "o", ms=3.5, color=OKABE_ITO[0], alpha=0.5, mew=0)
    ax_fit.axhline(0, color=OKABE_ITO[1], lw=1.2)
    label(ax_fit, "Residual vs fitted", "Fitted value (population mean)", name)
    groups, levels, group_name = _visit_groups(fit)
    data = [res[groups == lev] for lev in levels]
    ax_box.boxplot(data, widths=0.55, patch_artist=True,
                   boxprops={"facecolor": "#CFE3F1", "edgecolor": NEUTRAL},
                   medianprops={"color": OKABE_ITO[1], "lw": 1.6},
                   flierprops={"marker": "o", "ms": 3, "mfc": "none", "mec": NEUTRAL})
    visit_ticks(ax_box, range(1, len(levels) + 1), levels)
    ax_box.axhline(0, color=OKABE_ITO[1], lw=1.0, ls="--")
    label(ax_box, f"{name}s by {group_name}", group_name, name)
    for ax in grid:
        ax.grid(alpha=0.3)
    fig = grid[0].figure
    if axes is None:
        fig.suptitle(title if title is not None else f"Residual diagnostics: {fit.settings.formula}",
                     fontsize=TITLE_SIZE)
    return grid


def _no_random_effects(fit, what: str) -> DataError:
    s = fit.settings
    return DataError(
        f"{what} needs a model with random effects: '{s.formula}' has only a residual covariance "
        f"structure ({s.structure}), so there are no subject-level predictions (BLUPs) and the "
        f"subject-specific curve equals the population mean. Fit a model with a term such as "
        f"(1 + TIME | {s.subject})")


def _chosen_subjects(fit, subjects: Sequence | None, n: int, seed: int) -> list:
    """``subjects`` (or ``n`` of the fit's drawn at random) in natural order; DataError for
    one that is not in the fit."""
    labels = np.asarray(fit.design.subject_labels)
    if subjects is None:
        rng = np.random.default_rng(seed)
        subjects = labels[rng.choice(labels.size, size=min(n, labels.size), replace=False)]
    subjects = sorted(subjects, key=natural_key)
    unknown = [s for s in subjects if s not in set(labels.tolist())]
    if unknown:
        raise DataError(f"subject {unknown[0]!r} is not in the fit (column '{fit.spec.subject}')")
    return subjects


def _x_values(fit, x: str | None) -> tuple[str, np.ndarray, list | None]:
    """The x variable (default the random terms' time, else the visit), its value at each row
    of the fit (a factor's level codes) and a factor's levels (None for a number)."""
    d = fit.design
    x = x or _time_variable(fit) or fit.spec.repeated
    if x is None:
        raise DataError("give x= the column to plot against")
    if x in d.fixed_frame:
        xv = d.fixed_frame[x]
    elif fit.spec.repeated is not None and x == fit.spec.repeated:
        xv = pd.Series(np.asarray(d.position_labels, dtype=object)[d.position])
    else:
        raise DataError(f"column '{x}' is not a variable of the fit's mean model")
    ticks = None
    if is_factor(xv):
        ticks = d.class_levels.get(x) or sorted(set(xv), key=natural_key)
        xv = xv.map({v: i for i, v in enumerate(ticks)})
    return x, np.asarray(xv, dtype=float), ticks


def _trajectory_legend(fig) -> None:
    """Observed, population mean and subject-specific (BLUP) prediction."""
    handles = [Line2D([], [], ls="", marker="o", color="black", ms=4),
               Line2D([], [], ls="--", color=NEUTRAL, lw=1.4),
               Line2D([], [], color=OKABE_ITO[0], lw=1.8)]
    figure_legend(fig, handles, ["Observed", r"Population mean $x^\top\hat\beta$",
                                 r"Subject-specific $x^\top\hat\beta + z^\top\hat b_i$ (BLUP)"])


def individual_trajectories(fit, subjects: Sequence | None = None, n: int = 9, seed: int = 0,
                            x: str | None = None, axes=None, ncols: int | None = None,
                            title: str | None = None, xlabel: str | None = None,
                            ylabel: str | None = None) -> np.ndarray:
    """Small multiples, one panel per subject: observed responses, the population-mean
    prediction :math:`x^\\top\\hat\\beta` and the subject-specific (conditional, BLUP)
    prediction :math:`x^\\top\\hat\\beta + z^\\top\\hat b_i` at the subject's observations.

    Parameters
    ----------
    fit : a fit with random effects (otherwise a DataError says why it is needed).
    subjects : subjects to show; default ``n`` drawn at random (``seed``), shown in
        natural order.
    x : the x variable; default the numeric variable of the random terms (e.g. TIME),
        else the visit factor.

    Returns an array of Axes, one per subject (shared axes).
    """
    if not fit.spec.random_effects:
        raise _no_random_effects(fit, "individual_trajectories")
    subjects = _chosen_subjects(fit, subjects, n, seed)
    x, xv, ticks = _x_values(fit, x)
    d = fit.design
    frame = pd.DataFrame({"subject": np.asarray(d.subject_labels)[d.subject], "x": xv, "y": d.y,
                          "population": _fit_order(fit, fit.predict()),
                          "conditional": _fit_order(fit, fit.predict(conditional=True))})
    grid = new_grid(len(subjects), axes, ncols=ncols, panel=(3.0, 2.5))
    for ax, sid in zip(grid, subjects):
        one = frame[frame["subject"] == sid].sort_values("x")
        ax.plot(one["x"], one["population"], "--", color=NEUTRAL, lw=1.4)
        ax.plot(one["x"], one["conditional"], "-", color=OKABE_ITO[0], lw=1.8)
        ax.plot(one["x"], one["y"], "o", color="black", ms=4)
        label(ax, f"{fit.spec.subject} {sid}", None, None)
        ax.title.set_fontsize(TITLE_SIZE - 1)
        if ticks is not None:
            ax.set_xlim(-0.5, len(ticks) - 0.5)
            visit_ticks(ax, range(len(ticks)), ticks)
        ax.grid(alpha=0.3)
    label_outer(grid, xlabel or x, ylabel or fit.settings.response)
    if title:
        grid[0].figure.suptitle(title, fontsize=TITLE_SIZE + 1)
    if axes is None:
        _trajectory_legend(grid[0].figure)
    return grid


def _shrinkage_terms(fit, terms: Sequence[str] | None) -> list[str]:
    """``terms`` (default every random term of the subject); DataError for one not in the fit."""
    all_terms = list(fit.design.random_names)
    terms = list(terms) if terms is not None else all_terms
    bad = [t for t in terms if t not in all_terms]
    if bad:
        raise DataError(f"{bad[0]!r} is not a random term of the fit ({', '.join(all_terms)})")
    return terms


def _shrinkage_arrows(ax: Axes, table: pd.DataFrame, subject: str, a: str, b: str) -> None:
    """Arrows from each subject's OLS estimate to its BLUP in the plane of terms ``a``, ``b``."""
    wide = table.pivot(index=subject, columns="term", values=["ols", "blup"])
    ok = wide[("ols", a)].notna() & wide[("ols", b)].notna()
    ax.quiver(wide.loc[ok, ("ols", a)], wide.loc[ok, ("ols", b)],
              wide.loc[ok, ("blup", a)] - wide.loc[ok, ("ols", a)],
              wide.loc[ok, ("blup", b)] - wide.loc[ok, ("ols", b)],
              angles="xy", scale_units="xy", scale=1, color=NEUTRAL, width=0.004, alpha=0.7)
    ax.plot(wide.loc[ok, ("ols", a)], wide.loc[ok, ("ols", b)], "o", mfc="white", mec=OKABE_ITO[1],
            ms=5, label=SHRINKAGE_LABELS[0])
    ax.plot(wide.loc[ok, ("blup", a)], wide.loc[ok, ("blup", b)], "o", color=OKABE_ITO[0], ms=5,
            label=SHRINKAGE_LABELS[1])
    if (~ok).any():
        ax.plot(wide.loc[~ok, ("blup", a)], wide.loc[~ok, ("blup", b)], "o", mfc="white", mec=OKABE_ITO[0],
                ms=5, label=SHRINKAGE_LABELS[2])
    ax.axhline(0, color=NEUTRAL, lw=0.8, ls=":")
    ax.axvline(0, color=NEUTRAL, lw=0.8, ls=":")
    ax.grid(alpha=0.3)


def _shrinkage_legend(fig, without_own_fit: bool) -> None:
    """The figure legend of the paired shrinkage plot, one entry per marker drawn."""
    handles = [Line2D([], [], ls="", marker="o", mfc="white", mec=OKABE_ITO[1], ms=5, mew=1.2),
               Line2D([], [], ls="", marker="o", color=OKABE_ITO[0], ms=5)]
    if without_own_fit:
        handles.append(Line2D([], [], ls="", marker="o", mfc="white", mec=OKABE_ITO[0], ms=5))
    figure_legend(fig, handles, list(SHRINKAGE_LABELS[:len(handles)]))


def _shrinkage_pairs(ax: Axes, part: pd.DataFrame, term: str) -> None:
    """One term: OLS and BLUP side by side, joined per subject; a BLUP without OLS open."""
    ok = part["ols"].notna().to_numpy()
    xs = np.array([0.0, 1.0])
    for o, bl in zip(part.loc[ok, "ols"], part.loc[ok, "blup"]):
        ax.plot(xs, [o, bl], "-", color=NEUTRAL, lw=0.7, alpha=0.5)
    ax.plot(np.zeros(ok.sum()), part.loc[ok, "ols"], "o", mfc="white", mec=OKABE_ITO[1], ms=5, mew=1.2)
    ax.plot(np.ones(ok.sum()), part.loc[ok, "blup"], "o", color=OKABE_ITO[0], ms=5)
    if (~ok).any():
        ax.plot(np.ones((~ok).sum()), part.loc[~ok, "blup"], "o", mfc="white", mec=OKABE_ITO[0], ms=5)
    ax.axhline(0, color=NEUTRAL, lw=0.8, ls=":")
    ax.set_xticks([0, 1], ["Subject's own\nfit (OLS)", "BLUP"])
    ax.set_xlim(-0.4, 1.4)
    ax.grid(axis="y", alpha=0.3)
    note = f" ({int((~ok).sum())} without own fit)" if (~ok).any() else ""
    label(ax, f"{term}{note}", None, f"{term}: deviation from population mean")


def shrinkage_plot(fit, kind: str = "paired", terms: Sequence[str] | None = None, axes=None,
                   title: str | None = None) -> np.ndarray:
    """Each subject's own least-squares estimate against its BLUP, per random term.

    Both are deviations from the population mean: the OLS fit of
    :math:`y_i - X_i\\hat\\beta` on :math:`Z_i` and :math:`\\hat b_i`
    (:meth:`trialmlm.MMRMResults.shrinkage`).  ``kind="paired"``: one panel per term,
    OLS and BLUP side by side joined by a line per subject; ``kind="arrows"``: one panel
    of arrows from OLS to BLUP in the plane of the first two terms (``terms`` picks
    them).  Subjects without their own estimate (too few observations) show the BLUP
    only, as an open circle.  Returns an array of Axes.
    """
    if not fit.spec.random_effects:
        raise _no_random_effects(fit, "shrinkage_plot")
    table = fit.shrinkage()
    terms = _shrinkage_terms(fit, terms)
    default_title = "Shrinkage of subject estimates towards the mean"
    if kind == "arrows":
        if len(terms) < 2:
            raise DataError("kind='arrows' needs two random terms; the fit has "
                            f"{', '.join(fit.design.random_names)} (use kind='paired')")
        grid = new_grid(1, axes, panel=(5.5, 4.8))
        a, b = terms[:2]
        _shrinkage_arrows(grid[0], table, fit.spec.subject, a, b)
        label(grid[0], title if title is not None else default_title, f"{a} (deviation)", f"{b} (deviation)")
        grid[0].legend(loc="best", fontsize=9, frameon=True, framealpha=0.9)
        return grid
    if kind != "paired":
        raise DataError(f"kind {kind!r} is not 'paired' or 'arrows'")
    grid = new_grid(len(terms), axes, ncols=min(len(terms), 3), panel=(3.8, 4.2), sharey=False)
    for ax, term in zip(grid, terms):
        _shrinkage_pairs(ax, table[table["term"] == term], term)
    if axes is None:
        grid[0].figure.suptitle(title if title is not None else default_title, fontsize=TITLE_SIZE)
        _shrinkage_legend(grid[0].figure, table["ols"].isna().any())
    return grid
