"""Kaplan-Meier plot of time to dropout (from :func:`trialmlm.missing.time_to_dropout`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..errors import DataError
from ..tables.formats import MINUS, decimals_for, fmt_number, p_statement
from .style import (
    LEGEND_SIZE,
    NOTE_SIZE,
    TICK_SIZE,
    arm_palette,
    figure_legend,
    label,
    legend_outside,
    new_figure,
    visit_ticks,
    visit_width,
)

_EDGE = 0.05  # x margin, as a fraction of the time range


def _survival_columns(table: pd.DataFrame) -> tuple[str | None, str]:
    """Arm column (None for one group) and visit column of ``DropoutSurvival.survival``."""
    cols = list(table.columns)
    needed = ("time", "n_at_risk", "survival", "lower", "upper")
    if any(c not in cols for c in needed) or cols.index("time") not in (1, 2):
        raise DataError("not a DropoutSurvival.survival table: expected columns [arm,] visit, "
                        f"{', '.join(needed)}; got {', '.join(map(str, cols))}")
    i = cols.index("time")
    return (cols[0] if i == 2 else None), cols[i - 1]


def _arm_rows(table: pd.DataFrame, arm_col: str | None, level) -> pd.DataFrame:
    """The rows of arm ``level`` (every row for one group, ``arm_col`` None)."""
    return table if arm_col is None else table[table[arm_col] == level]


def _median_text(median: pd.DataFrame, arm_col: str | None, level, decimals: int) -> str:
    row = median if arm_col is None else median[median[arm_col] == level]
    if row.empty:
        return ""
    return f"median {fmt_number(row['median'].iloc[0], decimals, minus=MINUS)}"


def _km_axes(n_arms: int, n_visits: int, at_risk: bool) -> tuple[Axes, Axes | None]:
    """A new figure's curve axes (width scaled with the visits, room below for the legend) and,
    with ``at_risk``, the numbers-at-risk axes below it."""
    width = visit_width(n_visits, 7.5)
    if at_risk:
        return new_figure(figsize=(width, 5.4 + 0.35 * n_arms)).subplots(
            2, 1, sharex=True, height_ratios=[5, 0.5 + 0.3 * n_arms])
    return new_figure(figsize=(width, 5.2 + 0.15 * n_arms)).add_subplot(), None


def _km_curve(ax: Axes, part: pd.DataFrame, colour, name: str, ci: bool) -> None:
    """One arm's step function (the last step drawn on to the plot's right edge, so that its
    level is visible) and its confidence band."""
    part = part.sort_values("time")
    t = part["time"].to_numpy(dtype=float)
    t = np.append(t, t[-1] + _EDGE * max(np.ptp(t), 1.0))
    part = pd.concat([part, part.iloc[[-1]]])
    ax.step(t, part["survival"], where="post", color=colour, lw=2.0, label=name)
    if ci:
        ax.fill_between(t, part["lower"], part["upper"], step="post", color=colour, alpha=0.15, lw=0)


def _visit_axis(ax: Axes, first: pd.DataFrame, visit_col: str,
                decimals: int) -> tuple[np.ndarray, list, bool]:
    """x limits around the visit times; returns the times, their labels (visit, and time unless
    the times are 1, 2, ...) and whether the times are 1, 2, ...."""
    times = first["time"].to_numpy(dtype=float)
    visits = first[visit_col].tolist()
    numbered = np.allclose(times, np.arange(1, len(times) + 1))
    ticks = [str(v) if numbered else f"{v}\n({fmt_number(t, decimals, minus=MINUS)})"
             for v, t in zip(visits, times)]
    span = max(np.ptp(times), 1.0)
    ax.set_xlim(times[0] - _EDGE * span, times[-1] + _EDGE * span)
    return times, ticks, numbered


def km_dropout(survival, ax: Axes | None = None, at_risk: bool = True, risk_ax: Axes | None = None,
               ci: bool = True, palette: Mapping | None = None, title: str | None = None,
               xlabel: str | None = None, ylabel: str | None = None) -> Axes:
    """Kaplan-Meier curves of time to dropout per arm, with CI bands and numbers at risk.

    Parameters
    ----------
    survival : :class:`trialmlm.missing.DropoutSurvival`.  Its ``survival`` table holds the
        product-limit estimate at every visit time with lifelines' exponential Greenwood
        (log(-log)) interval; as dropouts happen only at visit times, the step function
        through these points is the whole curve.
    at_risk : show the number at risk per arm and visit under the plot.  Without ``ax``
        a second axes is made for it; with ``ax``, pass ``risk_ax`` (an axes below ``ax``)
        to get it.
    ci : shade the pointwise confidence band.

    The legend gives each arm's median time to dropout (NE: not reached) and, with
    several arms, the log-rank p-value.  Times and medians are shown with the precision of
    the visit times, as in :func:`trialmlm.tables.km_dropout_table`; it sits below the figure
    (the curves keep the full width) when the figure is made here, else right of ``ax``.
    Returns the main Axes.
    """
    table = survival.survival
    arm_col, visit_col = _survival_columns(table)
    d_time = decimals_for(table["time"]).data
    arms = list(pd.unique(table[arm_col])) if arm_col else ["All subjects"]
    colours = arm_palette(arms, palette)
    own_figure = ax is None
    if own_figure:
        ax, risk_ax = _km_axes(len(arms), table[visit_col].nunique(), at_risk)
    for level in arms:
        name, med = str(level), _median_text(survival.median, arm_col, level, d_time)
        _km_curve(ax, _arm_rows(table, arm_col, level), colours[level], f"{name} ({med})" if med else name,
                  ci)
    times, ticks, numbered = _visit_axis(ax, _arm_rows(table, arm_col, arms[0]), visit_col, d_time)
    ax.set_ylim(0, 1.04)
    ax.grid(alpha=0.3)
    label(ax, title if title is not None else "Time to dropout (Kaplan-Meier)",
          xlabel or (visit_col if numbered else f"{visit_col} (time)"),
          ylabel or "Proportion still in study")
    lr = survival.logrank
    legend_title = f"Log-rank {p_statement(lr['p'].iloc[0])}" if lr is not None and len(lr) else None
    if own_figure:
        handles, names = ax.get_legend_handles_labels()
        figure_legend(ax.figure, handles, names, title=legend_title)
    else:
        legend_outside(ax, title=legend_title)
    if at_risk and risk_ax is not None:
        _at_risk_table(risk_ax, table, arm_col, arms, colours)
        if risk_ax.get_shared_x_axes().joined(ax, risk_ax):
            ax.tick_params(labelbottom=True)
    visit_ticks(ax, times, ticks)  # last: the layout now holds the arm names of the risk table
    return ax


def _at_risk_table(ax: Axes, table: pd.DataFrame, arm_col, arms, colours) -> None:
    """Numbers at risk as text rows, one per arm, at the visit times."""
    for i, level in enumerate(arms):
        part = _arm_rows(table, arm_col, level)
        for t, n in zip(part["time"], part["n_at_risk"]):
            ax.text(t, i, str(int(n)), ha="center", va="center", fontsize=TICK_SIZE, color=colours[level])
    ax.set_ylim(len(arms) - 0.5, -0.5)
    ax.set_yticks(range(len(arms)), [str(a) for a in arms])
    for tick, level in zip(ax.get_yticklabels(), arms):
        tick.set_color(colours[level])
    ax.tick_params(axis="y", length=0, labelsize=LEGEND_SIZE)
    ax.tick_params(axis="x", length=0, labelbottom=False)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title("Number at risk", fontsize=NOTE_SIZE + 1, loc="left")
