"""Missing-data patterns and dropout by arm and visit.

Each subject's response is classified across the ordered visits (Categorical order, else
natural sort, as in model fitting):

* ``complete``: observed at every visit;
* ``monotone``: observed up to some visit and missing at every later one (dropout);
* ``intermittent``: a missing visit followed by an observed one;
* ``none``: never observed.

The dropout visit of a subject is the first visit after its last observed one (none for
completers and for subjects whose only gaps are intermittent and who are observed at the
last visit).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.duplicates import duplicated_visit
from ..engine.design import factor_levels
from ..errors import DataError


def require_columns(df: pd.DataFrame, columns: dict) -> None:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(df).__name__}")
    for role, col in columns.items():
        if col is not None and col not in df.columns:
            raise DataError(f"column '{col}' ({role}) is not in the data")


ADAM_COLUMNS = {"subject": "USUBJID", "visit": "AVISIT", "response": "CHG"}


def long_data(data, subject: str | None, visit: str | None, response: str | None,
              ) -> tuple[pd.DataFrame, str, str, str]:
    """The long data and its subject, visit and response columns, from a fit or a DataFrame.

    A fit (:class:`trialmlm.MMRMResults`) gives its rows (every row of the model's
    columns, also those with a missing response) and its subject, visit and response; a
    DataFrame takes the ADaM names ``USUBJID``, ``AVISIT``, ``CHG`` for any not given.
    """
    if hasattr(data, "design") and hasattr(data, "settings"):
        s = data.settings
        if not s.visit or not isinstance(data.design.source, pd.DataFrame):
            raise DataError("the fit has no visit variable (a model over continuous time); pass the data "
                            "frame with subject=, visit= and response=")
        return (data.design.source, subject or s.subject, visit or s.visit[0], response or s.response)
    return (data, subject or ADAM_COLUMNS["subject"], visit or ADAM_COLUMNS["visit"],
            response or ADAM_COLUMNS["response"])


def observation_matrix(df: pd.DataFrame, subject: str, visit: str, response: str,
                       arm: str | None = None) -> tuple[pd.DataFrame, list, pd.Series | None]:
    """Subjects x visits boolean matrix of observed responses, the visit order and each
    subject's arm (a Categorical in the arm order of the data: Categorical categories,
    else natural sort).  A subject-visit without a row counts as missing."""
    require_columns(df, {"subject": subject, "visit": visit, "response": response, "arm": arm})
    visits = factor_levels(df[visit])
    rows = df.dropna(subset=[subject, visit])
    if rows.empty:
        raise DataError("the data frame has no rows" if df.empty else
                        f"no row has both a subject ('{subject}') and a visit ('{visit}')")
    found = duplicated_visit(rows, subject, visit)
    if found is not None:
        raise DataError(f"subject {found[0]!r} has more than one row at {visit} = {found[1]!r}")
    observed = (rows.assign(_obs=rows[response].notna())
                .pivot(index=subject, columns=visit, values="_obs")
                .reindex(columns=visits).eq(True))
    arms = None
    if arm is not None:
        per = rows.groupby(subject)[arm].nunique()
        if (per > 1).any():
            raise DataError(f"subject {per.index[per > 1][0]!r} has more than one value of '{arm}'")
        first = rows.groupby(subject, observed=True)[arm].first().reindex(observed.index)
        arms = pd.Series(pd.Categorical(first.astype(object), categories=factor_levels(df[arm])),
                         index=observed.index, name=arm)
    return observed, visits, arms


def last_observed(observed: np.ndarray) -> np.ndarray:
    """Index of each row's last observed visit in a boolean matrix, -1 if none."""
    n_vis = observed.shape[1]
    return np.where(observed.any(axis=1), n_vis - 1 - np.argmax(observed[:, ::-1], axis=1), -1)


def classify(observed: np.ndarray) -> np.ndarray:
    """'complete', 'monotone', 'intermittent' or 'none' for each row of a boolean matrix."""
    n_vis = observed.shape[1]
    any_obs = observed.any(axis=1)
    last = last_observed(observed)
    prefix = np.arange(n_vis)[None, :] <= last[:, None]
    gap_before_last = (prefix & ~observed).any(axis=1)
    out = np.where(observed.all(axis=1), "complete", np.where(gap_before_last, "intermittent", "monotone"))
    return np.where(any_obs, out, "none")


