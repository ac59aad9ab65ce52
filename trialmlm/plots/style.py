"""What every plot shares: the arm palette, level order, font sizes and axes creation.

The palette is Okabe & Ito's colour-blind-safe set (Okabe & Ito 2008, "Color Universal
Design"), without its yellow, which is unreadable on white.  Arms get colours by their
position in the arm's level order (pandas Categorical order, else natural sort — the
order the fit uses), so that an arm has the same colour in every plot of the same data.
Pass ``palette={"PBO": "grey", ...}`` to any plot to fix colours explicitly.
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


def arm_palette(levels: Iterable, palette: Mapping | None = None) -> dict:
    """Colour of each arm: Okabe-Ito colours in level order, overridden by ``palette``.

    Levels beyond the seven colours cycle.  ``palette`` entries win for the arms they name;
    the other arms keep the colour of their position, so adding an override never shifts
    the colours of the remaining arms.
    """
    colours = {lev: OKABE_ITO[i % len(OKABE_ITO)] for i, lev in enumerate(levels)}
    if palette:
        colours.update({k: v for k, v in palette.items() if k in colours})
    return colours


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


def legend_outside(ax: Axes, **kwargs):
    """Legend to the right of the axes, never over the data."""
    kwargs.setdefault("fontsize", LEGEND_SIZE)
    kwargs.setdefault("title_fontsize", LEGEND_SIZE)
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0,
                     **kwargs)


def figure_legend(fig: Figure, handles, labels, ncol: int | None = None):
    """One legend for a multi-panel figure, centred below the panels."""
    ncol = ncol or len(handles)
    try:  # matplotlib >= 3.7: constrained layout reserves the room
        return fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False,
                          fontsize=LEGEND_SIZE)
    except ValueError:
        return fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, -0.02), ncol=ncol,
                          frameon=False, fontsize=LEGEND_SIZE)


def dodge(n: int, width: float = 0.25) -> np.ndarray:
    """Horizontal offsets for ``n`` series around a category position."""
    if n <= 1:
        return np.zeros(max(n, 1))
    return np.linspace(-width / 2, width / 2, n)

