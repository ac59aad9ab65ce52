r"""Fit from data held in partitions: a Dask DataFrame, or a Parquet dataset read through Dask.

Every partition must hold whole subjects: all rows of a subject in one partition (see
``docs/scale.md`` for repartitioning by subject).  The data are read twice.

1. **Scan** (light, :func:`_scan`): in each partition the model's values are checked, rows
   with a missing value counted and dropped, the factor levels of the mean model, the visit
   and the covariance group collected and the subjects hashed.  The encoding is then
   frozen from all partitions (levels in the order of :func:`trialmlm.engine.design.factor_levels`)
   or taken from a given ``encoding``, which every level found must belong to.  A subject in
   two partitions, a level outside the given encoding, a missing column or an unusable
   value is a DataError (or FormulaError) naming it, before any partition is reduced.
2. **Reduction** (:func:`_reduce`): each partition becomes a :class:`Sums`: for the
   subjects of one covariance group, visit pattern and combination of table rows (factor
   levels) per visit, :math:`\sum_s u_su_s^\top` with :math:`u_s` the weighted monomials and
   responses at its visits (:mod:`trialmlm.engine.moments`); per table row the triangular factor of
   its rows' monomials (for :math:`R` with :math:`R^\top R = X^\top X`: aliasing, null space);
   rows per table row, covariate sums, the visits observed together and which columns of X
   are constant within every subject.  The partitions'
   sums are added pairwise, a tree of ``dask.delayed`` merges.

On the driver the aliased columns are decided on :math:`R`, each class becomes the
per-pattern moments :math:`M_P = \sum_c E_cS_cE_c^\top` and the likelihood is maximised as
for a pandas DataFrame: the same numbers up to the order of summation.  Everything the
inference methods read from the sums is available (LS means, contrasts, type III tests,
Satterthwaite, Kenward-Roger, between-within, residual and containment df, the null model
test).  The sandwich covariances need each subject's residuals: their meat is summed in a
second pass over the partitions at the estimate (:func:`sandwich_meat`), on demand; Bell &
McCaffrey's df of a sandwich (two matrices per subject) are a DataError.  The
mean model must be made of factors, covariates and their products (no transforms such as
``np.log(x)`` or ``C(x)``); the covariance term must be a visit-indexed structure without
random effects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from formulaic import model_matrix

from ..covariance import get_structure
from ..data.parquet_files import dataset_schema
from ..errors import DataError, FormulaError
from ..inference.methods import VCOV
from ..inference.vcov import cluster_operators
from .design import (
    Design,
    FixedEncoding,
    RowSummary,
    alias_columns,
    check_duplicates,
    check_types,
    check_values,
    check_weights,
    covariance_groups,
    drop_incomplete,
    is_factor,
    model_columns,
    natural_key,
    null_space_basis,
)
from .formula import ModelFormula, as_formula
from .identifiability import check_estimable
from .likelihood import Likelihood
from .model import Model
from .moments import Batch, class_moments, segment_sums, unique_rows
from .parameters import ParameterMap


def is_partitioned(data) -> bool:
    """Whether ``data`` is a Dask DataFrame or a path (of a Parquet dataset)."""
    if isinstance(data, (str, os.PathLike)):
        return True
    return type(data).__module__.split(".")[0] == "dask" and hasattr(data, "to_delayed")


def _dask_frame(data):
    """``data`` as a Dask DataFrame; a path is read with ``dask.dataframe.read_parquet``, one
    partition per file (each file must hold whole subjects), with the schema of
    :func:`trialmlm.data.parquet_files.dataset_schema` (one type per column over every file)."""
    try:
        import dask.dataframe as dd
    except ImportError:
        raise DataError("fitting a Dask DataFrame or a Parquet dataset needs dask: "
                        "pip install 'trialmlm[dask]'") from None
    if not isinstance(data, (str, os.PathLike)):
        return data
    schema = dataset_schema(data)  # every file's footer checked before any row is read
    options = {} if schema is None else {"dataset": {"schema": schema}}
    return dd.read_parquet(data, split_row_groups=False, **options)  # one partition per file


@dataclass(frozen=True)
class Plan:
    """What every partition is encoded with: the formula, the model's columns, the factor
    levels, the visit and group labels, and the mean model's encoding with every column
    (aliasing is decided after the reduction)."""

    formula: ModelFormula
    used: list[str]
    fixed_vars: list[str]
    weights: str | None
    positions: list
    groups: list
    encoding: FixedEncoding

    @property
    def visit(self) -> str:
        return self.formula.covariance.positions[0]

    @property
    def group(self) -> str | None:
        return self.formula.covariance.group


def _check_formula(parsed: ModelFormula) -> None:
    """Covariance term over visits, no random effects (FormulaError otherwise)."""
    term = parsed.covariance
    if term is None or parsed.random_terms:
        raise FormulaError(f"a fit from partitions needs a covariance term such as us(AVISIT | USUBJID) and "
                           f"no random-effect terms; '{parsed.text}' has "
                           + ("random effects" if parsed.random_terms else "no covariance term"))
    if get_structure(term.structure).spatial:
        raise FormulaError(f"a fit from partitions takes a visit-indexed covariance structure, not the "
                           f"spatial '{term.structure}'")


def _scan(part: pd.DataFrame, formula: ModelFormula, used: list[str], factors: list[str],
          weights: str | None) -> dict:
    """Checks and levels of one partition (module docstring, step 1)."""
    frame = part.loc[:, used]
    complete, dropped = drop_incomplete(frame)
    rows = frame.loc[complete]
    check_values(rows, used, None)
    check_weights(rows, weights, formula.subject)
    levels = {}
    for var in factors:
        col = rows[var]
        order = list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype) else None
        levels[var] = (order, set(col.dropna().unique().tolist()))
    subjects = np.asarray(part[formula.subject].dropna().unique(), dtype=object)
    y = rows[formula.response].to_numpy(dtype=float)
    return {"n_read": len(frame), "n_used": len(rows), "dropped": dropped, "levels": levels,
            "subjects": pd.util.hash_array(subjects), "range": _range(subjects),
            "y_range": (y.min(), y.max()) if y.size else (np.inf, -np.inf)}


def _merged_levels(scans: list[dict], var: str) -> list:
    """The levels of ``var`` over all partitions, ordered as :func:`factor_levels` orders them."""
    present, order = set(), []
    for scan in scans:
        categories, values = scan["levels"][var]
        present |= values
        order += [c for c in categories or () if c not in order]
    if order:
        return [c for c in order if c in present]
    return sorted(present, key=natural_key)


def _range(subjects: np.ndarray) -> tuple | None:
    """Smallest and largest subject label (None if there are none or they do not compare)."""
    try:
        return (min(subjects), max(subjects)) if len(subjects) else None
    except TypeError:
        return None


def _disjoint(scans: list[dict]) -> bool:
    """Whether the partitions' ranges of subject labels do not overlap (then no subject is in
    two of them; the usual case for data sorted or set_index'ed by subject)."""
    ranges = [s["range"] for s in scans if s["subjects"].size]
    if any(r is None for r in ranges):
        return False
    try:
        ranges.sort()
        return all(a[1] < b[0] for a, b in zip(ranges[:-1], ranges[1:]))
    except TypeError:
        return False