def dropout_index(observed: np.ndarray) -> np.ndarray:
    """Index of the dropout visit (first visit after the last observed one), -1 if none."""
    last = last_observed(observed)
    return np.where(last < observed.shape[1] - 1, last + 1, -1)


def patterns(data, subject: str | None = None, visit: str | None = None, response: str | None = None,
             arm: str | None = None) -> pd.DataFrame:
    """Every observed/missing pattern with its counts and percentages (per arm if given).

    ``data``: a long DataFrame (columns default to the ADaM ``USUBJID``, ``AVISIT``,
    ``CHG``) or a fit, whose rows and columns are used (see :func:`long_data`).

    Returns a DataFrame with ``arm`` (if given), ``pattern`` (``X`` observed, ``.``
    missing, in visit order), ``type``, ``n``, ``percent`` (of the arm's subjects), then one
    boolean column per visit; sorted by arm (in the data's arm order) and decreasing n.
    """
    df, subject, visit, response = long_data(data, subject, visit, response)
    observed, visits, arms = observation_matrix(df, subject, visit, response, arm)
    mat = observed.to_numpy()
    table = pd.DataFrame({"pattern": ["".join("X" if o else "." for o in r) for r in mat],
                          "type": classify(mat)}, index=observed.index)
    keys = ["pattern", "type"]
    if arm is not None:
        table.insert(0, arm, arms.to_numpy())
        keys = [arm] + keys
    counts = table.groupby(keys, sort=False).size().rename("n").reset_index()
    totals = counts.groupby(arm)["n"].transform("sum") if arm is not None else counts["n"].sum()
    counts["percent"] = 100.0 * counts["n"] / totals
    for j, v in enumerate(visits):
        counts[v] = counts["pattern"].str[j] == "X"
    order = ([arm] if arm is not None else []) + ["n", "pattern"]
    ascending = ([True] if arm is not None else []) + [False, False]
    rank = {v: i for i, v in enumerate(arms.cat.categories)} if arm is not None else {}
    return counts.sort_values(order, ascending=ascending, kind="stable",
                              key=lambda c: c.map(rank) if c.name == arm else c).reset_index(drop=True)


def dropout_table(data, subject: str | None = None, visit: str | None = None, response: str | None = None,
                  arm: str | None = None, reason: str | None = None) -> pd.DataFrame:
    """Per arm and visit: subjects expected, observed, dropping out, cumulative % dropped.

    ``n_expected``: subjects not dropped out before the visit; ``n_observed``: responses
    observed at the visit; ``n_dropout``: subjects whose dropout visit it is;
    ``cumulative_dropout_percent``: dropouts up to and including the visit over all the
    arm's subjects.  With ``reason`` (e.g. ADaM DCSREAS), one extra column per reason
    counting that visit's dropouts.  ``data``: a long DataFrame (ADaM column defaults) or
    a fit, as in :func:`patterns`.
    """
    df, subject, visit, response = long_data(data, subject, visit, response)
    observed, visits, arms = observation_matrix(df, subject, visit, response, arm)
    require_columns(df, {"reason": reason})
    mat = observed.to_numpy()
    drop = dropout_index(mat)
    group = arms.to_numpy(dtype=object) if arm is not None else np.full(len(mat), "all", dtype=object)
    reasons = None
    if reason is not None:
        reasons = df.dropna(subset=[subject]).groupby(subject)[reason].first().reindex(observed.index)
        reasons = reasons.fillna("not given").astype(str).to_numpy()
    rows = []
    for g in (factor_levels(arms) if arm is not None else ["all"]):
        sel = group == g
        total = int(sel.sum())
        cumulative = 0
        for j, v in enumerate(visits):
            dropped_here = sel & (drop == j)
            cumulative += int(dropped_here.sum())
            row = {"arm": g, "visit": v,
                   "n_expected": int((sel & ((drop == -1) | (drop >= j))).sum()),
                   "n_observed": int((sel & mat[:, j]).sum()),
                   "n_dropout": int(dropped_here.sum()),
                   "cumulative_dropout_percent": 100.0 * cumulative / total}
            if reasons is not None:
                for r in sorted(set(reasons[drop >= 0])):
                    row[r] = int((dropped_here & (reasons == r)).sum())
            rows.append(row)
    out = pd.DataFrame(rows).fillna(0)
    if arm is None:
        out = out.drop(columns="arm")
    else:
        out = out.rename(columns={"arm": arm})
    return out.rename(columns={"visit": visit})
