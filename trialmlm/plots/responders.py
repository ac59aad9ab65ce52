r"""Plots of a responder (binary) endpoint: response rates by arm over visits.

The numbers are :func:`trialmlm.inference.proportions.responder_rates` (percent responders
among the records with a known status, Wilson score limits); nothing is modelled here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..inference.proportions import responder_rates
from .style import (
    arm_palette,
    check_columns,
    dodge,
    label,
    legend_outside,
    new_axes,
    visit_ticks,
    visit_width,
)


def responder_proportions(df: pd.DataFrame, visit: str, response: str, arm: str, ci: float = 0.95,
                          ax: Axes | None = None, palette: Mapping | None = None, title: str | None = None,
                          xlabel: str | None = None, ylabel: str | None = None) -> Axes:
    r"""Percent responders with Wilson confidence intervals per arm and visit, arms dodged.

    ``response`` holds 1 (responder), 0 or missing (not counted); the interval is the
    Wilson score interval at level ``ci`` (:mod:`trialmlm.inference.proportions`).  Visits
    and arms keep their factor order.  Returns the Axes.
    """
    check_columns(df, visit=visit, response=response, arm=arm)
    rates = responder_rates(df, arm, visit, response, alpha=1 - ci)
    visits = list(pd.unique(rates["visit"]))
    arms = list(pd.unique(rates["arm"]))
    colours = arm_palette(arms, palette)
    ax = new_axes(ax, figsize=(visit_width(len(visits)), 4.5))
    pos = {v: i for i, v in enumerate(visits)}
    for off, level in zip(dodge(len(arms), 0.2), arms):
        part = rates[(rates["arm"] == level) & (rates["n"] > 0)]
        x = part["visit"].map(pos).to_numpy(dtype=float) + off
        pct = part["percent"].to_numpy(dtype=float)
        lower, upper = (100 * part[c].to_numpy(dtype=float) for c in ("lower", "upper"))
        ax.errorbar(x, pct, yerr=np.clip([pct - lower, upper - pct], 0, None), fmt="-o", color=colours[level],
                    ms=5.5, lw=1.8, capsize=3, elinewidth=1.2, label=str(level))
    ax.set_xlim(-0.5, len(visits) - 0.5)
    top = np.nanmax(100 * rates["upper"].to_numpy(dtype=float)) if rates["n"].any() else 100.0
    ax.set_ylim(0, min(100.0, 10 * np.ceil(top / 10) + 5))
    ax.grid(axis="y", alpha=0.3)
    label(ax, title if title is not None else f"Responders ({response}) by {visit}", xlabel or visit,
          ylabel or f"Responders, % ({100 * ci:g}% CI, Wilson)")
    legend_outside(ax, title=arm)
    visit_ticks(ax, range(len(visits)), visits)
    return ax
