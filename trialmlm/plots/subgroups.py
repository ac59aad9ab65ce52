r"""Forest plot of subgroup analyses (:func:`trialmlm.subgroups`), as submissions show it.

One row per subgroup level (and contrast, with several arms), grouped under the subgroup
variable's name, the overall effect on top; the estimate and its CI, a vertical line at no
difference, and at the right of the axes the subjects per arm, "estimate (lower, upper)"
and, on each variable's row, the p-value of its treatment-by-subgroup interaction at the
visit.  Each contrast has the colour of its compared arm (:func:`trialmlm.plots.arm_palette`
over the arms, reference first).  Not-estimable rows (small cells) show "NE" and no marker.
Nothing is recomputed: the numbers are those of :attr:`SubgroupResult.table`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.transforms import ScaledTranslation, blended_transform_factory

from ..tables.formats import MINUS, NOT_ESTIMABLE, fmt_number, fmt_p
from .style import LEGEND_SIZE, NEUTRAL, NOTE_SIZE, TITLE_SIZE, arm_palette, label, new_figure

ROW_HEIGHT = 0.3  # inches per row
TEXT_SIZE = NOTE_SIZE + 0.5
CHAR = TEXT_SIZE * 0.6 / 72  # monospace character width, inches
LABEL_CHAR = TEXT_SIZE * 0.62 / 72  # an upper-case-heavy label's character width (DejaVu Sans), inches


def forest_rows(result) -> pd.DataFrame:
    """The plot's rows top to bottom: ``kind`` ("variable" header or "estimate"), ``text``
    (the left label), ``p`` (interaction p on a header), and the table's columns on an
    estimate row (the level's name on its first contrast only)."""
    table, labels = result.table, result.labels
    p_at = result.interaction_p("at visit")
    rows = []
    for variable, block in table.groupby("variable", sort=False):
        overall = variable == block["level"].iloc[0]
        if not overall:
            rows.append({"kind": "variable", "text": str(labels.get(variable, variable)),
                         "p": p_at.get(variable, np.nan)})
        for level, part in block.groupby("level", sort=False):
            for i, (_, r) in enumerate(part.iterrows()):
                name = str(level) if overall else f"   {level}"
                rows.append({**r.to_dict(), "kind": "estimate", "text": name if i == 0 else "", "p": np.nan})
    return pd.DataFrame(rows)


def subgroup_forest(result, ax: Axes | None = None, palette: Mapping | None = None, decimals: int = 1,
                    title: str | None = None, xlabel: str | None = None, show_text: bool = True,
                    width: float = 3.0) -> Axes:
    """Draw the forest plot of a :class:`trialmlm.inference.subgroups.SubgroupResult` on ``ax``
    (a new figure when None: the labels, a ``width``-inch plot and the text columns side by side).

    ``decimals``: the data decimals :math:`d`; estimates and limits are written with
    :math:`d + 1` (as :func:`trialmlm.tables.mmrm_table`), p as SAS PVALUE6.4.  Returns the Axes.
    """
    rows = forest_rows(result)
    columns = _text_columns(rows, result, decimals) if show_text else []
    left = LABEL_CHAR * max(len(t) for t in rows["text"]) + 0.25
    if ax is None:
        right = sum(w for _, _, w in columns) + 0.2
        height, top, bottom = ROW_HEIGHT * len(rows), 0.75, 0.75 + 0.22 * len(result.arms)
        size = (left + width + right, height + top + bottom)
        ax = new_figure(figsize=size, layout=None).add_axes(
            (left / size[0], bottom / size[1], width / size[0], height / size[1]))
    colours = arm_palette([result.reference] + [a for a in result.arms if a != result.reference], palette)
    ax.axvline(0, color=NEUTRAL, lw=1.0, zorder=1)
    est = rows["estimate"].to_numpy(dtype=float) if "estimate" in rows else np.full(len(rows), np.nan)
    ok = (rows["kind"] == "estimate").to_numpy() & np.isfinite(est)
    for i in np.flatnonzero(ok):
        r = rows.iloc[i]
        c = colours.get(str(r["arm"]), NEUTRAL)
        overall = r["variable"] == r["level"]
        ax.plot([r["lower"], r["upper"]], [i, i], color=c, lw=1.6, zorder=2)
        ax.plot(r["estimate"], i, marker="D" if overall else "s", ms=7 if overall else 5.5, color=c, zorder=3)
    ax.set_yticks([])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    for b in np.flatnonzero((rows["kind"] == "variable").to_numpy()):
        ax.axhline(b - 0.5, color="#BBBBBB", lw=0.6, zorder=0)
    at_rows = blended_transform_factory(ax.transAxes, ax.transData)
    to_left = ScaledTranslation(-left + 0.1, 0, ax.figure.dpi_scale_trans)
    for i, (text, kind) in enumerate(zip(rows["text"], rows["kind"])):
        ax.text(0.0, i, text, transform=at_rows + to_left, va="center", ha="left", fontsize=TEXT_SIZE,
                weight="bold" if kind == "variable" else "normal")
    x = 0.15
    for header, values, w in columns:
        shift = ScaledTranslation(x, 0, ax.figure.dpi_scale_trans)
        for i, text in enumerate(values):
            if text:
                ax.text(1.0, i, text, transform=at_rows + shift, va="center", ha="left", fontsize=TEXT_SIZE,
                        family="monospace")
        ax.text(1.0, 1.0, header, fontsize=TEXT_SIZE, weight="bold", va="bottom", ha="left",
                transform=ax.transAxes + shift + ScaledTranslation(0, 0.04, ax.figure.dpi_scale_trans))
        x += w
    ci = 100 * (1 - result.alpha)
    label(ax, None, xlabel or f"Difference in LS means from {result.reference} ({ci:g}% CI)", None)
    ax.set_title(title if title is not None else
                 f"Treatment differences by subgroup at {result.visit} = {result.at_visit}", loc="left",
                 pad=22, fontsize=TITLE_SIZE)
    contrasts = rows.loc[ok, ["contrast", "arm"]].drop_duplicates("contrast")
    if len(contrasts) > 1:
        handles = [Line2D([], [], color=colours.get(str(a), NEUTRAL), marker="s", lw=1.6)
                   for a in contrasts["arm"]]
        below = ScaledTranslation(-left + 0.1, -0.5, ax.figure.dpi_scale_trans)
        ax.legend(handles, contrasts["contrast"].tolist(), loc="upper left", bbox_to_anchor=(0.0, 0.0),
                  ncol=1, frameon=False, fontsize=LEGEND_SIZE, bbox_transform=ax.transAxes + below)
    return ax


def _text_columns(rows: pd.DataFrame, result, decimals: int) -> list[tuple[str, list[str], float]]:
    """``(header, values, width in inches)`` of the columns right of the axes: n per arm
    ("arm/reference"), "estimate (lower, upper)" or the NE reason, and the interaction p on
    each variable's row."""
    est = (rows["kind"] == "estimate").to_numpy()
    n = [f"{int(a)}/{int(r)}" if k else "" for k, a, r in zip(est, rows["n_arm"].fillna(0),
                                                               rows["n_reference"].fillna(0))]
    cells = {c: [fmt_number(v, decimals + 1, NOT_ESTIMABLE, MINUS) if k else "" for k, v in zip(est, rows[c])]
             for c in ("estimate", "lower", "upper")}
    w = {c: max(len(v) for v in vals) for c, vals in cells.items()}
    diff = []
    notes = rows["note"].fillna("")
    for k, e, lo, up, note in zip(est, cells["estimate"], cells["lower"], cells["upper"], notes):
        if not k:
            diff.append("")
        elif note:
            diff.append(f"{NOT_ESTIMABLE}: " + note.removeprefix("NE: "))
        else:
            diff.append(f"{e.rjust(w['estimate'])} ({lo.rjust(w['lower'])}, {up.rjust(w['upper'])})")
    p = [fmt_p(v) if k == "variable" and np.isfinite(v) else "" for k, v in zip(rows["kind"], rows["p"])]
    ci = f"Difference ({100 * (1 - result.alpha):g}% CI)"
    columns = [("n arm/ref", n), (ci, diff),
               ("Interaction p", p)]
    fits = [[t for t in v if not t.startswith(NOT_ESTIMABLE)] for _, v in columns]  # an NE reason may run on
    return [(h, v, CHAR * (max(len(h) * 1.1, *(len(t) for t in f)) + 2)) for (h, v), f in zip(columns, fits)]
