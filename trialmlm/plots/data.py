r"""Plots of the observed data: individual profiles, observed means, missing-data map.

Visits are placed in the fit's order (pandas Categorical order, else natural sort, so
``V2`` comes before ``V10``); arms take their colours from :func:`arm_palette`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import stats

from ..engine.design import is_factor
from ..missing.patterns import dropout_index, observation_matrix
from .style import (
    MISSING_GREY,
    TITLE_SIZE,
    arm_palette,
    check_columns,
    dodge,
    figure_legend,
    label,
    label_outer,
    legend_outside,
    levels_of,
    new_axes,
    new_grid,
    visit_ticks,
    visit_width,
)

MAX_SCHEDULED = 20  # a numeric time with at most this many values is treated as scheduled visits
N_TIME_BINS = 8


def _arm_groups(df: pd.DataFrame, arm: str | None) -> tuple[list, pd.Series]:
    """Arm levels and each row's arm (one level "All subjects" without ``arm``)."""
    if arm is None:
        return ["All subjects"], pd.Series("All subjects", index=df.index)
    return levels_of(df[arm]), df[arm]


def _x_positions(values: pd.Series) -> tuple[np.ndarray, list | None]:
    """Numeric x of each row and the tick labels of a factor (None for numeric time)."""
    if is_factor(values):
        levels = levels_of(values)
        codes = {lev: i for i, lev in enumerate(levels)}
        return values.map(codes).to_numpy(dtype=float), levels
    return values.to_numpy(dtype=float), None


def _dropouts(df: pd.DataFrame, subject: str, time: str, response: str) -> set:
    """Subjects who drop out.

    For visits (a factor, or a numeric time with at most 20 values): the subject's last
    observed response is before the last visit (:func:`trialmlm.missing.patterns.dropout_index`).
    For irregular numeric times: the subject has rows with a missing response after its
    last observed one.
    """
    if is_factor(df[time]) or df[time].nunique() <= MAX_SCHEDULED:
        observed, _, _ = observation_matrix(df, subject, time, response)
        drop = dropout_index(observed.to_numpy())
        return set(observed.index[drop >= 0])
    rows = df.dropna(subset=[subject, time]).sort_values([subject, time])
    last_obs = rows[rows[response].notna()].groupby(subject)[time].max()
    last_row = rows.groupby(subject)[time].max()
    return set(last_row.index[last_row > last_obs.reindex(last_row.index).fillna(-np.inf)])