def _spread_subject(frame, subject: str, scans: list[dict]) -> None:
    """DataError naming a subject whose rows lie in two partitions, if there is one: by the
    ranges of labels, else by the hashes of every partition's subjects."""
    if _disjoint(scans):
        return
    hashes = np.concatenate([s["subjects"] for s in scans]) if scans else np.zeros(0, dtype=np.uint64)
    values, counts = np.unique(hashes, return_counts=True)
    if not (counts > 1).any():
        return
    twin = values[counts > 1][0]
    where = [i for i, s in enumerate(scans) if twin in set(s["subjects"].tolist())]
    labels = frame.get_partition(where[0])[subject].dropna().unique().compute()
    label = next(v for v in labels if pd.util.hash_array(np.asarray([v], dtype=object))[0] == twin)
    raise DataError(f"subject {label!r} has rows in partitions {where[0]} and {where[1]}; every partition "
                    f"must hold whole subjects: repartition by '{subject}' (e.g. "
                    f"frame.set_index('{subject}') or shuffle(on='{subject}'), see docs/scale.md)")


def _check_encoding(encoding: FixedEncoding, levels: dict, scans: list[dict]) -> None:
    """Every level found must be one of the given encoding's (DataError naming the partition)."""
    for var, known in encoding.levels.items():
        extra = [lv for lv in levels.get(var, []) if lv not in known]
        if extra:
            where = next(i for i, s in enumerate(scans) if extra[0] in s["levels"][var][1])
            raise DataError(f"level {extra[0]!r} of column '{var}' in partition {where} is not in the frozen "
                            f"encoding (levels: {', '.join(map(str, known))}); fit without encoding= to "
                            "collect the levels of every partition")


