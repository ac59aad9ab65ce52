r"""Subgroup analyses: the treatment difference at one visit within each level of a subgroup
variable, and the treatment-by-subgroup interaction tests (SAS PROC MIXED with
``SUBGROUP*ARM*VISIT``, junco ``s_subgroup_*``).

**One model** (``method="one-model"``, the default).  The MMRM of the analysis, with the same
covariance structure, estimation method, df method and covariance of :math:`\hat\beta`, plus
the subgroup terms

.. math::
    \text{MMRM formula} + S + S{:}A + S{:}V + S{:}A{:}V

(:math:`S` the subgroup, :math:`A` the arm, :math:`V` the visit).  Within level :math:`s`
the difference of arm :math:`a` from the reference arm :math:`r` at the primary visit
:math:`v` is the LS-means contrast :math:`\hat d_{as} = (l_{a s v} - l_{r s v})^\top\hat\beta`
(LS means of the cells :math:`A\times S\times V`, equal weights over other factors,
covariates at their means: SAS ``LSMEANS ARM*SUBGROUP*VISIT / DIFF``, emmeans
``emmeans(fit, ~ ARM | SUBGROUP * VISIT)``), with its SE, df (the fit's df method), t, p and
CI.

**Interaction tests** (one model).

* At the primary visit: :math:`H_0: d_{as} = d_{a s_1}` for every non-reference arm
  :math:`a` and every level :math:`s \ne s_1` (the arm differences at visit :math:`v` are
  equal across the subgroup levels).  :math:`L` has the rows
  :math:`(l_{asv} - l_{rsv}) - (l_{a s_1 v} - l_{r s_1 v})`, rank
  :math:`(n_A - 1)(n_S - 1)`; :math:`F = (L\hat\beta)^\top(L\hat CL^\top)^{-1}L\hat\beta/\mathrm{rank}\,L`
  with the fit's df method (Kenward-Roger: scaled :math:`F` and its df), as SAS ``CONTRAST``
  and R ``mmrm::df_md``.
* Over all visits: the type III test of :math:`S{:}A{:}V` (:mod:`trialmlm.inference.anova`).

**Separate models** (``method="separate"``): the analysis' MMRM fitted to each level's
subjects alone; the difference at :math:`v` from each fit.  The interaction tests are those
of the one model.

**Small cells.**  A level with no subject in an arm is refused (``DataError`` naming the
level): the one model has no estimable arm difference there and its interaction tests would
test a different hypothesis.  A level with fewer than ``min_subjects`` subjects in an arm
(subjects analysed, any visit), or whose difference is not estimable (e.g. no subject of an
arm observed at the visit), is reported as not estimable ("NE") with the reason in
``note`` and a :class:`~trialmlm.errors.DataWarning` naming it.

Multiple imputation (pooling the level estimates by Rubin's rules and the interaction tests
by the D1 rule) is not done here: the subgroup analysis is of the MMRM fit.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..engine.design import formula_variables
from ..errors import ConvergenceError, DataError, DataWarning
from .lsmeans import difference_rows
from .wald import f_test

METHODS = ("one-model", "separate")
#: Default least number of subjects per arm in a level for its difference to be reported.
MIN_SUBJECTS = 5
OVERALL = "All subjects"
NUMBERS = ("estimate", "se", "df", "t", "p", "lower", "upper")


@dataclass(frozen=True)
class SubgroupResult:
    """Subgroup differences and interaction tests (:func:`subgroups`).

    Attributes
    ----------
    table : one row per subgroup variable, level and contrast, the overall effect first
        (``variable`` "All subjects"): ``variable, level, contrast, arm, n_arm, n_reference``
        (subjects analysed), ``estimate, se, df, t, p, lower, upper`` and ``note`` (empty, or
        "NE: reason"; the numbers of an NE row are NaN).
    interactions : per subgroup variable: ``variable, test, hypothesis, num_df, den_df, F, p``
        (``test`` "at visit" or "over visits", the type III test of ``S:A:V``).
    arm, visit, at_visit, reference, method, ddf, alpha, min_subjects : the settings.
    fits : subgroup variable -> the one-model fit.
    labels : column -> label (for the plot and tables).
    """

    table: pd.DataFrame
    interactions: pd.DataFrame
    arm: str
    visit: str
    at_visit: object
    reference: object
    arms: tuple
    method: str
    ddf: str
    alpha: float
    min_subjects: int
    fits: dict = field(repr=False, default_factory=dict)
    labels: dict = field(repr=False, default_factory=dict)

    def interaction_p(self, test: str = "at visit") -> dict:
        """Subgroup variable -> p of its interaction test ``test``."""
        rows = self.interactions[self.interactions["test"] == test]
        return dict(zip(rows["variable"], rows["p"]))

    def forest_plot(self, ax=None, **options):
        """The forest plot (:func:`trialmlm.plots.subgroup_forest`)."""
        from ..plots import subgroup_forest

        return subgroup_forest(self, ax=ax, **options)


def subgroups(fit_or_formula, data: pd.DataFrame, subgroup, arm: str, visit: str | None = None,
              at_visit=None, reference=None, method: str = "one-model", min_subjects: int = MIN_SUBJECTS,
              alpha: float = 0.05, **fit_options) -> SubgroupResult:
    """Treatment differences within subgroup levels and the interaction tests (module docstring).

    Parameters
    ----------
    fit_or_formula : the analysis' MMRM fit (its formula, method, weights, ddf and vcov are
        re-used), or its formula (fitted here with ``fit_options``: ``method``, ``ddf``, ... of
        :func:`trialmlm.fit`).
    data : the analysis records, holding the subgroup column(s).
    subgroup : a column or a list of columns (each analysed in its own model).
    arm, visit : the arm and visit factors of the model (``visit``: default the visit of the
        covariance term).
    at_visit : the primary visit (default: the last level of ``visit`` in the fit).
    reference : the reference arm (default: the first level of ``arm`` in the fit).
    method : "one-model" or "separate".
    min_subjects : the least number of subjects per arm in a level for its difference to be
        reported (else NE).
    alpha : 1 - the CI level.

    Returns
    -------
    SubgroupResult
    """
    from ..api import fit as fit_model

    if method not in METHODS:
        raise DataError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    given = isinstance(fit_or_formula, str)
    if fit_options and not given:
        raise DataError(f"subgroups(): {', '.join(fit_options)} are options of fitting a formula; a fit "
                        "given is re-used with its own settings")
    base = fit_model(fit_or_formula, data, **fit_options) if given else fit_or_formula
    s = base.settings
    if s.linear or not s.visit:
        raise DataError("subgroups() needs an MMRM fit with a covariance term over the visits")
    visit = visit or s.visit[0]
    options = dict(method=s.method, weights=s.weights, ddf=s.ddf, vcov=s.vcov)
    names = [subgroup] if isinstance(subgroup, str) else list(subgroup)
    for col in [arm, visit, *names]:
        if col not in data.columns:
            raise DataError(f"subgroups(): no column '{col}' in the data")
    arms = [str(a) for a in base.design.encoding.levels.get(arm, _levels(data[arm]))]
    reference = arms[0] if reference is None else str(reference)
    if reference not in arms:
        raise DataError(f"reference {reference!r} is not a level of '{arm}' ({', '.join(arms)})")
    visits = [str(v) for v in base.design.encoding.levels.get(visit, _levels(data[visit]))]
    at_visit = visits[-1] if at_visit is None else str(at_visit)
    if at_visit not in visits:
        raise DataError(f"at_visit {at_visit!r} is not a level of '{visit}' ({', '.join(visits)})")
    used = _analysed(data, base, s)
    overall = _differences(base, arm, visit, at_visit, reference, alpha)
    overall = _with_counts(overall, used, arm, reference, s.subject)
    overall.insert(0, "level", OVERALL)
    overall.insert(0, "variable", OVERALL)
    overall["note"] = ""
    parts, tests, fits = [overall], [], {}
    for name in names:
        frame = _subgroup_frame(used, name, arm, s.subject)
        one = fit_model(f"{s.formula} + {_terms(name, arm, visit)}", frame, **options)
        fits[name] = one
        if method == "one-model":
            rows = _level_differences(one, frame, name, arm, visit, at_visit, reference, alpha, s.subject)
        else:
            rows = _separate(s.formula, frame, name, arm, visit, at_visit, reference, alpha, s.subject,
                             options)
        parts.append(_mark_small(rows, name, arm, reference, min_subjects, frame, visit, at_visit, s.subject))
        tests += _interaction_tests(one, name, arm, visit, at_visit, reference)
    table = pd.concat(parts, ignore_index=True)
    _warn_ne(table)
    return SubgroupResult(table, pd.DataFrame(tests), arm, visit, at_visit, reference, tuple(arms), method,
                          s.ddf, alpha, min_subjects, fits, dict(data.attrs.get("labels", {})))


def _levels(values: pd.Series) -> list:
    """The levels of a column in their order (categories, else sorted)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [c for c in values.cat.categories if (values == c).any()]
    return sorted(pd.unique(values.dropna()).tolist(), key=str)


