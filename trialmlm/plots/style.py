"""What every plot shares: the arm palette, level order, font sizes and axes creation.

The palette is Okabe & Ito's colour-blind-safe set (Okabe & Ito 2008, "Color Universal
Design"), without its yellow, which is unreadable on white.  Arms get colours from their
names, not their positions (:func:`arm_palette`): the first level of the arm's order (the
reference arm, which the report puts first) takes the first colour, the other arms the
next colours in the natural order of their names, so that an arm has the same colour in
every plot of a report, whatever order a table lists the arms in; a difference takes its
active arm's colour.  Pass ``palette={"PBO": "grey", ...}`` to any plot to fix colours
explicitly.

Visit axes adapt to the number of visits and the length of their labels
(:func:`visit_ticks`, :func:`visit_width`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..engine.design import factor_levels, natural_key
from ..missing.patterns import require_columns

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MISSING_GREY = "#D9D9D9"
NEUTRAL = "#4D4D4D"

TITLE_SIZE = 12
LABEL_SIZE = 11
TICK_SIZE = 10
LEGEND_SIZE = 9.5
NOTE_SIZE = 9

GLYPH_WIDTH = 0.6  # average width of a tick-label character, in ems (DejaVu Sans, digits and letters)
LINE_HEIGHT = 1.3  # height of a tick-label line with its spacing, in ems
ROTATIONS = (30, 45)
LEAST_AXES_SHARE = 0.4  # an axes keeps at least this share of its grid column after layout


def arm_palette(levels: Iterable, palette: Mapping | None = None) -> dict:
    """Colour of each arm, ``{level: colour}`` in the order of ``levels``.

    The first level (the reference arm) gets ``OKABE_ITO[0]``; the other levels get
    ``OKABE_ITO[1], OKABE_ITO[2], ...`` in the natural order of their names (``V2`` before
    ``V10``), cycling beyond the seventh, so that reordering the arms after the first never
    recolours them.  ``palette`` entries win for the arms they name; the other arms keep
    their colours, so an override never shifts the colours of the remaining arms.
    """
    levels = list(levels)
    others = sorted(levels[1:], key=natural_key)
    rank = {lev: i for i, lev in enumerate(levels[:1] + others)}
    colours = {lev: OKABE_ITO[rank[lev] % len(OKABE_ITO)] for lev in levels}
    if palette:
        colours.update({k: v for k, v in palette.items() if k in colours})
    return colours


def tick_layout(labels: Iterable, slot: float, fontsize: float = TICK_SIZE) -> tuple[int, int]:
    r"""How to write category labels ``slot`` inches apart: ``(rotation, step)``.

    With :math:`w` the widest label line (characters :math:`\times` ``GLYPH_WIDTH`` em) and
    :math:`h` its height (lines :math:`\times` ``LINE_HEIGHT`` em, 1 em = ``fontsize``/72 in):

    * horizontal, every label, when :math:`w + 1\,\mathrm{em} \le` ``slot``;
    * else rotated by the smaller of 30 and 45 degrees at which neighbouring labels, which are
      ``slot`` :math:`\sin\theta` apart across their direction, do not touch:
      :math:`h \le \mathrm{slot}\,\sin\theta`;
    * else at 45 degrees, every ``step``-th label with ``step`` :math:`=\lceil h / (\mathrm{slot}
      \sin 45^\circ)\rceil`.
    """
    lines = [str(lab).split("\n") for lab in labels]
    em = fontsize / 72.0
    width = max((len(line) for lab in lines for line in lab), default=0) * GLYPH_WIDTH * em
    height = max((len(lab) for lab in lines), default=1) * LINE_HEIGHT * em
    if width + em <= slot:
        return 0, 1
    for angle in ROTATIONS:
        if height <= slot * np.sin(np.radians(angle)):
            return angle, 1
    angle = ROTATIONS[-1]
    return angle, int(np.ceil(height / (slot * np.sin(np.radians(angle)))))


def visit_ticks(ax, positions, labels) -> tuple[int, int]:
    """Label the x axis at ``positions`` with ``labels`` laid out by :func:`tick_layout`.

    ``ax`` is one Axes or an array of Axes of equal width (the panels of a grid), labelled
    alike.  The slot is the smallest gap between positions in inches at the first axes' x
    limits and width.  The layout is decided at the widths the axes can have, its grid
    column and ``LEAST_AXES_SHARE`` of it; only when these decisions differ is the width
    measured after the figure's layout engine has placed the labels and legends drawn so far
    (so add a legend beside the axes before calling this; a layout pass costs 0.1 s).  Rotated
    labels end at their tick (``ha="right"``); when labels are thinned, every tick keeps its
    mark and the last visit (the primary one) keeps its label.  Returns ``(rotation, step)``.
    """
    panels = list(np.ravel(np.asarray([ax], dtype=object)))
    positions = np.asarray(positions, dtype=float)
    labels = [str(lab) for lab in labels]
    for one in panels:
        one.set_xticks(positions, labels)
    first = panels[0]
    fig = first.get_figure(root=True)
    lo, hi = first.get_xlim()
    gap = np.min(np.diff(np.sort(positions))) if positions.size > 1 else abs(hi - lo)
    per_inch = gap / max(abs(hi - lo), 1e-12)
    spec = first.get_subplotspec()
    column = fig.get_figwidth() / (spec.get_gridspec().ncols if spec is not None else 1)
    rotation, step = tick_layout(labels, column * per_inch)
    if (rotation, step) != tick_layout(labels, LEAST_AXES_SHARE * column * per_inch):
        if fig.get_layout_engine() is not None:
            fig.get_layout_engine().execute(fig)
        rotation, step = tick_layout(labels, first.get_position().width * fig.get_figwidth() * per_inch)
    shown = [lab if (len(labels) - 1 - i) % step == 0 else "" for i, lab in enumerate(labels)]
    for one in panels:
        if rotation:
            one.set_xticks(positions, shown, rotation=rotation, ha="right", rotation_mode="anchor")
        else:
            one.set_xticks(positions, shown)
    return rotation, step


def visit_width(n_visits: int, least: float = 7.0, per_visit: float = 0.45, most: float = 13.0) -> float:
    """Width in inches of a visit-axis figure (or panel): ``2.5 + per_visit * n_visits`` bounded
    to ``[least, most]``."""
    return float(min(max(least, 2.5 + per_visit * n_visits), most))


def levels_of(values) -> list:
    """Levels of a factor in the fit's order (Categorical order, else natural sort)."""
    return factor_levels(values if isinstance(values, pd.Series) else pd.Series(values))