def _frozen_encoding(formula: ModelFormula, fixed_vars: list[str], levels: dict,
                     encoding: FixedEncoding | None) -> FixedEncoding:
    """The mean model's encoding with every column kept: ``encoding``'s spec if given, else
    formulaic's on a one-row frame (nothing learnt from data: every term must be a product of
    factors and covariates, FormulaError otherwise)."""
    if encoding is not None:
        if (encoding.formula, encoding.variables) != (formula.fixed, tuple(fixed_vars)):
            raise DataError(f"encoding= is the encoding of '{encoding.formula}', not of '{formula.fixed}'")
        spec = encoding.spec
    else:
        one = pd.DataFrame({v: pd.Categorical([levels[v][0]], categories=levels[v]) if v in levels else [0.0]
                            for v in fixed_vars})
        try:
            spec = model_matrix(formula.fixed, one, na_action="raise").model_spec
        except Exception as exc:
            raise FormulaError(f"cannot build the mean model '{formula.fixed}' of a fit from partitions, "
                               "which takes factors, covariates and their products, no transform such as "
                               f"center(x): {exc}") from None
    names = tuple(spec.column_names)
    full = FixedEncoding(formula.fixed, tuple(fixed_vars), {v: levels[v] for v in fixed_vars if v in levels},
                         spec, names, np.ones(len(names), dtype=bool))
    if full.table is None:
        raise FormulaError(f"a fit from partitions needs a mean model of factors, covariates and their "
                           f"products; '{formula.fixed}' has a transform (such as center(x), C(x), poly(x)) "
                           "or more than 10,000 combinations of factor levels")
    return full


def plan(frame, formula: str | ModelFormula, weights: str | None,
         encoding: FixedEncoding | None) -> tuple[Plan, dict]:
    """Step 1 of the module docstring: ``(plan, scan totals)``; every check before the reduction."""
    import dask

    parsed = as_formula(formula)
    _check_formula(parsed)
    meta = frame._meta
    try:
        fixed_vars, _, used = model_columns(meta, parsed, weights)
    except FormulaError as err:  # a column missing from a stored data set: a problem of the data
        if "is not in the data" not in str(err):
            raise
        raise DataError(str(err).replace("is not in the data", "is not a column of the partitioned data")) \
            from None
    check_types(meta, parsed, weights, False)
    term = parsed.covariance
    candidates = fixed_vars + [term.positions[0]] + ([term.group] if term.group else [])
    factors = [v for v in dict.fromkeys(candidates) if is_factor(meta[v])]
    scans = list(dask.compute(*[dask.delayed(_scan)(p, parsed, used, factors, weights)
                                for p in frame.to_delayed()]))
    _spread_subject(frame, parsed.subject, scans)
    n_used = sum(s["n_used"] for s in scans)
    if not n_used:
        raise DataError("no complete rows in any partition")
    low, high = min(s["y_range"][0] for s in scans), max(s["y_range"][1] for s in scans)
    if not low < high:
        raise DataError(f"no variation in the response '{parsed.response}': every analysed row has "
                        f"{parsed.response} = {low:g}")
    levels = {v: _merged_levels(scans, v) for v in factors}
    positions = levels.get(term.positions[0]) or sorted(
        {v for s in scans for v in s["levels"].get(term.positions[0], (None, set()))[1]}, key=natural_key)
    if encoding is not None:
        _check_encoding(encoding, levels, scans)
        if any(levels[v] != known for v, known in encoding.levels.items()):
            encoding = None  # some level absent from the data: encoded anew, as for a DataFrame
    groups = levels[term.group] if term.group else [None]
    dropped = {}
    for s in scans:
        for c, n in s["dropped"].items():
            dropped[c] = dropped.get(c, 0) + n
    totals = {"n_read": sum(s["n_read"] for s in scans), "dropped": dropped,
              "n_subjects_read": int(sum(s["subjects"].size for s in scans))}
    full = _frozen_encoding(parsed, fixed_vars, levels, encoding)
    return Plan(parsed, used, fixed_vars, weights, positions, groups, full), totals