def _quoted(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"`{name}`"


def _terms(subgroup: str, arm: str, visit: str) -> str:
    """``S + S:A + S:V + S:A:V``."""
    s, a, v = map(_quoted, (subgroup, arm, visit))
    return f"{s} + {s}:{a} + {s}:{v} + {s}:{a}:{v}"


def _analysed(data: pd.DataFrame, fit, s) -> pd.DataFrame:
    """The records the analysis model uses: response, mean-model variables, visit and subject
    present."""
    needed = [s.response, s.subject, *s.visit, *fit.design.encoding.variables]
    return data.dropna(subset=list(dict.fromkeys(c for c in needed if c in data.columns)))


def _subgroup_frame(used: pd.DataFrame, name: str, arm: str, subject: str) -> pd.DataFrame:
    """The records with a value of subgroup ``name`` (a categorical column, levels in order);
    DataError naming the first level without a subject in an arm."""
    frame = used.loc[used[name].notna()].copy()
    if frame.empty:
        raise DataError(f"subgroup '{name}' has no value on the analysed records")
    levels = [str(v) for v in _levels(frame[name])]
    frame[name] = pd.Categorical(frame[name].astype(str), categories=levels)
    counts = frame.groupby([name, arm], observed=False)[subject].nunique()
    empty = counts[counts == 0]
    if len(empty):
        level, arm_level = empty.index[0]
        raise DataError(f"subgroup {name} = {level!r} has no subject in arm {arm} = {arm_level!r}: the "
                        "one-model subgroup analysis needs every arm in every level; pool or leave out "
                        f"that level (e.g. a derived {name} column) before the analysis")
    return frame


def _differences(fit, arm: str, visit: str, at_visit: str, reference: str, alpha: float) -> pd.DataFrame:
    """``fit.compare(arm, by=visit)`` at ``at_visit``: ``arm, contrast`` and the numbers."""
    table = fit.compare(arm, by=visit, reference=reference, alpha=alpha)
    table = table.loc[table[visit].astype(str) == at_visit].reset_index(drop=True)
    return table[[arm, "contrast", *NUMBERS]].rename(columns={arm: "arm"})


def _with_counts(rows: pd.DataFrame, frame: pd.DataFrame, arm: str, reference: str,
                 subject: str) -> pd.DataFrame:
    """Add ``n_arm`` and ``n_reference``: subjects analysed in each compared arm."""
    n = frame.groupby(frame[arm].astype(str), observed=True)[subject].nunique()
    out = rows.copy()
    out.insert(2, "n_arm", [int(n.get(str(a), 0)) for a in out["arm"]])
    out.insert(3, "n_reference", int(n.get(reference, 0)))
    return out


def _level_differences(one, frame, name, arm, visit, at_visit, reference, alpha, subject) -> pd.DataFrame:
    """The one model's differences at ``at_visit`` within each level of ``name``."""
    with warnings.catch_warnings():  # non-estimable rows are named by _warn_ne with their reason
        warnings.simplefilter("ignore", DataWarning)
        table = one.compare(arm, by=[name, visit], reference=reference, alpha=alpha)
    table = table.loc[table[visit].astype(str) == at_visit].reset_index(drop=True)
    parts = []
    for level in frame[name].cat.categories:
        rows = table.loc[table[name].astype(str) == str(level), [arm, "contrast", *NUMBERS]]
        rows = _with_counts(rows.rename(columns={arm: "arm"}), frame.loc[frame[name] == level], arm,
                            reference, subject)
        rows.insert(0, "level", str(level))
        parts.append(rows)
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "variable", name)
    return out