def sort_levels(values: Iterable) -> list:
    """Distinct values in natural order (for labels recovered from tables)."""
    return sorted(set(values), key=natural_key)


def check_columns(df: pd.DataFrame, **columns) -> None:
    """DataError naming the first role whose column is not in ``df``."""
    require_columns(df, columns)


_DETACHED = contextvars.ContextVar("detached_figures", default=False)


@contextlib.contextmanager
def detached_figures():
    """New figures inside this block are plain :class:`~matplotlib.figure.Figure` objects,
    not registered with pyplot: no GUI backend is touched (the caller's backend stays as
    it is) and nothing needs ``plt.close``.  Used by the report, which only saves them."""
    token = _DETACHED.set(True)
    try:
        yield
    finally:
        _DETACHED.reset(token)


def new_figure(**kwargs) -> Figure:
    """A new figure (constrained layout): through pyplot, or detached (see
    :func:`detached_figures`)."""
    kwargs.setdefault("layout", "constrained")
    return Figure(**kwargs) if _DETACHED.get() else plt.figure(**kwargs)


def new_axes(ax: Axes | None, figsize=(7.0, 4.5)) -> Axes:
    """``ax`` itself, or the axes of a new constrained-layout figure."""
    if ax is not None:
        return ax
    return new_figure(figsize=figsize).add_subplot()