@dataclass
class Sums:
    r"""The reduction of one or more partitions (module docstring, step 2).

    ``classes[(g, k)]`` = ``(keys, sums, counts)``: per class of subjects of group g with k
    visits, its key (k position codes, then k table rows), :math:`\sum u_su_s^\top`
    (k d, k d) and its number of subjects; ``r`` (T, d, d) the triangular factor of each
    table row's monomials.
    """

    classes: dict = field(default_factory=dict)
    r: np.ndarray | None = None
    level_counts: np.ndarray | None = None
    constant: np.ndarray | None = None
    covariate_sums: dict = field(default_factory=dict)
    together: np.ndarray | None = None
    group_subjects: np.ndarray | None = None
    n_obs: int = 0
    n_subjects: int = 0
    log_weights: float = 0.0


def _monomial_r(index: np.ndarray, values: np.ndarray, n_table: int) -> np.ndarray:
    """(T, d, d): per table row, the R factor of its rows' monomial values (zeros without rows)."""
    d = values.shape[1]
    out = np.zeros((n_table, d, d))
    order = np.argsort(index, kind="stable")
    edges = np.searchsorted(index[order], np.arange(n_table + 1))
    for c in np.flatnonzero(np.diff(edges)):
        r = np.linalg.qr(values[order[edges[c]:edges[c + 1]]], mode="r")
        out[c, :r.shape[0]] = r
    return out


@dataclass(frozen=True)
class Rows:
    """The complete rows of one partition sorted by subject and visit: subject codes and
    labels, visit codes, covariance group per subject, the mean model's variables (factors
    with the plan's levels), responses and weights."""

    codes: np.ndarray
    labels: np.ndarray
    position: np.ndarray
    group: np.ndarray
    fixed: pd.DataFrame
    y: np.ndarray
    w: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        """First row of each subject."""
        return np.concatenate([[0], np.cumsum(self.counts)[:-1]])

    @property
    def counts(self) -> np.ndarray:
        """Rows of each subject."""
        return np.bincount(self.codes, minlength=self.labels.size)

    def batches(self, n_groups: int):
        """``(g, k, at)`` per group g and number of visits k: ``at`` (m, k) the rows of its subjects."""
        counts, starts = self.counts, self.starts
        for g in range(n_groups):
            for k in np.unique(counts[self.group == g]):
                subjects = np.flatnonzero((self.group == g) & (counts == k))
                yield g, int(k), starts[subjects][:, None] + np.arange(k)[None, :]