def _separate(formula, frame, name, arm, visit, at_visit, reference, alpha, subject,
              options) -> pd.DataFrame:
    """The analysis' MMRM fitted to each level of ``name`` alone; NE (with the reason) where the
    fit fails."""
    from ..api import fit as fit_model

    parts = []
    for level in frame[name].cat.categories:
        part = frame.loc[frame[name] == level].copy()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataWarning)
                own = fit_model(formula, part, **options)
            rows = _differences(own, arm, visit, at_visit, reference, alpha)
            note = ""
        except (ConvergenceError, DataError) as exc:
            rows = pd.DataFrame({"arm": [a for a in _levels(part[arm]) if str(a) != reference]})
            rows["contrast"] = [f"{a} - {reference}" for a in rows["arm"]]
            for col in NUMBERS:
                rows[col] = np.nan
            note = f"NE: the model of this level alone failed ({exc})"
        rows = _with_counts(rows, part, arm, reference, subject)
        rows.insert(0, "level", str(level))
        rows["note"] = note
        parts.append(rows)
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "variable", name)
    return out


def _mark_small(rows, name, arm, reference, least, frame, visit, at_visit, subject) -> pd.DataFrame:
    """``note`` "NE: reason" (numbers NaN) for a level with fewer than ``least`` subjects in a
    compared arm, or a difference that is not estimable."""
    out = rows.copy()
    if "note" not in out.columns:
        out["note"] = ""
    seen = frame.loc[frame[visit].astype(str) == at_visit]
    for i, row in out.iterrows():
        if row["note"]:
            continue
        counts = ((row["arm"], row["n_arm"]), (reference, row["n_reference"]))
        small = [f"{n} subject{'s' * (n != 1)} in {a}" for a, n in counts if n < least]
        if small:
            out.at[i, "note"] = f"NE: {', '.join(small)} (fewer than {least})"
        elif not np.isfinite(row["estimate"]):
            arms_seen = set(seen.loc[seen[name].astype(str) == row["level"], arm].astype(str))
            absent = [str(a) for a in (row["arm"], reference) if str(a) not in arms_seen]
            out.at[i, "note"] = (f"NE: no subject of {' or '.join(absent)} observed at {at_visit}" if absent
                                 else "NE: not estimable (aliased cell of the model)")
    ne = out["note"] != ""
    out.loc[ne, list(NUMBERS)] = np.nan
    return out


