r"""Plots of model-based inference: LS means, treatment differences, tipping points.

The numbers are those of :meth:`trialmlm.MMRMResults.lsmeans` and
:meth:`~trialmlm.MMRMResults.compare` (confidence limits
:math:`\hat\theta \pm t_{\nu,1-\alpha/2}\,\mathrm{se}` with the fit's df method), or of
the tidy tables those return; nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.transforms import ScaledTranslation, blended_transform_factory

from ..errors import DataError
from ..estimands.tipping import NOT_SIGNIFICANT
from ..tables.formats import MINUS, NOT_ESTIMABLE, decimals_for, fmt_number, fmt_p
from .style import (
    LEGEND_SIZE,
    NEUTRAL,
    NOTE_SIZE,
    OKABE_ITO,
    TITLE_SIZE,
    arm_palette,
    dodge,
    label,
    legend_outside,
    levels_of,
    new_axes,
    sort_levels,
    visit_ticks,
    visit_width,
)


def _is_fit(obj) -> bool:
    return hasattr(obj, "settings") and hasattr(obj, "lsmeans") and hasattr(obj, "compare")


def _fit_levels(fit, column: str) -> list | None:
    """The fit's level order of a factor (None if it is not a factor of the fit)."""
    levels = fit.design.class_levels.get(column) if hasattr(fit, "design") else None
    return list(levels) if levels is not None else None


def _default_visit(fit, visit: str | None) -> str:
    if visit is not None:
        return visit
    if fit.spec.repeated is not None:
        return fit.spec.repeated
    raise DataError("the fit has no visit factor (covariance term); pass visit= the column to plot by")


def lsmeans_plot(fit, arm: str, visit: str | None = None, ax: Axes | None = None, ci: float = 0.95,
                 palette: Mapping | None = None, title: str | None = None, xlabel: str | None = None,
                 ylabel: str | None = None, zero_line: bool = False, **lsmeans_options) -> Axes:
    r"""LS-mean trajectories per arm with confidence intervals, arms dodged.

    Plots ``fit.lsmeans(arm, by=visit, alpha=1 - ci, **lsmeans_options)`` (e.g.
    ``ddf="kenward-roger"``): the estimate :math:`\hat\mu = L\hat\beta` and
    :math:`\hat\mu \pm t_{\nu,(1+\mathrm{ci})/2}\sqrt{L\hat C L^\top}`.  ``visit`` defaults to
    the fit's visit factor; visits keep the fit's order.  Returns the Axes.
    """
    visit = _default_visit(fit, visit)
    table = fit.lsmeans(arm, by=visit, alpha=1 - ci, **lsmeans_options)
    visits = list(pd.unique(table[visit]))
    arms = _fit_levels(fit, arm) or levels_of(table[arm])
    colours = arm_palette(arms, palette)
    ax = new_axes(ax, figsize=(visit_width(len(visits)), 4.5))
    pos = {v: i for i, v in enumerate(visits)}
    for off, level in zip(dodge(len(arms), 0.2), arms):
        part = table[table[arm] == level]
        x = part[visit].map(pos).to_numpy(dtype=float) + off
        est = part["estimate"].to_numpy()
        ax.errorbar(x, est, yerr=[est - part["lower"].to_numpy(), part["upper"].to_numpy() - est],
                    fmt="-o", color=colours[level], ms=5.5, lw=1.8, capsize=3, elinewidth=1.2,
                    label=str(level))
    if zero_line:
        ax.axhline(0, color=NEUTRAL, lw=0.8, ls="--", zorder=0)
    ax.set_xlim(-0.5, len(visits) - 0.5)
    ax.grid(axis="y", alpha=0.3)
    response = fit.settings.response
    label(ax, title if title is not None else f"LS mean {response} by {visit}", xlabel or visit,
          ylabel or f"LS mean {response} ({100 * ci:g}% CI)")
    legend_outside(ax, title=arm)
    visit_ticks(ax, range(len(visits)), visits)
    return ax