def _rows(part: pd.DataFrame, p: Plan) -> Rows | None:
    """The :class:`Rows` of a partition (None without complete rows); DataError for a
    duplicated visit or a subject in two covariance groups."""
    frame = part.loc[:, p.used]
    rows = frame.loc[drop_incomplete(frame)[0]]
    if rows.empty:
        return None
    codes, labels = pd.factorize(rows[p.formula.subject], sort=True)
    labels = np.asarray(labels)
    position = pd.Categorical(rows[p.visit], categories=p.positions).codes.astype(np.int64)
    order = np.argsort(codes * len(p.positions) + position, kind="stable")
    check_duplicates(codes, labels, position, p.positions, (p.visit,), order)
    group, _ = covariance_groups(rows, p.group, codes, labels, p.groups)
    rows = rows.iloc[order]
    levels = p.encoding.levels
    fixed = pd.DataFrame({v: pd.Categorical(rows[v], categories=levels[v]) if v in levels else rows[v]
                          for v in p.fixed_vars}, index=rows.index)
    y = rows[p.formula.response].to_numpy(dtype=float)
    w = rows[p.weights].to_numpy(dtype=float) if p.weights else np.ones(y.size)
    return Rows(codes[order], labels, position[order], group, fixed, y, w)


def _reduce(part: pd.DataFrame, p: Plan) -> Sums:
    """One partition's :class:`Sums` (module docstring, step 2)."""
    enc = p.encoding
    (n_table, n_cols), d = enc.table[0].shape, len(enc.monomials)
    n_pos, n_groups = len(p.positions), len(p.groups)
    out = Sums(r=np.zeros((n_table, d, d)), level_counts=np.zeros(n_table),
               constant=np.ones(n_cols, dtype=bool),
               covariate_sums={v: 0.0 for v in p.fixed_vars if v not in enc.levels},
               together=np.zeros((n_groups, n_pos, n_pos)), group_subjects=np.zeros(n_groups))
    rows = _rows(part, p)
    if rows is None:
        return out
    codes, labels, position, group, fixed, y, w = (rows.codes, rows.labels, rows.position, rows.group,
                                                   rows.fixed, rows.y, rows.w)
    index, values = enc.table_parts(fixed)
    u = np.column_stack([values, y]) * np.sqrt(w)[:, None]
    starts = rows.starts
    for g, k, at in rows.batches(n_groups):
        keys, _, cls = unique_rows(np.column_stack([position[at], index[at]]))
        sums = segment_sums(u[at].reshape(len(at), -1), cls, len(keys))
        out.classes[(g, k)] = (keys, sums, np.bincount(cls, minlength=len(keys)))
    mask = np.zeros((labels.size, n_pos))
    mask[codes, position] = 1.0
    for g in range(n_groups):
        out.together[g] = mask[group == g].T @ mask[group == g]
    out.group_subjects = np.bincount(group, minlength=n_groups).astype(float)
    out.r = _monomial_r(index, values, n_table)
    for j in range(n_cols):  # is column j of X constant within every subject?
        x = enc.table[0][index, j] * values[:, enc.monomial_of[j]]
        out.constant[j] = np.all(np.isclose(x, x[starts][codes]))
    out.level_counts = np.bincount(index, minlength=n_table).astype(float)
    out.covariate_sums = {v: float(fixed[v].sum()) for v in out.covariate_sums}
    out.n_obs, out.n_subjects, out.log_weights = int(y.size), int(labels.size), float(np.log(w).sum())
    return out


def _meat(part: pd.DataFrame, p: Plan, estimate: tuple, kind: str, chunk: int = 50_000) -> np.ndarray:
    r"""One partition's :math:`\sum_s u_su_s^\top` of the sandwich ``kind``
    (:mod:`trialmlm.inference.vcov`) at ``estimate`` = (kept encoding, :math:`\hat\beta`, its
    model-based covariance, the structures, their parameters), subjects of one group and
    number of visits in stacks of at most ``chunk``."""
    encoding, beta, cov, structures, phis = estimate
    meat = np.zeros((beta.size, beta.size))
    rows = _rows(part, p)
    if rows is None:
        return meat
    x_all = encoding.matrix(rows.fixed)
    resid = rows.y - x_all @ beta
    isw = 1.0 / np.sqrt(rows.w)
    for g, _, at in rows.batches(len(p.groups)):
        for lo in range(0, len(at), chunk):
            sub = at[lo:lo + chunk]
            patterns, _, of = unique_rows(rows.position[sub])
            sigma = structures[g].blocks(phis[g], patterns, 0)[0][of]
            v = sigma * isw[sub][:, :, None] * isw[sub][:, None, :]
            u = np.einsum("npk,nk->np", cluster_operators(kind, cov, x_all[sub], v), resid[sub])
            meat += u.T @ u
    return meat