def new_grid(n: int, axes, ncols: int | None = None, panel=(3.6, 3.0), sharex=True,
             sharey=True) -> np.ndarray:
    """A flat array of ``n`` axes: ``axes`` if given (checked), else a new grid."""
    if axes is not None:
        axes = np.ravel(np.asarray(axes, dtype=object))
        if axes.size < n:
            raise ValueError(f"this plot needs {n} axes, got {axes.size}")
        return axes[:n]
    ncols = ncols or min(n, 3)
    nrows = int(np.ceil(n / ncols))
    fig = new_figure(figsize=(panel[0] * ncols + 0.6, panel[1] * nrows + 0.8))
    grid = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey)
    flat = grid.ravel()
    for extra in flat[n:]:
        extra.set_visible(False)
    return flat[:n]


def label(ax: Axes, title: str | None, xlabel: str | None, ylabel: str | None) -> Axes:
    """Title and axis labels at the shared font sizes (None leaves a text unset)."""
    if title is not None:
        ax.set_title(title, fontsize=TITLE_SIZE)
    if xlabel is not None:
        ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    if ylabel is not None:
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    return ax


def label_outer(grid: np.ndarray, xlabel: str | None, ylabel: str | None) -> None:
    """x label (and tick labels) on the lowest panel of each column, y label on the first column."""
    n = len(grid)
    for i, ax in enumerate(grid):
        spec = ax.get_subplotspec()
        ncols = spec.get_gridspec().ncols if spec is not None else 1
        if i + ncols >= n:
            ax.tick_params(axis="x", labelbottom=True)
            label(ax, None, xlabel, None)
        if spec is None or spec.is_first_col():
            label(ax, None, None, ylabel)


def legend_outside(ax: Axes, handles=None, labels=None, title: str | None = None):
    """Legend never over the data: below the figure (:func:`figure_legend`, the axes keep the
    full width) when ``ax`` is the figure's only visible axes, else right of ``ax``.
    ``handles``, ``labels`` default to those of ``ax``."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    fig = ax.get_figure(root=True)
    if sum(a.get_visible() for a in fig.axes) == 1:
        return figure_legend(fig, handles, labels, title=title)
    return ax.legend(handles, labels, title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                     frameon=False, borderaxespad=0.0, fontsize=LEGEND_SIZE, title_fontsize=LEGEND_SIZE)


def legend_columns(labels, width: float) -> int:
    """Columns of a legend ``width`` inches wide: as many entries per row as fit when each
    takes the widest label plus 4 em (handle and spacing) at ``LEGEND_SIZE``."""
    labels = [str(lab) for lab in labels]
    entry = (max((len(lab) for lab in labels), default=0) + 4) * GLYPH_WIDTH * LEGEND_SIZE / 72.0
    return int(max(1, min(len(labels), width // entry)))


def figure_legend(fig: Figure, handles, labels, ncol: int | None = None, title: str | None = None,
                  **kwargs):
    """One legend for a figure, centred below its axes (which keep the full width), in
    ``ncol`` columns (default :func:`legend_columns` of the figure width); ``kwargs`` go to
    :meth:`~matplotlib.figure.Figure.legend`."""
    ncol = ncol or legend_columns(labels, fig.get_figwidth())
    common = dict(ncol=ncol, frameon=False, fontsize=LEGEND_SIZE, title=title, title_fontsize=LEGEND_SIZE,
                  **kwargs)
    try:  # matplotlib >= 3.7: constrained layout reserves the room
        return fig.legend(handles, labels, loc="outside lower center", **common)
    except ValueError:
        return fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, -0.02), **common)


def dodge(n: int, width: float = 0.25) -> np.ndarray:
    """Horizontal offsets for ``n`` series around a category position."""
    if n <= 1:
        return np.zeros(max(n, 1))
    return np.linspace(-width / 2, width / 2, n)