def _mean_profile(x: np.ndarray, y: np.ndarray, scheduled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean response per visit, or per quantile bin of time (plotted at the bin's mean time)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size == 0:
        return np.array([]), np.array([])
    if scheduled:
        frame = pd.DataFrame({"x": x, "y": y}).groupby("x")["y"].mean()
        return frame.index.to_numpy(dtype=float), frame.to_numpy()
    bins = pd.qcut(x, N_TIME_BINS, duplicates="drop")
    frame = pd.DataFrame({"x": x, "y": y, "bin": bins}).groupby("bin", observed=True)[["x", "y"]].mean()
    return frame["x"].to_numpy(), frame["y"].to_numpy()


def _sample(ids: np.ndarray, n_subjects: int | None, rng: np.random.Generator) -> np.ndarray:
    """``n_subjects`` of ``ids`` drawn at random (in their order), or all of them."""
    if n_subjects is not None and n_subjects < len(ids):
        return ids[np.sort(rng.choice(len(ids), size=n_subjects, replace=False))]
    return ids


def _profiles(ax: Axes, rows: pd.DataFrame, subject: str, dropouts: set, colour) -> None:
    """One line per subject of ``rows`` (columns ``subject``, ``_x``, ``_y``) in ``colour``; a
    dropout's in black with a cross at its last observation."""
    rows = rows.dropna(subset=["_x", "_y"]).sort_values([subject, "_x"])
    for sid, one in rows.groupby(subject, sort=False):
        if sid in dropouts:
            ax.plot(one["_x"], one["_y"], color="black", lw=0.9, alpha=0.75, zorder=3)
            ax.plot(one["_x"].iloc[-1], one["_y"].iloc[-1], "x", color="black", ms=5, mew=1.2, zorder=4)
        else:
            ax.plot(one["_x"], one["_y"], color=colour, lw=0.8, alpha=0.35, zorder=2)


def _panel_head(level, n_subjects: int, n_shown: int, n_dropouts: int | None) -> str:
    """The arm on one line, its subjects (shown) and dropouts on the next (narrow panels)."""
    head = f"{level}\n{n_subjects} subjects"
    if n_shown < n_subjects:
        head += f" ({n_shown} shown)"
    if n_dropouts is not None:
        head += f", {n_dropouts} dropouts"
    return head


def _profile_legend(fig, colours: list, highlight_dropouts: bool, mean: bool) -> None:
    """The figure legend of :func:`spaghetti`: subject (completer) and observed mean, each as
    drawn, one short line per arm colour side by side; dropout in black."""
    handles = [tuple(Line2D([], [], color=c, lw=1.2, alpha=0.6) for c in colours)]
    names = ["Subject" if not highlight_dropouts else "Completer"]
    if highlight_dropouts:
        handles.append(Line2D([], [], color="black", lw=0.9, marker="x", ms=5))
        names.append("Dropout (\u00d7 last observation)")
    if mean:
        handles.append(tuple(Line2D([], [], color=c, lw=2.8, marker="o", mec="white") for c in colours))
        names.append("Observed mean (all subjects)")
    figure_legend(fig, handles, names, handler_map={tuple: HandlerTuple(ndivide=None, pad=0.1)},
                  handlelength=1.2 * len(colours) + 1)


def spaghetti(df: pd.DataFrame, subject: str, visit_or_time: str, response: str, arm: str | None = None,
              n_subjects: int | None = None, seed: int = 0, highlight_dropouts: bool = True,
              mean: bool = True, palette: Mapping | None = None, axes=None, title: str | None = None,
              xlabel: str | None = None, ylabel: str | None = None, visit: str | None = None) -> np.ndarray:
    """Individual response profiles, one panel per arm.

    Parameters
    ----------
    df : long data, one row per subject and visit (or time point).
    subject, visit_or_time, response, arm : column names; ``visit_or_time`` may be a visit
        factor (placed in the fit's order) or a numeric time.
    n_subjects : draw only this many randomly chosen subjects per arm (``seed`` fixes the
        choice); the mean is always over all subjects.
    highlight_dropouts : draw dropouts in black with a cross at their last observation
        (dropout: last response before the last visit; for irregular numeric times, rows
        with a missing response after the last observed one).
    mean : overlay the arm's observed mean per visit (per eighth of the time distribution
        for irregular times with more than 20 distinct values).
    palette : ``{arm: colour}`` overrides; axes : existing axes, one per arm.
    visit : the scheduled-visit column that defines dropout when ``visit_or_time`` is an
        irregular time (e.g. AVISIT beside TIME); default ``visit_or_time`` itself.

    Returns
    -------
    numpy array of Axes, one per arm (``axes[0].figure`` is the figure).
    """
    check_columns(df, subject=subject, visit_or_time=visit_or_time, response=response, arm=arm, visit=visit)
    arms, row_arm = _arm_groups(df, arm)
    colours = arm_palette(arms, palette)
    x_all, ticks = _x_positions(df[visit_or_time])
    scheduled = ticks is not None or df[visit_or_time].nunique() <= MAX_SCHEDULED
    dropouts = _dropouts(df, subject, visit or visit_or_time, response) if highlight_dropouts else set()
    rng = np.random.default_rng(seed)
    panel = (3.6 if ticks is None else visit_width(len(ticks), 3.6, 0.25, 5.0), 3.0)
    grid = new_grid(len(arms), axes, panel=panel)
    y_all = df[response].to_numpy(dtype=float)
    for ax, level in zip(grid, arms):
        in_arm = (row_arm == level).to_numpy()
        ids = pd.unique(df.loc[in_arm, subject].dropna())
        shown = _sample(ids, n_subjects, rng)
        pick = in_arm & df[subject].isin(shown).to_numpy()
        _profiles(ax, df.loc[pick, [subject]].assign(_x=x_all[pick], _y=y_all[pick]), subject, dropouts,
                  colours[level])
        if mean:
            mx, my = _mean_profile(x_all[in_arm], y_all[in_arm], scheduled)
            ax.plot(mx, my, "-o", color=colours[level], lw=2.8, ms=6, mec="white", mew=1.0, zorder=5,
                    path_effects=[patheffects.withStroke(linewidth=4.5, foreground="white")])
        label(ax, _panel_head(level, len(ids), len(shown), len(set(ids) & dropouts) if highlight_dropouts
                              else None), None, None)
        ax.title.set_fontsize(TITLE_SIZE - 1)
        ax.grid(alpha=0.25)
    label_outer(grid, xlabel or visit_or_time, ylabel or response)
    if title:
        grid[0].figure.suptitle(title, fontsize=TITLE_SIZE + 1)
    if axes is None:
        _profile_legend(grid[0].figure, [colours[a] for a in arms], highlight_dropouts, mean)
    if ticks is not None:
        for ax in grid:  # half a visit of room each side keeps end labels inside their panel
            ax.set_xlim(-0.5, len(ticks) - 0.5)
        visit_ticks(grid, range(len(ticks)), ticks)
    return grid


def observed_mean_table(df: pd.DataFrame, visit: str, response: str, arm: str | None,
                        ci: float = 0.95) -> pd.DataFrame:
    r"""Per arm and visit: ``n, mean, sd, se, lower, upper`` of the observed responses.

    :math:`\bar y \pm t_{n-1,\,(1+c)/2}\, s/\sqrt n` (NaN limits when n < 2).
    """
    check_columns(df, visit=visit, response=response, arm=arm)
    keys = [arm, visit] if arm is not None else [visit]
    data = df.dropna(subset=[response] + keys)
    out = data.groupby(keys, observed=True, sort=False)[response].agg(["count", "mean", "std"])
    out = out.rename(columns={"count": "n", "std": "sd"}).reset_index()
    out["se"] = out["sd"] / np.sqrt(out["n"])
    with np.errstate(invalid="ignore"):
        half = stats.t.ppf((1 + ci) / 2, out["n"] - 1) * out["se"]
    out["lower"], out["upper"] = out["mean"] - half, out["mean"] + half
    order = {v: i for i, v in enumerate(levels_of(df[visit]))}
    sort = [out[visit].map(order)]
    if arm is not None:
        arm_order = {a: i for i, a in enumerate(levels_of(df[arm]))}
        sort = [out[arm].map(arm_order)] + sort
    idx = np.lexsort([s.to_numpy() for s in reversed(sort)])
    return out.iloc[idx].reset_index(drop=True)


def observed_means(df: pd.DataFrame, visit: str, response: str, arm: str | None, ci: float = 0.95,
                   ax: Axes | None = None, palette: Mapping | None = None, title: str | None = None,
                   xlabel: str | None = None, ylabel: str | None = None) -> Axes:
    r"""Observed mean and t confidence interval per arm and visit, arms dodged.

    The interval is :math:`\bar y \pm t_{n-1,(1+\mathrm{ci})/2}\,s/\sqrt n` over the
    responses observed at the visit (no model, no imputation); see
    :func:`observed_mean_table` for the numbers.  Returns the Axes.
    """
    table = observed_mean_table(df, visit, response, arm, ci)
    visits = levels_of(df[visit])
    arms = levels_of(df[arm]) if arm is not None else [None]
    colours = arm_palette(arms, palette)
    ax = new_axes(ax, figsize=(visit_width(len(visits)), 4.5))
    offsets = dodge(len(arms), 0.2)
    pos = {v: i for i, v in enumerate(visits)}
    for off, level in zip(offsets, arms):
        part = table if level is None else table[table[arm] == level]
        x = part[visit].map(pos).to_numpy(dtype=float) + off
        mean, lower, upper = (part[c].to_numpy(dtype=float) for c in ("mean", "lower", "upper"))
        ax.errorbar(x, mean, yerr=[mean - lower, upper - mean],
                    fmt="-o", color=colours[level], ms=5.5, lw=1.8, capsize=3, elinewidth=1.2,
                    label="All subjects" if level is None else str(level))
    ax.set_xlim(-0.5, len(visits) - 0.5)
    ax.grid(axis="y", alpha=0.3)
    label(ax, title if title is not None else f"Observed mean {response} by {visit}",
          xlabel or visit, ylabel or f"Mean {response} ({100 * ci:g}% CI)")
    if arm is not None:
        legend_outside(ax, title=arm)
    visit_ticks(ax, range(len(visits)), visits)
    return ax


def missing_pattern_heatmap(df: pd.DataFrame, subject: str, visit: str, response: str,
                            arm: str | None = None, ax: Axes | None = None, palette: Mapping | None = None,
                            title: str | None = None, xlabel: str | None = None,
                            ylabel: str | None = None) -> Axes:
    """Subjects x visits map of observed (arm colour) and missing (grey) responses.

    Subjects are grouped by arm (in level order, separated by a line and labelled with
    their number) and, within arm, sorted by pattern: complete first, then later dropout
    before earlier, intermittent gaps among them (patterns compared visit by visit,
    observed before missing).  A subject-visit without a row counts as missing
    (:func:`trialmlm.missing.patterns.observation_matrix`).  Returns the Axes.
    """
    observed, visits, arms = observation_matrix(df, subject, visit, response, arm)
    arm_levels = levels_of(arms) if arm is not None else ["All subjects"]
    per_subject = arms if arm is not None else pd.Series("All subjects", index=observed.index)
    colours = arm_palette(arm_levels, palette)
    pattern = pd.Series(["".join("X" if o else "." for o in r) for r in observed.to_numpy()],
                        index=observed.index)
    arm_code = per_subject.map({a: i for i, a in enumerate(arm_levels)}).to_numpy()
    keys = pd.DataFrame({"arm": arm_code, "pattern": pattern.to_numpy(),
                         "id": observed.index.astype(str)})
    order = keys.sort_values(["arm", "pattern", "id"], ascending=[True, False, True], kind="stable").index
    order = order.to_numpy()
    mat = observed.to_numpy()[order]
    codes = np.where(mat, arm_code[order][:, None] + 1, 0)
    cmap = ListedColormap([MISSING_GREY] + [colours[a] for a in arm_levels])
    ax = new_axes(ax, figsize=(visit_width(len(visits), 6.5, 0.5, 12.0), 6.0))
    ax.imshow(codes, aspect="auto", interpolation="nearest", cmap=cmap, vmin=-0.5,
              vmax=len(arm_levels) + 0.5)
    counts = np.bincount(arm_code, minlength=len(arm_levels))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for b in bounds[1:-1]:
        ax.axhline(b - 0.5, color="black", lw=1.5)
    centres = (bounds[:-1] + bounds[1:]) / 2 - 0.5
    ax.set_yticks(centres, [f"{a}\n(n={c})" for a, c in zip(arm_levels, counts)])
    ax.set_xticks(np.arange(len(visits) + 1) - 0.5, minor=True)
    ax.tick_params(axis="x", which="minor", length=0)
    ax.grid(axis="x", which="minor", color="white", lw=1.5)
    ax.tick_params(axis="y", length=0)
    label(ax, title if title is not None else f"Observed and missing {response}",
          xlabel or visit, ylabel if ylabel is not None else
          (f"Subjects by {arm}, sorted by pattern" if arm else "Subjects, sorted by pattern"))
    handles = [Patch(color=colours[a], label=f"Observed ({a})" if arm else "Observed") for a in arm_levels]
    handles.append(Patch(color=MISSING_GREY, label="Missing"))
    legend_outside(ax, handles, [h.get_label() for h in handles])
    visit_ticks(ax, range(len(visits)), visits)
    return ax