@dataclass(frozen=True)
class SandwichMeat:
    """The meat of the sandwich covariances of a fit from partitions: ``meat(fit, kind)`` is a
    second pass over ``frame`` at the estimate, the partitions' :func:`_meat` added in a tree
    (picklable, unlike a closure, so that the fit is)."""

    frame: object = field(repr=False)
    plan: Plan = field(repr=False)

    def __call__(self, fit, kind: str) -> np.ndarray:
        import dask

        estimate = (fit.design.encoding, fit.beta, fit.beta_cov, fit.structures,
                    fit.likelihood.split(fit.phi))
        level = [dask.delayed(_meat)(part, self.plan, estimate, kind) for part in self.frame.to_delayed()]
        while len(level) > 1:
            level = [dask.delayed(np.add)(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                     for i in range(0, len(level), 2)]
        return level[0].compute()


def _merge(a: Sums, b: Sums) -> Sums:
    """The sums of two sets of partitions."""
    classes = dict(a.classes)
    for key, (keys, sums, counts) in b.classes.items():
        if key in classes:
            k0, s0, c0 = classes[key]
            both, _, cls = unique_rows(np.concatenate([k0, keys]))
            total = np.zeros((len(both),) + sums.shape[1:])
            np.add.at(total, cls, np.concatenate([s0, sums]))
            count = np.bincount(cls, weights=np.concatenate([c0, counts])).astype(np.int64)
            classes[key] = (both, total, count)
        else:
            classes[key] = (keys, sums, counts)
    r = np.linalg.qr(np.concatenate([a.r, b.r], axis=1), mode="r")  # per table row
    return Sums(classes, r, a.level_counts + b.level_counts, a.constant & b.constant,
                {v: a.covariate_sums[v] + b.covariate_sums[v] for v in a.covariate_sums},
                a.together + b.together, a.group_subjects + b.group_subjects, a.n_obs + b.n_obs,
                a.n_subjects + b.n_subjects, a.log_weights + b.log_weights)


def reduce(frame, p: Plan) -> Sums:
    """Every partition's :class:`Sums`, added pairwise (a tree of ``dask.delayed`` merges)."""
    import dask

    level = [dask.delayed(_reduce)(part, p) for part in frame.to_delayed()]
    while len(level) > 1:
        level = [dask.delayed(_merge)(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0].compute()


@dataclass(frozen=True)
class Reduced:
    """The reduced data of one formula's mean model, visit, subject and group: models of any
    visit-indexed covariance structure on them (:meth:`model`)."""

    plan: Plan
    design: Design
    batches: list[Batch]

    def model(self, formula: str | ModelFormula, method: str) -> Model:
        """The :class:`Model` of ``formula`` (same mean model and covariance term up to its
        structure) on the reduced data; ``method`` "REML" or "ML"."""
        parsed = as_formula(formula)
        _check_formula(parsed)
        term = parsed.covariance
        cls = get_structure(term.structure)
        structures = tuple(cls(len(self.design.position_labels), grouped=term.group is not None)
                           for _ in self.design.group_labels)
        n_params = ParameterMap(list(structures)).n_params
        check_estimable(self.design, cls, term, n_params)
        method_u = str(method).upper()
        if method_u not in ("REML", "ML"):
            raise DataError(f"method must be 'REML' or 'ML', got {method!r}")
        null = (self.design.n_obs, self.design.statistics.log_weights)
        lik = Likelihood(self.batches, list(structures), null, self.design.n_fixed, reml=method_u == "REML")
        return Model(parsed, self.design, structures, lik, (), self.plan.weights)


def _moments(encoding: FixedEncoding, classes: dict, q: int) -> tuple[list[Batch], np.ndarray]:
    """Batches of the per-pattern moments from the class sums, and :math:`[X\\,y]^\\top W[X\\,y]`."""
    batches, cross = [], np.zeros((q, q))
    for (g, k) in sorted(classes):
        keys, sums, counts = classes[(g, k)]
        patterns, _, of_class = unique_rows(keys[:, :k])
        moments = np.zeros((len(patterns), k, k, q, q))
        for c, key in enumerate(keys):
            moments[of_class[c]] += class_moments(encoding, key[k:], sums[c])
        cross += np.einsum("maaij->ij", moments)
        count = np.bincount(of_class, weights=counts, minlength=len(patterns)).astype(np.int64)
        batches.append(Batch(g, patterns, count, moments, np.zeros((0, k), dtype=np.int64),
                             np.zeros(0, dtype=np.int64)))
    return batches, cross


def reduce_partitions(data, formula: str | ModelFormula, weights: str | None = None,
                      encoding: FixedEncoding | None = None) -> Reduced:
    """Scan, check and reduce ``data`` (a Dask DataFrame or a Parquet dataset path) for
    ``formula`` (module docstring); the fit itself is :func:`trialmlm.fit`."""
    frame = _dask_frame(data)
    p, totals = plan(frame, formula, weights, encoding)
    sums = reduce(frame, p)
    enc = p.encoding
    # the rows of table row c are X_c = V_cM_c, M_c[m, j] = T_cj if column j has monomial m:
    # R(X) is the R of the stacked R(V_c)M_c
    onehot = enc.monomial_of[None, :] == np.arange(len(enc.monomials))[:, None]
    table = enc.table[0]
    r = np.linalg.qr(np.vstack([sums.r[c] @ (onehot * table[c]) for c in np.flatnonzero(sums.level_counts)]),
                     mode="r")
    keep = alias_columns(r)
    names = list(enc.spec.column_names)
    kept = replace(enc, columns=tuple(n for n, k in zip(names, keep) if k), kept=keep)
    q = int(keep.sum()) + 1
    batches, cross = _moments(kept, sums.classes, q)
    levels = {v: list(lv) for v, lv in kept.levels.items()}
    if p.group:
        levels.setdefault(p.group, p.groups)
    fixed_frame = pd.DataFrame({v: pd.Categorical([], categories=kept.levels[v]) if v in kept.levels
                                else np.zeros(0) for v in p.fixed_vars})
    statistics = RowSummary(sums.n_obs, sums.n_subjects, sums.covariate_sums, sums.level_counts,
                            sums.together, sums.group_subjects.astype(np.int64), cross, sums.log_weights,
                            sums.constant, r, SandwichMeat(frame, p))
    empty = np.zeros(0, dtype=np.int64)
    design = Design(
        y=np.zeros(0), weights=np.zeros(0), subject=empty, subject_labels=np.zeros(0, dtype=object),
        group=empty, group_labels=list(p.groups), position=empty, position_labels=list(p.positions),
        coordinates=None, encoding=kept, aliased=tuple(n for n, k in zip(names, keep) if not k),
        row_index=pd.RangeIndex(0), row_position=empty, n_obs_dropped=totals["n_read"] - sums.n_obs,
        dropped_by_column=totals["dropped"], class_levels=levels, fixed_frame=fixed_frame,
        null_space=null_space_basis(r), n_subjects_read=totals["n_subjects_read"], statistics=statistics)
    return Reduced(p, design, batches)


def check_methods(ddf: str, vcov: str) -> None:
    """DataError for Bell & McCaffrey's sandwich df, which need two matrices per subject."""
    if VCOV[vcov].sandwich and ddf == "satterthwaite":
        raise DataError(f"ddf='satterthwaite' with vcov={vcov!r} (Bell & McCaffrey's df) needs two p x p "
                        "matrices per subject, which a fit from partitions does not keep; use "
                        "ddf='between-within', 'containment' or 'residual' with a sandwich")