def split_compare_table(table: pd.DataFrame) -> tuple[list[str], str]:
    """The ``by`` columns and the level column of a :meth:`~trialmlm.MMRMResults.compare` table."""
    cols = list(table.columns)
    missing = [c for c in ("contrast", "estimate", "lower", "upper") if c not in cols]
    if missing:
        raise DataError(f"not a compare() table: column '{missing[0]}' is missing "
                        f"(columns: {', '.join(map(str, cols))})")
    i = cols.index("contrast")
    if i == 0:
        raise DataError("not a compare() table: no level column before 'contrast'")
    return cols[: i - 1], cols[i - 1]


def _contrast_arms(table: pd.DataFrame, level_col: str, fit_levels: list | None) -> list:
    """Arm levels for the palette (:func:`arm_palette`): the fit's, else the table's categories,
    else the reference (right of " - " in the contrasts) followed by the compared levels."""
    if fit_levels is not None:
        return fit_levels
    if isinstance(table[level_col].dtype, pd.CategoricalDtype):
        return list(table[level_col].cat.categories)
    return _reference_first(table["contrast"])


def _reference_first(contrasts: pd.Series) -> list:
    """The arms of "active - reference" contrasts, the references first (in order of appearance),
    then the active arms in natural order."""
    pairs = [str(c).rsplit(" - ", 1) for c in pd.unique(contrasts)]
    refs = list(dict.fromkeys(p[-1] for p in pairs))
    return refs + [a for a in sort_levels(p[0] for p in pairs) if a not in refs]


def _forest_table(fit_or_table, arm: str | None, visit: str | None, reference, ci: float, decimals,
                  compare_options: dict) -> tuple[pd.DataFrame, list | None, str | None, int]:
    """The compare() table to plot, the fit's arm levels (None for a table), the response
    (None for a table) and the decimals of the text (:func:`decimals_for`)."""
    if _is_fit(fit_or_table):
        if arm is None:
            raise DataError("difference_forest(fit, ...) needs arm= the treatment column")
        if visit is None:
            visit = fit_or_table.spec.repeated
        table = fit_or_table.compare(arm, by=visit, reference=reference, alpha=1 - ci, **compare_options)
        return (table, _fit_levels(fit_or_table, arm), fit_or_table.settings.response,
                decimals_for(fit_or_table.design.y, decimals).mean)
    if isinstance(fit_or_table, pd.DataFrame):
        return fit_or_table, None, None, decimals_for(None, decimals).mean
    raise DataError(f"difference_forest needs a fit or a compare() table, got {type(fit_or_table).__name__}")


def _forest_rows(table: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, list, list]:
    """y of each row (its ``by`` group, first at 0, dodged by contrast), the groups and the
    contrasts in table order."""
    groups = (table[by].astype(str).agg(", ".join, axis=1) if by else pd.Series("", index=table.index))
    group_order = list(pd.unique(groups))
    contrasts = list(pd.unique(table["contrast"]))
    offsets = dodge(len(contrasts), 0.5)
    y = np.array([group_order.index(g) for g in groups], dtype=float)
    y += np.array([offsets[contrasts.index(c)] for c in table["contrast"]])
    return y, group_order, contrasts


def _forest_bars(ax: Axes, table: pd.DataFrame, y: np.ndarray, contrasts: list, level_col: str,
                 colours: dict) -> None:
    """Each contrast's estimates and limits, coloured as its compared arm."""
    for c in contrasts:
        sel = (table["contrast"] == c).to_numpy()
        lev = table.loc[sel, level_col].iloc[0]
        colour = colours.get(lev, colours.get(str(lev), OKABE_ITO[0]))
        est = table.loc[sel, "estimate"].to_numpy()
        ax.errorbar(est, y[sel], xerr=[est - table.loc[sel, "lower"].to_numpy(),
                                       table.loc[sel, "upper"].to_numpy() - est],
                    fmt="s", color=colour, ms=6, capsize=3, elinewidth=1.6, label=str(c), zorder=3)