def _warn_ne(table: pd.DataFrame) -> None:
    ne = table.loc[table["note"].fillna("") != ""]
    if len(ne):
        listed = "; ".join(f"{r.variable} = {r.level}, {r.contrast}: {r.note[4:]}" for r in ne.itertuples())
        warnings.warn(f"subgroup difference(s) reported as NE: {listed}", DataWarning, stacklevel=3)


def interaction_rows(fit, subgroup: str, arm: str, visit: str, at_visit: str, reference: str) -> np.ndarray:
    r"""Rows :math:`(l_{asv} - l_{rsv}) - (l_{as_1v} - l_{rs_1v})` (kept columns) of the
    interaction at visit ``at_visit``: every non-reference arm :math:`a`, every level
    :math:`s` but the first :math:`s_1`; rows of non-estimable differences left out."""
    info, D = difference_rows(fit, arm, [subgroup, visit], reference, "equal", None, None)
    at = (info[visit].astype(str) == at_visit).to_numpy() & np.all(np.isfinite(D), axis=1)
    info, D = info.loc[at].reset_index(drop=True), D[at]
    first = info[subgroup].astype(str) == str(info[subgroup].iloc[0]) if len(info) else info[subgroup]
    rows = []
    for a in pd.unique(info[arm].astype(str)):
        own = (info[arm].astype(str) == a).to_numpy()
        base = D[own & first.to_numpy()]
        if len(base):
            rows += [d - base[0] for d in D[own & ~first.to_numpy()]]
    return np.array(rows).reshape(-1, D.shape[1] if D.ndim == 2 else fit.n_fixed)


def _interaction_tests(one, name, arm, visit, at_visit, reference) -> list[dict]:
    """The interaction at ``at_visit`` (L matrix) and the type III test of ``S:A:V``."""
    ddf, vcov = one.settings.ddf, one.settings.vcov
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        L = interaction_rows(one, name, arm, visit, at_visit, reference)
    at = f_test(one, L, ddf, vcov) if len(L) else {"num_df": 0, "den_df": np.nan, "F": np.nan, "p": np.nan}
    anova = one.anova()
    wanted = {name, arm, visit}
    term = next(t for t in anova.index if set(t.split(":")) == wanted or
                {formula_variables(p)[0] for p in t.split(":")} == wanted)
    over = anova.loc[term, ["num_df", "den_df", "F", "p"]].to_dict()
    return [{"variable": name, "test": "at visit",
             "hypothesis": f"{arm} differences at {visit} = {at_visit} equal across the levels of {name}",
             **at},
            {"variable": name, "test": "over visits",
             "hypothesis": f"type III {name}:{arm}:{visit}", **over}]


__all__ = ["SubgroupResult", "subgroups", "interaction_rows", "METHODS", "MIN_SUBJECTS"]
