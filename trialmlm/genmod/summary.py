"""SAS GENMOD-style text of a GEE fit (``GEEResults.summary()``)."""

from __future__ import annotations

import numpy as np


def _row(cells, widths) -> str:
    return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def _number(x: float) -> str:
    return "." if not np.isfinite(x) else f"{x:.4f}" if abs(x) >= 1e-4 or x == 0 else f"{x:.4g}"


def render(fit) -> str:
    """The "GEE Model Information", "Working Correlation Matrix" and "Analysis Of GEE
    Parameter Estimates / Empirical Standard Error Estimates" tables of SAS PROC GENMOD."""
    s, d, p = fit.settings, fit.design, fit.problem
    counts = np.bincount(d.subject)
    info = [
        ("Distribution", p.family.sas.title()), ("Link Function", p.link.sas.title()),
        ("Dependent Variable", fit.formula.response),
        ("Correlation Structure", p.working.sas if p.working.name != "mdep" else f"MDEP({p.working.m})"),
        ("Within-Subject Effect",
         f"{s.visit} ({len(d.position_labels)} levels)" if s.visit else "(row order)"),
        ("Subject Effect", f"{s.subject} ({d.n_subjects} levels)"),
        ("Number of Clusters", d.n_subjects), ("Correlation Matrix Dimension", len(d.position_labels)),
        ("Maximum Cluster Size", int(counts.max())), ("Minimum Cluster Size", int(counts.min())),
        ("Moment convention", s.moments), ("Scale (phi)", _number(fit.scale)),
        ("Algorithm converged", "yes" if fit.converged else "NO"),
    ]
    lines = ["GEE Model Information", *(f"  {k:<30}{v}" for k, v in info), ""]
    if p.working.name != "independence":
        R = fit.working_correlation
        labels = [str(v) for v in R.columns]
        widths = [max(8, *map(len, labels))] * (len(labels) + 1)
        lines += ["Working Correlation Matrix", _row(["", *labels], widths)]
        lines += [_row([lab, *(f"{v:.4f}" for v in R.iloc[i])], widths) for i, lab in enumerate(labels)]
        lines.append("")
    label = "Empirical" if s.vcov == "robust" else "Model-Based"
    table = fit.coef_table()
    widths = [max(9, *map(len, fit.names)), 10, 10, 10, 10, 8, 8]
    lines += ["Analysis Of GEE Parameter Estimates", f"{label} Standard Error Estimates",
              _row(["Parameter", "Estimate", "Standard Error", "95% Lower", "95% Upper", "Z", "Pr > |Z|"],
                   widths)]
    for r in table.itertuples(index=False):
        lines.append(_row([r.term, _number(r.estimate), _number(r.se), _number(r.lower), _number(r.upper),
                           f"{r.t:.2f}", "<.0001" if r.p < 1e-4 else f"{r.p:.4f}"], widths))
    return "\n".join(lines)