def _forest_labels(ax: Axes, contrasts: list, by: list[str], response: str | None, ci: float,
                   title: str | None, xlabel: str | None, ylabel: str | None) -> None:
    """Title, axis labels (defaults from the contrast, ``by`` and response) and, with several
    contrasts, the legend below the axes."""
    default_x = f"Difference in LS means of {response}" if response else "Difference in LS means"
    default_title = "Treatment difference" + (f" {contrasts[0]}" if len(contrasts) == 1 else "")
    default_title += f" by {', '.join(by)}" if by else ""
    label(ax, title if title is not None else default_title,
          xlabel or f"{default_x} ({100 * ci:g}% CI)", ylabel if ylabel is not None else ", ".join(by))
    if len(contrasts) > 1:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(contrasts), 3),
                  frameon=False, fontsize=LEGEND_SIZE,
                  bbox_transform=ax.transAxes + ScaledTranslation(0, -0.55, ax.figure.dpi_scale_trans))


def difference_forest(fit_or_table, arm: str | None = None, visit: str | None = None, reference=None,
                      ax: Axes | None = None, ci: float = 0.95, palette: Mapping | None = None,
                      title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
                      show_text: bool = True, decimals: int | None = None, **compare_options) -> Axes:
    r"""Forest plot of treatment differences per visit (and contrast) with CIs.

    Parameters
    ----------
    fit_or_table : a fit, whose ``fit.compare(arm, by=visit, reference=reference,
        alpha=1 - ci, **compare_options)`` is plotted, or a table with the columns of
        ``compare`` (``by`` columns, the level column, ``contrast, estimate, ..., p, lower,
        upper``), e.g. from multiple imputation.  Rows keep the table's order, first visit
        at the top.
    ci : the level of the table's intervals (label only when a table is given).
    show_text : write "estimate (lower, upper)" and the p-value right of the plot, as
        :func:`trialmlm.tables.mmrm_table` does: :math:`d + 1` decimals, p as SAS PVALUE6.4.
    decimals : the data decimals :math:`d` (:func:`trialmlm.tables.formats.decimals_for`); default
        the precision of the fit's response, or 1 for a table.

    Each contrast is coloured as its compared arm; the vertical line marks no difference.
    Returns the Axes.
    """
    table, fit_levels, response, d = _forest_table(fit_or_table, arm, visit, reference, ci, decimals,
                                                   compare_options)
    by, level_col = split_compare_table(table)
    colours = arm_palette(_contrast_arms(table, level_col, fit_levels), palette)
    y, group_order, contrasts = _forest_rows(table, by)
    ax = new_axes(ax, figsize=(9.0, 1.4 + 0.45 * len(table)))
    ax.axvline(0, color=NEUTRAL, lw=1.0, zorder=1)
    _forest_bars(ax, table, y, contrasts, level_col, colours)
    ax.set_yticks(range(len(group_order)), group_order)
    ax.set_ylim(len(group_order) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    if len(contrasts) > 1:
        for b in np.arange(len(group_order) - 1) + 0.5:
            ax.axhline(b, color="#BBBBBB", lw=0.6, zorder=0)
    if show_text:
        _forest_text(ax, table, y, ci, d)
    _forest_labels(ax, contrasts, by, response, ci, title, xlabel, ylabel)
    return ax


def _forest_text(ax: Axes, table: pd.DataFrame, y: np.ndarray, ci: float, decimals: int) -> None:
    """Columns "estimate (lower, upper)" and p right of the axes, decimal-aligned (monospace)."""
    cells = {c: [fmt_number(v, decimals, NOT_ESTIMABLE, MINUS) for v in table[c]]
             for c in ("estimate", "lower", "upper")}
    width = {c: max(len(v) for v in vals) for c, vals in cells.items()}
    texts = [f"{e.rjust(width['estimate'])} ({lo.rjust(width['lower'])}, {up.rjust(width['upper'])})"
             for e, lo, up in zip(cells["estimate"], cells["lower"], cells["upper"])]
    fig = ax.figure
    char = (NOTE_SIZE + 0.5) * 0.6 / 72  # monospace character width in inches
    x_p = 0.12 + char * (max(len(t) for t in texts) + 3)
    rows = blended_transform_factory(ax.transAxes, ax.transData)
    head = ax.transAxes
    columns = [(0.12, texts, f"Difference ({100 * ci:g}% CI)")]
    if "p" in table.columns:
        columns.append((x_p, [fmt_p(p) for p in table["p"]], "p-value"))
    for dx, values, header in columns:
        shift = ScaledTranslation(dx, 0, fig.dpi_scale_trans)
        for yi, text in zip(y, values):
            ax.text(1.0, yi, text, transform=rows + shift, va="center", ha="left",
                    fontsize=NOTE_SIZE + 0.5, family="monospace")
        ax.text(1.0, 1.0, header, fontsize=NOTE_SIZE + 0.5, weight="bold", va="bottom", ha="left",
                transform=head + shift + ScaledTranslation(0, 0.04, fig.dpi_scale_trans))


def _tipping_parts(table: pd.DataFrame, palette: Mapping | None) -> list[tuple]:
    """(contrast, its rows, colour) per contrast (one part named None without a ``contrast``
    column), coloured as the contrast's first arm."""
    if "contrast" not in table.columns:
        return [(None, table, OKABE_ITO[0])]
    contrasts = list(pd.unique(table["contrast"]))
    colours = arm_palette(_reference_first(table["contrast"]), palette)
    return [(c, table[table["contrast"] == c], colours[str(c).rsplit(" - ", 1)[0]]) for c in contrasts]


def _tipping_curves(ax: Axes, parts: list[tuple], alpha: float) -> None:
    """Per contrast: the CI band, the estimate, filled markers where p < alpha, open ones elsewhere."""
    for name, part, colour in parts:
        part = part.sort_values("delta")
        d = part["delta"].to_numpy(dtype=float)
        ax.fill_between(d, part["lower"], part["upper"], color=colour, alpha=0.18, lw=0, zorder=2)
        ax.plot(d, part["estimate"], "-", color=colour, lw=1.8, zorder=3,
                label=str(name) if name is not None else "Estimate")
        sig = part["p"].to_numpy() < alpha
        ax.plot(d[sig], part["estimate"].to_numpy()[sig], "o", color=colour, ms=5.5, zorder=4)
        ax.plot(d[~sig], part["estimate"].to_numpy()[~sig], "o", mfc="white", mec=colour, mew=1.4, ms=5.5,
                zorder=4)


def _tipping_points(tp, parts: list[tuple]) -> tuple[list[tuple], list]:
    """(contrast, tipping delta, colour) of the contrasts that tip, and the contrasts not
    significant under MAR (``tp.status``; they have no tipping point)."""
    tipping = getattr(tp, "tipping_deltas", None)
    if tipping is None:
        tipping = {parts[0][0]: getattr(tp, "tipping_delta", None)}
    status = getattr(tp, "status", None)  # TippingPoint: nothing tips when the primary is not significant
    not_significant = [name for name, _, _ in parts if status is not None and status(name) == NOT_SIGNIFICANT]
    found = [(name, tipping.get(name), colour) for name, _, colour in parts if name not in not_significant
             and tipping.get(name) is not None and np.isfinite(tipping.get(name))]
    return found, not_significant


def _mark_tipping_points(ax: Axes, found: list[tuple], n_parts: int, decimals: int) -> float:
    """A dashed vertical line at each tipping point, labelled with its delta above the axes
    (outside the data, so that no line or curve crosses a label), the labels stacked; returns
    the height of the stack in points."""
    height = 0.0
    for name, td, colour in found:
        line_colour = "black" if len(found) == 1 else colour
        ax.axvline(td, color=line_colour, lw=1.2, ls="--", zorder=5)
        what = "Tipping point" if n_parts == 1 else f"Tipping point,\n{name}"
        text = f"{what}\n\u0394 = {fmt_number(td, decimals, minus=MINUS)}"
        ax.annotate(text, xy=(td, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 3 + height),
                    textcoords="offset points", ha="center", va="bottom", fontsize=NOTE_SIZE + 0.5,
                    color=line_colour, annotation_clip=False)
        height += 3 + 1.2 * (NOTE_SIZE + 0.5) * (text.count("\n") + 1)
    return height


def _tipping_notes(ax: Axes, n_parts: int, n_found: int, not_significant: list, alpha: float) -> None:
    """Below the axes: the contrasts not significant under MAR, and those that never tip."""
    notes = []
    if not_significant:
        which = "" if n_parts == 1 else "".join(f"\n  {c}" for c in not_significant)
        notes.append(f"Not significant under MAR (p \u2265 {alpha:g}), no tipping point{which}")
    never = n_parts - n_found - len(not_significant)
    if never:
        which = "" if n_parts == 1 else f" for {never} of {n_parts} contrasts"
        notes.append(f"No tipping point in the range shown{which} (p < {alpha:g} throughout)")
    if notes:
        ax.text(0.0, -0.16, "\n".join(notes), transform=ax.transAxes, ha="left", va="top",
                fontsize=NOTE_SIZE + 0.5)  # below the axis label, outside the data


def tipping_point_plot(tp, ax: Axes | None = None, palette: Mapping | None = None, title: str | None = None,
                       xlabel: str | None = None, ylabel: str | None = None,
                       decimals: int | None = None) -> Axes:
    r"""Treatment difference and CI against the sensitivity shift :math:`\Delta`.

    ``tp`` is a :class:`trialmlm.estimands.TippingPoint` (or any object with ``table`` —
    columns ``delta, estimate, lower, upper, p`` and optionally ``contrast`` —,
    ``tipping_delta``, ``alpha`` and ``visit``).  Filled markers: :math:`p < \alpha`;
    open markers: :math:`p \ge \alpha`.  A dashed vertical line marks each contrast's tipping
    point (``tipping_deltas``, or ``tipping_delta`` for one contrast), the first
    :math:`\Delta` at which the difference is no longer significant, labelled with
    ``decimals`` decimals (default: those of the :math:`\Delta` grid,
    :func:`trialmlm.tables.formats.decimals_for`); a contrast whose primary difference is not
    significant (``tp.status``) gets a note instead, as in
    :func:`trialmlm.tables.sensitivity_table`.  Returns the Axes.
    """
    table = tp.table
    alpha = float(getattr(tp, "alpha", 0.05))
    ax = new_axes(ax)
    parts = _tipping_parts(table, palette)
    ax.axhline(0, color=NEUTRAL, lw=1.0, zorder=1)
    _tipping_curves(ax, parts, alpha)
    found, not_significant = _tipping_points(tp, parts)
    labels_height = _mark_tipping_points(ax, found, len(parts), decimals_for(table["delta"], decimals).data)
    _tipping_notes(ax, len(parts), len(found), not_significant, alpha)
    ax.grid(alpha=0.3)
    visit = getattr(tp, "visit", None)
    label(ax, None, xlabel or "\u0394 (shift applied to imputed values)",
          ylabel or f"Treatment difference ({100 * (1 - alpha):g}% CI)")
    ax.set_title(title if title is not None else "Tipping-point analysis" + (f" at {visit}" if visit else ""),
                 fontsize=TITLE_SIZE, pad=6 + labels_height)  # above the tipping-point labels
    handles, names = ax.get_legend_handles_labels()
    handles += [Line2D([], [], ls="", marker="o", color=NEUTRAL, ms=5.5),
                Line2D([], [], ls="", marker="o", mfc="white", mec=NEUTRAL, mew=1.4, ms=5.5)]
    names += [f"p < {alpha:g}", f"p \u2265 {alpha:g}"]
    legend_outside(ax, handles=handles, labels=names)
    return ax
