"""Prepare data for a fit: check columns, drop incomplete rows, encode factors once.

Factor rule: string, bool and pandas-Categorical columns (and ``C(x)`` terms) are
factors; numeric columns are covariates.  Categorical level order is kept; other
factors are sorted (numbers inside strings compare as numbers, so ``V2 < V10``).
The encoding (a formulaic model spec plus the factor levels) is frozen in
:class:`FixedEncoding` and re-applied to new data for predictions and LS-means grids.
"""

from __future__ import annotations

import difflib
import itertools
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

from ..errors import DataError, DataWarning, FormulaError, TrialMLMError
from .clda import TRANSFORMS
from .formula import ModelFormula
from .specification import ModelSpec

ALIAS_TOLERANCE = 1e-7  # R's lm / dqrdc2 tolerance on the relative residual norm
MAX_TABLE_ROWS = 10_000  # largest crossing of factor levels tabulated by FixedEncoding
CHUNK_ROWS = 1 << 18  # rows of X encoded at a time (R factor, moments)
MAX_MAGNITUDE = 1e50  # largest |value| accepted in a numeric column (squares and sums stay far from overflow)


def natural_key(value) -> tuple:
    """Sort key under which 'V2' < 'V10' and numbers sort numerically."""
    if isinstance(value, (int, float, np.integer, np.floating, bool, np.bool_)):
        return (0, float(value), "")
    parts = re.split(r"(\d+(?:\.\d+)?)", str(value))
    return (1, 0.0, tuple((0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts)))


def factor_levels(series: pd.Series) -> list:
    """Levels of a factor column, in the order described in the module docstring."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.dropna().unique())
        return [c for c in series.cat.categories if c in present]
    return sorted(series.dropna().unique().tolist(), key=natural_key)


def _factor(series: pd.Series) -> pd.Categorical:
    """A factor column as a Categorical of its :func:`factor_levels`, hashing it once."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return pd.Categorical(series, categories=factor_levels(series))
    codes, uniques = pd.factorize(series)
    levels = sorted(uniques.tolist(), key=natural_key)
    rank = {v: i for i, v in enumerate(levels)}
    return pd.Categorical.from_codes(np.array([rank[v] for v in uniques.tolist()], dtype=np.int64)[codes],
                                     categories=levels)


def is_factor(series: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def formula_variables(expr: str) -> list[str]:
    """Columns named by a formulaic expression (sorted).  formulaic reads a backticked name
    with a dot, `BASE.LINE`, as attribute access of a variable `BASE`; the quoted name is the
    column.  The package's transforms (:data:`~trialmlm.engine.clda.TRANSFORMS`) are not columns."""
    quoted = set(re.findall(r"`([^`]+)`", expr))
    roots = {q.split(".")[0] for q in quoted if "." in q}
    return sorted((set(Formula(expr).required_variables) - roots - set(TRANSFORMS)) | quoted)


def _check_columns(data: pd.DataFrame, names, where: str) -> None:
    for name in names:
        if name not in data.columns:
            close = difflib.get_close_matches(str(name), [str(c) for c in data.columns], n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise FormulaError(f"column '{name}' ({where}) is not in the data{hint}")


@dataclass(frozen=True)
class FixedEncoding:
    """The frozen encoding of the mean model: formulaic spec plus factor levels."""

    formula: str
    variables: tuple[str, ...]
    levels: dict
    spec: object = field(repr=False)
    columns: tuple[str, ...]
    kept: np.ndarray = field(repr=False)

    def prepare(self, data: pd.DataFrame) -> pd.DataFrame:
        """Columns of ``data`` used by the mean model, factors encoded with the fitted levels."""
        return pd.DataFrame(self._columns(data), index=data.index, columns=list(self.variables))

    def _columns(self, data: pd.DataFrame) -> dict:
        """The arrays of :meth:`prepare`: a Categorical of each factor, the values of each covariate."""
        _check_columns(data, self.variables, "mean model")
        out = {}
        for var in self.variables:
            col = data[var]
            if var not in self.levels:
                out[var] = pd.to_numeric(col, errors="raise").array
                continue
            levels = self.levels[var]
            if isinstance(col.dtype, pd.CategoricalDtype) and not col.cat.ordered \
                    and col.cat.categories.tolist() == list(levels):
                out[var] = col.array
                continue
            cat = pd.Categorical(col, categories=levels)
            unknown = col.notna() & pd.isna(cat)
            if unknown.any():
                bad = col[unknown].iloc[0]
                raise DataError(
                    f"level {bad!r} of column '{var}' was not in the fitted data "
                    f"(levels: {', '.join(map(str, levels))})"
                )
            out[var] = cat
        return out

    def full_matrix(self, data: pd.DataFrame) -> np.ndarray:
        """Design matrix with every column, aliased ones included; incomplete rows give NaN.

        With a :attr:`table`, row :math:`i` is the table's row of its combination of factor
        levels times, column by column, the product of the covariates of that column's
        term; otherwise formulaic evaluates the frozen spec.
        """
        columns = self._columns(data)
        complete = np.ones(len(data), dtype=bool)
        for values in columns.values():
            complete &= ~np.asarray(pd.isna(values))
        if self.table is None:
            out = np.full((len(data), self.kept.size), np.nan)
            if complete.any():
                frame = pd.DataFrame(columns, index=data.index, columns=list(self.variables))
                mm = model_matrix(self.spec, frame.loc[complete], na_action="raise", context=TRANSFORMS)
                out[complete] = np.asarray(mm, dtype=float)
            return out
        index, values = self._table_parts(columns, complete)
        x = self.table[0][index]
        for m, names in enumerate(self.monomials):
            if names:  # columns times a product of covariates (others are times 1)
                columns = self.monomial_of == m
                x[:, columns] *= values[:, m:m + 1]
        if complete.all():
            return x
        out = np.full((len(data), self.kept.size), np.nan)
        out[complete] = x
        return out

    def table_parts(self, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        r"""``(index, values)`` with :math:`x_{ij} = T_{\mathrm{index}_i, j}\,
        \mathrm{values}_{i, \mu(j)}` for the rows of ``data`` (without missing values):
        the :attr:`table` row :math:`T` of each row's factor levels and the value of each of
        the :attr:`monomials` (:math:`\mu` = :attr:`monomial_of`)."""
        columns = self._columns(data)
        return self._table_parts(columns, np.ones(len(data), dtype=bool))

    def _table_parts(self, columns: dict, complete: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, factors, _ = self.table
        codes = [np.asarray(columns[v].codes)[complete] for v in factors]
        n = int(complete.sum())
        index = np.ravel_multi_index(codes, [len(self.levels[v]) for v in factors]) if factors \
            else np.zeros(n, dtype=np.int64)
        values = np.ones((n, len(self.monomials)))
        for m, names in enumerate(self.monomials):
            for name in names:
                values[:, m] *= np.asarray(columns[name][complete], dtype=float)
        return index, values

    @cached_property
    def monomials(self) -> tuple[tuple[str, ...], ...]:
        """The distinct products of covariates the columns of the :attr:`table` are multiplied
        by (``()`` for 1), in order of first column."""
        return tuple(dict.fromkeys(self.table[2]))

    @cached_property
    def monomial_of(self) -> np.ndarray:
        """Per column of the full design, its monomial's index in :attr:`monomials`."""
        return np.array([self.monomials.index(names) for names in self.table[2]], dtype=np.int64)

    @cached_property
    def table(self) -> tuple[np.ndarray, list[str], list[tuple[str, ...]]] | None:
        """``(X, factors, multipliers)`` when every term is a product of factors and plain
        covariates: ``X`` the full matrix of every combination of the ``factors``' levels
        (the first varying slowest) with the covariates at 1, and per column the covariates
        its term multiplies it by; None for other terms (transforms, ``C(x)``) or more than
        ``MAX_TABLE_ROWS`` combinations."""
        multipliers = []
        for term, cols in self.spec.term_slices.items():
            names = []
            for factor in term.factors:
                if factor.eval_method.value == "literal" and factor.expr == "1":
                    continue
                if factor.eval_method.value != "lookup" or factor.expr not in self.variables:
                    return None
                if factor.expr not in self.levels:
                    names.append(factor.expr)
            multipliers += [tuple(names)] * len(range(self.kept.size)[cols])
        factors = [v for v in self.variables if v in self.levels]
        if np.prod([len(self.levels[v]) for v in factors]) > MAX_TABLE_ROWS:
            return None
        grid = pd.DataFrame(list(itertools.product(*(self.levels[v] for v in factors))) or [()],
                            columns=factors)
        for var in self.variables:
            grid[var] = pd.Categorical(grid[var], categories=self.levels[var]) if var in self.levels else 1.0
        table = np.asarray(model_matrix(self.spec, grid, na_action="raise"), dtype=float)
        return table, factors, multipliers

    def matrix(self, data: pd.DataFrame) -> np.ndarray:
        """Design matrix (kept columns only) of ``data``; rows with missing values give NaN."""
        full = self.full_matrix(data)
        return full if self.kept.all() else full[:, self.kept]

    def term_columns(self) -> dict:
        """Model term (formulaic ``Term``) -> indices of its columns among the kept ones."""
        position = np.cumsum(self.kept) - 1
        out = {}
        for term, cols in self.spec.term_slices.items():
            idx = np.arange(self.kept.size)[cols]
            out[term] = position[idx[self.kept[idx]]]
        return out


@dataclass(frozen=True)
class Level:
    """Random effects ``(EXPR | FACTOR)`` of a grouping factor other than the subject
    (nested like sites, or crossed with subjects); rows like ``Design.y``."""

    factor: str
    labels: np.ndarray  # level labels (sorted)
    codes: np.ndarray  # per row, codes into labels
    Z: np.ndarray  # (n_obs, q) values of EXPR
    names: tuple[str, ...]  # EXPR's terms
    spec: object = field(repr=False)
    diagonal: bool = False


class InMemoryRows:
    """What inference needs of the rows of a design, computed from the rows in memory (the
    usual design; :class:`RowSummary` answers the same questions from partition sums).

    Every method takes the :class:`Design` it describes; results are cached on it.
    """

    from_sums = False

    def n_obs(self, design: Design) -> int:
        return int(design.y.size)

    def n_subjects(self, design: Design) -> int:
        return int(design.subject_labels.size)

    def covariate_mean(self, design: Design, var: str) -> float:
        return float(design.fixed_frame[var].mean())

    def level_counts(self, design: Design, factors: list[str]) -> pd.Series:
        return design.fixed_frame.groupby(factors, observed=True).size()

    def within_subject_constant(self, design: Design) -> np.ndarray:
        x = design.X
        starts = np.searchsorted(design.subject, np.arange(design.n_subjects))
        return np.all(np.isclose(x, x[starts][design.subject]), axis=0)

    def column_rank(self, design: Design, columns: np.ndarray) -> int:
        return int(np.linalg.matrix_rank(design.X[:, columns]))

    def gram(self, design: Design) -> np.ndarray:
        if "gram" not in design._cache:
            if design.encoding.table is not None:
                design._cache["gram"] = _gram(design.encoding, design.fixed_frame)
            else:
                x = design.encoding.full_matrix(design.fixed_frame)
                design._cache["gram"] = x.T @ x
        return design._cache["gram"]

    def co_observation(self, design: Design) -> tuple[np.ndarray, np.ndarray]:
        mask = np.zeros((design.subject_labels.size, len(design.position_labels)))
        mask[design.subject, design.position] = 1.0
        groups = range(len(design.group_labels))
        together = np.stack([mask[design.group == g].T @ mask[design.group == g] for g in groups])
        return together, np.bincount(design.group, minlength=len(design.group_labels))

    def require_rows(self, what: str) -> None:
        """Nothing to check: the rows are at hand."""


IN_MEMORY = InMemoryRows()


@dataclass(frozen=True)
class RowSummary:
    r"""What inference needs of the rows of a design that was reduced to per-pattern sums
    without keeping its rows (a fit from partitions, :mod:`trialmlm.engine.partitioned`):
    the methods of :class:`InMemoryRows`, answered from the sums.

    Attributes
    ----------
    n_rows, n_subjects_used : rows and subjects used.
    covariate_sums : sum over the rows used of each covariate of the mean model.
    table_counts : (T,) rows per row of the encoding's table (combination of factor levels).
    together : (G, P, P) per covariance group, subjects observed at both visits of a pair.
    group_subjects : (G,) subjects per covariance group.
    cross : :math:`[X\,y]^\top W[X\,y]` (kept columns) and ``log_weights`` :math:`\sum\log w`,
        for the null model.
    constant : per column of the full design, whether it is constant within every subject,
        and ``r_factor`` its R (:math:`R^\top R = X^\top X`), for the between-within df.
    sandwich_meat : ``(fit, kind) -> meat``, :math:`\sum_cu_cu_c^\top` of the sandwich ``kind``
        (:mod:`trialmlm.inference.vcov`) by a second pass over the rows.
    """

    n_rows: int
    n_subjects_used: int
    covariate_sums: dict
    table_counts: np.ndarray
    together: np.ndarray
    group_subjects: np.ndarray
    cross: np.ndarray
    log_weights: float
    constant: np.ndarray
    r_factor: np.ndarray
    sandwich_meat: Callable = field(repr=False, compare=False)
    from_sums = True

    def n_obs(self, design: Design) -> int:
        return self.n_rows

    def n_subjects(self, design: Design) -> int:
        return self.n_subjects_used

    def covariate_mean(self, design: Design, var: str) -> float:
        return float(self.covariate_sums[var] / self.n_rows)

    def level_counts(self, design: Design, factors: list[str]) -> pd.Series:
        table_factors = design.encoding.table[1]
        grid = pd.MultiIndex.from_product([design.encoding.levels[v] for v in table_factors],
                                          names=table_factors).to_frame(index=False)
        grid["n"] = self.table_counts
        counts = grid.groupby(factors, observed=True)["n"].sum()
        return counts[counts > 0]

    def within_subject_constant(self, design: Design) -> np.ndarray:
        return self.constant[design.encoding.kept]

    def column_rank(self, design: Design, columns: np.ndarray) -> int:
        """R's singular values, with the tolerance of X's shape (numpy's ``matrix_rank`` rule)."""
        s = np.linalg.svd(self.r_factor[:, design.encoding.kept][:, columns], compute_uv=False)
        return int(np.sum(s > s.max(initial=0.0) * max(self.n_rows, s.size) * np.finfo(float).eps))

    def gram(self, design: Design) -> np.ndarray:
        return self.r_factor.T @ self.r_factor

    def co_observation(self, design: Design) -> tuple[np.ndarray, np.ndarray]:
        return self.together, self.group_subjects

    def require_rows(self, what: str) -> None:
        """DataError naming ``what``: the rows were reduced to sums."""
        raise DataError(f"{what} needs the data rows, which a fit from partitions (Dask, Parquet) "
                        "reduces to per-pattern sums without keeping them; fit the rows in memory "
                        "(a pandas DataFrame) for it")


@dataclass(frozen=True)
class Design:
    """Everything a fit needs, sorted by (subject, visit); pure numpy apart from labels.

    ``statistics`` answers what inference needs of the rows (counts, means, ranks,
    :math:`X^\top X`): :data:`IN_MEMORY` from the rows, or a :class:`RowSummary` of a
    design reduced to partition sums (then ``y`` and the per-row arrays are empty).
    """

    y: np.ndarray
    weights: np.ndarray
    subject: np.ndarray  # integer codes 0..n_subjects-1, rows sorted by it
    subject_labels: np.ndarray
    group: np.ndarray  # per subject, codes into group_labels
    group_labels: list
    position: np.ndarray  # per row, codes into position_labels
    position_labels: list
    coordinates: np.ndarray | None  # (n_positions, d) for spatial structures
    encoding: FixedEncoding
    aliased: tuple[str, ...]
    row_index: pd.Index  # index labels in the caller's data, in the order of y
    row_position: np.ndarray  # positions in the caller's data, in the order of y
    n_obs_dropped: int
    dropped_by_column: dict
    class_levels: dict
    fixed_frame: pd.DataFrame  # mean-model variables of the rows used (sorted like y)
    null_space: np.ndarray  # (n_columns, d) basis of the null space of the full design
    Z: np.ndarray | None = None  # random-effects design (rows like y), None without random effects
    random_names: tuple[str, ...] = ()
    random_spec: object = field(default=None, repr=False)
    outer: tuple[Level, ...] = ()  # grouping factors above the subject (sites, raters), in formula order
    source: pd.DataFrame | None = field(default=None, repr=False)  # the model's columns, every row
    n_subjects_read: int | None = None  # subjects in the rows read, used or not (None: no subject)
    held_X: np.ndarray | None = field(default=None, repr=False)  # X when not re-encoded from fixed_frame
    statistics: InMemoryRows | RowSummary = IN_MEMORY  # a RowSummary for a design reduced to sums
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def require_rows(self, what: str) -> None:
        """DataError naming ``what`` for a design reduced to sums (:class:`RowSummary`)."""
        self.statistics.require_rows(what)

    @property
    def n_obs(self) -> int:
        """Rows used."""
        return self.statistics.n_obs(self)

    @property
    def n_subjects(self) -> int:
        """Subjects with at least one row used."""
        return self.statistics.n_subjects(self)

    def covariate_mean(self, var: str) -> float:
        """Mean of the mean model's covariate ``var`` over the rows used."""
        return self.statistics.covariate_mean(self, var)

    def level_counts(self, factors: list[str]) -> pd.Series:
        """Rows used per combination of the levels of ``factors`` (observed combinations)."""
        return self.statistics.level_counts(self, factors)

    def within_subject_constant(self) -> np.ndarray:
        """Per column of X, whether it is constant within every subject (``np.isclose``)."""
        return self.statistics.within_subject_constant(self)

    def column_rank(self, columns: np.ndarray) -> int:
        """Rank of ``X[:, columns]`` (numpy's ``matrix_rank`` rule)."""
        return self.statistics.column_rank(self, columns)

    def gram(self) -> np.ndarray:
        r""":math:`X^\top X` of the full design (aliased columns included), unweighted: from the
        encoding's table (:func:`_gram`), the rows, or :math:`R^\top R` for a design reduced to
        sums.  SAS's type 1 and 2 hypotheses are built from it."""
        return self.statistics.gram(self)

    def co_observation(self) -> tuple[np.ndarray, np.ndarray]:
        """``(together, subjects)``: per covariance group the (P, P) numbers of subjects observed
        at both positions of each pair, and the group's number of subjects."""
        return self.statistics.co_observation(self)

    def table_rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The rows as :meth:`FixedEncoding.table_parts` ``(index, values)`` (kept) when the
        encoding has a table whose (T, p, p) products are no larger than X, so that sums over
        the rows are bincounts per table row (:meth:`weighted_gram`, :meth:`crossprod`);
        None otherwise."""
        self.require_rows("products with X")
        enc = self.encoding
        if enc.table is None or enc.table[0].size * enc.kept.size > self.y.size * self.n_fixed:
            return None
        if "table_parts" not in self._cache:
            self._cache["table_parts"] = enc.table_parts(self.fixed_frame)
        return self._cache["table_parts"]

    def weighted_gram(self, w: np.ndarray) -> np.ndarray:
        r""":math:`X^\top\mathrm{diag}(w)X` of the kept columns (``w`` rows like ``y``): from
        the encoding's table (:meth:`table_rows`), :math:`\sum_c T_cT_c^\top \circ \sum_{r
        \in c} w_rv_rv_r^\top` (:func:`monomial_sums`, :func:`gram_of_sums`), else from X."""
        rows = self.table_rows()
        if rows is None:
            return self.X.T @ (self.X * w[:, None])
        full = gram_of_sums(self.encoding, monomial_sums(self.encoding, *rows, w))
        return full[np.ix_(self.encoding.kept, self.encoding.kept)]

    def linear_predictor(self, beta: np.ndarray) -> np.ndarray:
        r""":math:`X\beta` (rows like ``y``) for the kept columns' ``beta``: from the encoding's
        table (:meth:`table_rows`), :math:`x_r^\top\beta = \sum_m v_{rm}(T^{(m)}\beta^{(m)})_{c_r}`
        over the monomials :math:`m` (:math:`T^{(m)}`, :math:`\beta^{(m)}` the columns of
        monomial :math:`m`, :math:`c_r` the table row of row :math:`r`), else from X."""
        rows = self.table_rows()
        if rows is None:
            return self.X @ beta
        index, values = rows
        enc = self.encoding
        full = np.zeros(enc.kept.size)
        full[enc.kept] = beta
        eta = np.zeros(index.size)
        for m, names in enumerate(enc.monomials):
            term = (enc.table[0][:, enc.monomial_of == m] @ full[enc.monomial_of == m])[index]
            eta += values[:, m] * term if names else term
        return eta

    def crossprod(self, v: np.ndarray) -> np.ndarray:
        r""":math:`X^\top v` of the kept columns (``v`` rows like ``y``; R's ``crossprod``): from
        the encoding's table (:meth:`table_rows`), :math:`\sum_c T_{cj}\sum_{r \in c}
        v_r v_{r\mu(j)}` by bincounts, else from X."""
        rows = self.table_rows()
        if rows is None:
            return self.X.T @ v
        index, values = rows
        enc = self.encoding
        sums = np.column_stack([np.bincount(index, weights=v * values[:, m], minlength=enc.table[0].shape[0])
                                for m in range(len(enc.monomials))])
        return np.einsum("cj,cj->j", enc.table[0], sums[:, enc.monomial_of])[enc.kept]

    @property
    def X(self) -> np.ndarray:
        """The mean-model matrix (kept columns), rows like ``y``: ``held_X``, or encoded from
        ``fixed_frame`` by the frozen encoding's table on first use and kept (the fit itself
        never needs it whole, see :meth:`rows_at`)."""
        if self.held_X is not None:
            return self.held_X
        self.require_rows("the design matrix X (fitted values, residuals, sandwich, between-within df)")
        if "X" not in self._cache:
            self._cache["X"] = self.encoding.matrix(self.fixed_frame)
        return self._cache["X"]

    @property
    def n_fixed(self) -> int:
        """Columns of X (the kept ones)."""
        return int(self.encoding.kept.sum())

    def rows_at(self, index) -> np.ndarray:
        """Rows ``index`` (a slice or positions) of X, encoded for those rows only when X is
        not at hand (the sandwich's clusters, chunk by chunk, at registry scale)."""
        if self.held_X is not None or "X" in self._cache:
            return self.X[index]
        self.require_rows("the design matrix X (fitted values, residuals, sandwich, between-within df)")
        return self.encoding.matrix(self.fixed_frame.iloc[index])

    def with_response(self, y: np.ndarray) -> Design:
        """The same design with the response vector ``y`` (in the order of ``self.y``)."""
        y = np.asarray(y, dtype=float)
        if y.shape != self.y.shape or not np.all(np.isfinite(y)):
            raise DataError(f"a new response needs {self.y.size} finite values in the design's row order")
        return replace(self, y=y)

    def subject_rows(self, subjects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, counts)``: the row positions of the subjects ``subjects`` (codes; repeats
        allowed), subject after subject, and each one's number of rows."""
        counts = np.bincount(self.subject, minlength=self.subject_labels.size)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        n = counts[subjects]
        offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        return np.repeat(starts[subjects], n) + offsets, n

    def resample(self, subjects: np.ndarray) -> Design:
        """The design of the subjects ``subjects`` (codes; repeats allowed), e.g. a bootstrap sample.

        Each drawn subject becomes a new subject with all of its rows.  Encoding, class
        levels and estimability (``null_space``) stay those of the original design, so the
        result serves re-estimation, not a new analysis of a different data set.
        """
        if self.outer:
            raise DataError("a design with grouping factors above the subject cannot be resampled by subject")
        rows, n = self.subject_rows(subjects)
        X = self.held_X if self.held_X is not None else self._cache.get("X")  # X at hand is kept
        return replace(
            self, y=self.y[rows], held_X=None if X is None else X[rows],
            weights=self.weights[rows],
            subject=np.repeat(np.arange(len(subjects)), n), subject_labels=self.subject_labels[subjects],
            group=self.group[subjects], position=self.position[rows], row_index=self.row_index[rows],
            row_position=self.row_position[rows], fixed_frame=self.fixed_frame.iloc[rows],
            Z=None if self.Z is None else self.Z[rows], n_subjects_read=len(subjects),
        )


def check_values(frame: pd.DataFrame, columns: list[str], response: str | None) -> None:
    """Numeric model columns must be finite with :math:`|x| \\le` ``MAX_MAGNITUDE``; the
    response must vary (not checked with ``response=None``).  The error names the column
    and its first offending row labels."""
    for col in dict.fromkeys(columns):
        values = frame[col]
        if is_factor(values):
            continue
        x = values.to_numpy(dtype=float)
        bad = ~(np.abs(x) <= MAX_MAGNITUDE)
        if bad.any():
            rows = ", ".join(map(repr, values.index[bad][:5].tolist())) + (", ..." if bad.sum() > 5 else "")
            kind = "infinite values" if np.isinf(x[bad]).all() else f"values beyond +-{MAX_MAGNITUDE:g}"
            raise DataError(f"column '{col}' holds {kind} (rows {rows}); "
                            f"trialmlm accepts finite values up to {MAX_MAGNITUDE:g} in absolute value: "
                            "fix or rescale the column (e.g. other units)")
    if response is None:
        return
    y = frame[response].to_numpy(dtype=float)
    if not y.min() < y.max():
        raise DataError(f"no variation in the response '{response}': every analysed row has "
                        f"{response} = {frame[response].iloc[0]:g}")


def drop_incomplete(frame: pd.DataFrame) -> tuple[np.ndarray, dict]:
    missing = frame.isna()
    by_column = {c: int(n) for c, n in missing.sum().items() if n}
    return ~missing.any(axis=1).to_numpy(), by_column


def alias_columns(X: np.ndarray) -> np.ndarray:
    """Boolean mask of columns linearly independent of the columns before them.

    Column-ordered Gram-Schmidt with re-orthogonalisation: a column is aliased when the
    norm of its residual on the earlier kept columns is below ``ALIAS_TOLERANCE`` times
    its own norm (the rule of R's ``dqrdc2``; SAS's sweep keeps the same columns).
    """
    norms = np.linalg.norm(X, axis=0)
    keep = np.zeros(X.shape[1], dtype=bool)
    basis = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        if norms[j] == 0:
            continue
        v = X[:, j] / norms[j]
        for _ in range(2):
            v = v - basis @ (basis.T @ v)
        r = np.linalg.norm(v)
        if r > ALIAS_TOLERANCE:
            keep[j] = True
            basis = np.column_stack([basis, v / r])
    return keep


def model_columns(data: pd.DataFrame, formula: ModelFormula,
                   weights: str | None) -> tuple[list[str], list[str], list[str]]:
    """Columns the model reads: ``(fixed_vars, random_vars, used)``, ``used`` being every
    column of the model once (response, mean model, random effects, positions, subject,
    outer factors, covariance group, weights).  Raises FormulaError for a formula formulaic
    cannot parse or a column not in ``data`` (with close names as a hint)."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    cov, subject = formula.covariance, formula.subject
    positions = cov.positions if cov else ()
    group_var = cov.group if cov else None
    try:
        fixed_vars = formula_variables(formula.fixed)
        random_vars = sorted({v for t in formula.random_terms for v in formula_variables(t.expr)})
    except Exception as exc:  # formulaic's parser errors
        raise FormulaError(f"cannot parse the model formula '{formula.text}': {exc}") from None
    _check_columns(data, [formula.response], "response")
    _check_columns(data, fixed_vars, "mean model")
    _check_columns(data, random_vars, "random effects")
    if cov:
        _check_columns(data, positions, f"visit/coordinates of {cov.structure}(...)")
    _check_columns(data, [subject] if subject else [], "subject")
    outer_factors = [t.subject for t in formula.outer]
    _check_columns(data, outer_factors, "random-effect grouping factor")
    if group_var:
        _check_columns(data, [group_var], "covariance group")
    if weights is not None:
        _check_columns(data, [weights], "weights")
    used = list(dict.fromkeys([formula.response, *fixed_vars, *random_vars, *positions,
                               *([subject] if subject else []), *outer_factors]
                              + ([group_var] if group_var else []) + ([weights] if weights else [])))
    return fixed_vars, random_vars, used


def check_types(frame: pd.DataFrame, formula: ModelFormula, weights: str | None, spatial: bool) -> None:
    """The response, spatial coordinates and weights must be numeric columns (DataError)."""
    response = frame[formula.response]
    if not pd.api.types.is_numeric_dtype(response) or pd.api.types.is_bool_dtype(response):
        raise DataError(f"response '{formula.response}' must be numeric, it has dtype {response.dtype}")
    if spatial:
        for c in formula.covariance.positions:
            if not pd.api.types.is_numeric_dtype(frame[c]):
                raise DataError(f"coordinate '{c}' of {formula.covariance.structure}(...) must be numeric")
    if weights is not None and not pd.api.types.is_numeric_dtype(frame[weights]):
        raise DataError(f"weights column '{weights}' must be numeric")


def _complete_rows(frame: pd.DataFrame, formula: ModelFormula, used: list[str],
                   weights: str | None) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """The rows without a missing value in a model column: ``(rows, their positions in
    frame, rows dropped per column)``; their values checked (:func:`check_values`) and
    their weights positive (DataError naming the subject)."""
    if not len(frame):
        raise DataError("the data frame has no rows")
    complete, dropped = drop_incomplete(frame)
    rows = frame if complete.all() else frame.loc[complete]  # frame is the caller's copy, never written
    if rows.empty:
        detail = ", ".join(f"{c}: {n}" for c, n in dropped.items())
        raise DataError(f"no complete rows left after dropping rows with missing values ({detail})")
    check_values(rows, used, formula.response)
    check_weights(rows, weights, formula.subject)
    return rows, np.flatnonzero(complete), dropped


def check_weights(rows: pd.DataFrame, weights: str | None, subject: str | None) -> None:
    """Weights must be positive (DataError naming the first subject, or row, with one that is not)."""
    if weights is not None and (rows[weights] <= 0).any():
        bad = rows.loc[rows[weights] <= 0].iloc[0]
        where = f"subject {bad[subject]!r}" if subject else f"row {bad.name!r}"
        raise DataError(f"weights column '{weights}' must be positive; {where} has {bad[weights]}")


def _visit_levels(data: pd.DataFrame, frame: pd.DataFrame, visit: str, factor: pd.Categorical) -> list:
    """Visit levels with an observed response, in order (the categories of ``factor``, the
    :func:`_factor` of ``frame[visit]``); warns (DataWarning) about declared levels
    (categories, or values in rows dropped) that have none."""
    present = list(factor.categories)
    if isinstance(data[visit].dtype, pd.CategoricalDtype):
        declared = list(data[visit].cat.categories)
    elif len(frame) < len(data):
        declared = sorted(data[visit].dropna().unique().tolist(), key=natural_key)
    else:  # every row kept: every value is observed
        declared = present
    unobserved = [lv for lv in declared if lv not in set(present)]
    if unobserved:
        warnings.warn(
            f"visit level(s) {', '.join(map(str, unobserved))} of '{visit}' have no observed "
            "response and are left out of the covariance matrix",
            DataWarning,
            stacklevel=5,
        )
    return present


def _positions(data: pd.DataFrame, frame: pd.DataFrame, formula: ModelFormula,
               spatial: bool, factors: dict) -> tuple[np.ndarray, list, np.ndarray | None]:
    """Position code of each row, the position labels and (spatial) the coordinates of each
    position: the order of a subject's rows without a covariance term, the observed visit
    levels (the codes of the visit's factor in ``factors``, else encoded here), or the
    distinct coordinate points."""
    cov, subject = formula.covariance, formula.subject
    if cov is None:  # independent residuals: positions are the order of a subject's rows
        position = frame.groupby(subject, sort=False).cumcount().to_numpy(dtype=np.int64) if subject \
            else np.zeros(len(frame), dtype=np.int64)
        return position, list(range(int(position.max()) + 1)), None
    if not spatial:
        visit = cov.positions[0]
        factor = factors[visit] if visit in factors else _factor(frame[visit])
        return factor.codes.astype(np.int64), _visit_levels(data, frame, visit, factor), None
    points, position = np.unique(frame.loc[:, list(cov.positions)].to_numpy(dtype=float), axis=0,
                                 return_inverse=True)
    labels = [p[0] if len(cov.positions) == 1 else tuple(p) for p in points.tolist()]
    return position.reshape(-1).astype(np.int64), labels, points


def check_duplicates(subject_codes: np.ndarray, subject_labels: np.ndarray, position: np.ndarray,
                      position_labels: list, positions, order: np.ndarray) -> None:
    """One row per subject and position (DataError naming the subject and visit of the first
    row in data order that has a twin); ``order`` sorts the rows by subject and position,
    so that twins are neighbours."""
    s, p = subject_codes[order], position[order]
    twin = (s[1:] == s[:-1]) & (p[1:] == p[:-1])
    if twin.any():
        dup = np.zeros(s.size, dtype=bool)
        dup[1:] |= twin
        dup[:-1] |= twin
        first = order[dup].min()
        raise DataError(
            f"subject {subject_labels[subject_codes[first]]!r} has more than one row at "
            f"{', '.join(positions)} = {position_labels[position[first]]!r} ({int(dup.sum())} rows in such "
            "duplicates); each subject may have one row per visit"
        )


def covariance_groups(frame: pd.DataFrame, group_var: str | None, subject_codes: np.ndarray,
            subject_labels: np.ndarray, glevels: list | None = None) -> tuple[np.ndarray, list]:
    """Covariance group of each subject (codes) and the group labels (``[None]`` without
    SAS GROUP=; ``glevels``, default those of ``frame``); a subject in two groups is a
    DataError."""
    group = np.zeros(len(subject_labels), dtype=np.int64)
    if not group_var:
        return group, [None]
    glevels = factor_levels(frame[group_var]) if glevels is None else glevels
    gcodes = pd.Categorical(frame[group_var], categories=glevels).codes
    per_subject = pd.DataFrame({"s": subject_codes, "g": gcodes}).groupby("s")["g"].nunique()
    if (per_subject > 1).any():
        s = per_subject.index[per_subject.to_numpy() > 1][0]
        raise DataError(
            f"subject {subject_labels[s]!r} appears in more than one level of group '{group_var}'"
        )
    group[subject_codes] = gcodes
    return group, list(glevels)


WELL_CONDITIONED = 1e4  # condition number of the column-scaled X below which its Gram matrix decides


def _gram(encoding: FixedEncoding, fixed: pd.DataFrame) -> np.ndarray:
    r""":math:`X^\top X` of the full design from its table (:meth:`FixedEncoding.table_parts`):
    :math:`\sum_c T_{ci}T_{cj}\,S_c[\mu(i), \mu(j)]` with :math:`S_c = \sum_{r\in c} v_rv_r^\top`
    the monomials' cross-products of the rows :math:`r` of factor-level combination :math:`c`."""
    return gram_of_sums(encoding, monomial_sums(encoding, *encoding.table_parts(fixed)))


def monomial_sums(encoding: FixedEncoding, index: np.ndarray, values: np.ndarray,
                  weights: np.ndarray | None = None) -> np.ndarray:
    r"""(T, d, d): per row of the encoding's table, :math:`\sum w_rv_rv_r^\top` over the rows
    ``index`` points to it (:meth:`FixedEncoding.table_parts`; :math:`w_r = 1` without
    ``weights``)."""
    n_table, d = encoding.table[0].shape[0], values.shape[1]
    sums = np.empty((n_table, d, d))
    for a in range(d):
        for b in range(a, d):
            product = values[:, a] * values[:, b]
            if weights is not None:
                product *= weights
            sums[:, a, b] = sums[:, b, a] = np.bincount(index, weights=product, minlength=n_table)
    return sums


def gram_of_sums(encoding: FixedEncoding, sums: np.ndarray) -> np.ndarray:
    """:math:`X^\top X` of the full design from :func:`monomial_sums` (see :func:`_gram`)."""
    table, mu = encoding.table[0], encoding.monomial_of
    return np.einsum("ci,cj,cij->ij", table, table, sums[:, mu][:, :, mu])


def _r_factor(gram: np.ndarray, blocks) -> np.ndarray:
    r"""A triangular :math:`R` with :math:`R^\top R = X^\top X` (``gram``); ``blocks()``
    yields the row blocks of X.

    :math:`X` and :math:`R` have the same column norms, residual norms of one column on
    others, singular values and right singular vectors, so aliasing and the null space are
    decided on :math:`R` (:func:`alias_columns`, :func:`null_space_basis`).  When the
    column-scaled :math:`S = D^{-1}X^\top XD^{-1}` (:math:`D` the column norms) has a
    Cholesky factor with condition number below ``WELL_CONDITIONED``,
    :math:`R = \mathrm{chol}(S)D` is accurate to about :math:`10^{-8}` relative, far from
    the aliasing tolerance, and no column is aliased.  Otherwise :math:`R` is computed
    stably by Householder QR, block by block (the :math:`R` of the previous :math:`R`
    stacked on the next block; TSQR).
    """
    norms = np.sqrt(np.diagonal(gram))
    if np.all(norms > 0) and np.all(np.isfinite(gram)):
        try:
            chol = np.linalg.cholesky(gram / np.outer(norms, norms)).T
        except np.linalg.LinAlgError:
            chol = None
        if chol is not None and np.linalg.cond(chol) < WELL_CONDITIONED:
            return chol * norms
    r = None
    for block in blocks():
        r = np.linalg.qr(block if r is None else np.vstack([r, block]), mode="r")
    return r


def _blocks(x_of, n: int, size: int = CHUNK_ROWS):
    """A function returning ``x_of(lo, hi)`` for consecutive row ranges of at most ``size`` rows."""
    return lambda: (x_of(lo, min(lo + size, n)) for lo in range(0, n, size))


def _fixed_design(formula: ModelFormula, frame: pd.DataFrame, fixed_vars: list[str], levels: dict,
                  encoding: FixedEncoding | None = None
                  ) -> tuple[list[str], FixedEncoding, np.ndarray, np.ndarray | None]:
    """The column names of the full mean-model matrix (aliased columns included), the frozen
    encoding, which keeps the columns independent of the earlier ones, and the matrix's R
    factor (:func:`_r_factor`), and X itself (kept columns) where the encoding has no
    :attr:`FixedEncoding.table` (None otherwise: X is encoded block by block from the
    table, never whole).  An ``encoding`` of the same formula, variables and factor levels
    is re-applied instead of encoding anew; otherwise a spec made on the first row is used
    when every term is a product of factors and covariates (nothing learnt from the data),
    and formulaic's spec of all rows else (stateful transforms such as ``center(x)``)."""
    fixed_levels = {v: levels[v] for v in fixed_vars if v in levels}
    fixed = frame.loc[:, fixed_vars]
    X_all = None
    if encoding is None or (encoding.formula, encoding.variables, encoding.levels) \
            != (formula.fixed, tuple(fixed_vars), fixed_levels):
        try:
            probe = model_matrix(formula.fixed, fixed.iloc[:1], na_action="raise", context=TRANSFORMS)
            encoding = FixedEncoding(formula.fixed, tuple(fixed_vars), fixed_levels, probe.model_spec,
                                     tuple(probe.columns), np.ones(probe.shape[1], dtype=bool))
        except Exception:  # a transform that needs more than one row: formulaic on all rows
            encoding = None
        try:
            if encoding is None or encoding.table is None:
                mm = model_matrix(formula.fixed, fixed, na_action="raise", context=TRANSFORMS)
                X_all = np.asarray(mm, dtype=float)
                encoding = FixedEncoding(formula.fixed, tuple(fixed_vars), fixed_levels, mm.model_spec,
                                         tuple(mm.columns), np.ones(X_all.shape[1], dtype=bool))
        except Exception as exc:
            if isinstance(exc.__cause__, TrialMLMError):  # a package transform's own error (clda)
                raise exc.__cause__ from None
            raise FormulaError(f"cannot build the mean model '{formula.fixed}': {exc}") from None
    elif encoding.table is None:
        X_all = encoding.full_matrix(fixed)
    names = list(encoding.spec.column_names)
    if X_all is None:
        r = _r_factor(_gram(encoding, fixed),
                      _blocks(lambda lo, hi: encoding.full_matrix(fixed.iloc[lo:hi]), len(fixed)))
    else:
        r = _r_factor(X_all.T @ X_all, _blocks(lambda lo, hi: X_all[lo:hi], len(X_all)))
    keep = alias_columns(r)
    columns = tuple(n for n, k in zip(names, keep) if k)
    if not np.array_equal(keep, encoding.kept) or encoding.columns != columns:
        encoding = replace(encoding, columns=columns, kept=keep)
    return names, encoding, r, (None if X_all is None else X_all[:, keep])


def _outer_factors(formula: ModelFormula, frame: pd.DataFrame, random_vars: list[str]) -> tuple[Level, ...]:
    """The :class:`Level` of each grouping factor above the subject, in formula order."""
    out = []
    for term in formula.outer:
        codes, labels = pd.factorize(frame[term.subject], sort=True)
        z, names, spec = _random_matrix(term, frame, random_vars)
        out.append(Level(term.subject, np.asarray(labels), codes.astype(np.int64), z, names, spec,
                         term.diagonal))
    return tuple(out)


@dataclass(frozen=True)
class SortedRows:
    """The complete rows of a model's columns, sorted by (subject, position), with the codes
    :func:`build_design` derives from them (factors with the levels of the rows kept)."""

    frame: pd.DataFrame  # the columns still needed, factors as Categoricals, sorted
    row_position: np.ndarray
    dropped: dict
    position: np.ndarray
    position_labels: list
    coordinates: np.ndarray | None
    subject_codes: np.ndarray
    subject_labels: np.ndarray
    group: np.ndarray
    group_labels: list
    levels: dict


def _sorted_rows(data: pd.DataFrame, source: pd.DataFrame, formula: ModelFormula, spec: ModelSpec,
                 columns: tuple[list, list, list], weights: str | None, spatial: bool) -> SortedRows:
    """Complete rows (:func:`_complete_rows`), factor levels of the rows kept, positions
    (:func:`_positions`), subjects and covariance groups, sorted by (subject, position)."""
    fixed_vars, random_vars, used = columns
    frame, row_position, dropped = _complete_rows(source, formula, used, weights)
    # factor levels after dropping rows, so that unobserved levels disappear
    factors = {var: _factor(frame[var]) for var in dict.fromkeys(fixed_vars + random_vars)
               if is_factor(frame[var])}
    position, position_labels, coordinates = _positions(data, frame, formula, spatial, factors)
    subject_codes, subject_labels = _subjects(frame, spec.subject)
    order = np.argsort(subject_codes * max(len(position_labels), 1) + position, kind="stable")
    check_duplicates(subject_codes, subject_labels, position, position_labels, spec.positions, order)
    group, group_labels = covariance_groups(frame, spec.group, subject_codes, subject_labels)
    # one new frame of the columns still needed, sorted (a filtered frame is not written to)
    needed = [formula.response, *fixed_vars, *random_vars, *spec.outer] + ([weights] if weights else [])
    frame = pd.DataFrame({var: factors.get(var, frame[var]) for var in dict.fromkeys(needed)},
                         index=frame.index).iloc[order]
    return SortedRows(frame, row_position[order], dropped, position[order], list(position_labels),
                      coordinates, subject_codes[order].astype(np.int64), np.asarray(subject_labels), group,
                      group_labels, {var: list(cat.categories) for var, cat in factors.items()})


def build_design(data: pd.DataFrame, formula: ModelFormula, weights: str | None, spatial: bool,
                 encoding: FixedEncoding | None = None) -> Design:
    """Check and encode ``data`` for ``formula``; never modifies ``data``.  ``encoding``: the
    mean model's encoding of an earlier design, re-used when its factor levels are those of
    ``data`` (simulated trials of one design), see :func:`_fixed_design`.

    Steps: the model's columns (:func:`model_columns`, :func:`check_types`), the complete
    rows sorted by subject and position (:func:`_sorted_rows`), the mean model
    (:func:`_fixed_design`), random-effect designs (:func:`_random_matrix`,
    :func:`_outer_factors`).

    Raises
    ------
    FormulaError  for unknown columns;  DataError  for unusable data (see messages).
    """
    spec = ModelSpec.of(formula)
    fixed_vars, random_vars, used = columns = model_columns(data, formula, weights)
    source = data.loc[:, used]  # a new frame (a selection of columns copies them); never modified
    check_types(source, formula, weights, spatial)
    rows = _sorted_rows(data, source, formula, spec, columns, weights, spatial)
    frame = rows.frame
    names, encoding, r_factor, X = _fixed_design(formula, frame, fixed_vars, rows.levels, encoding)
    class_levels = {v: list(lv) for v, lv in encoding.levels.items()}
    if spec.group:
        class_levels.setdefault(spec.group, rows.group_labels)
    Z, random_names, random_spec = _random_matrix(spec.subject_term, frame, random_vars)
    return Design(
        y=frame[formula.response].to_numpy(dtype=float), held_X=X,
        weights=frame[weights].to_numpy(dtype=float) if weights else np.ones(len(frame)),
        subject=rows.subject_codes, subject_labels=rows.subject_labels, group=rows.group,
        group_labels=rows.group_labels, position=rows.position, position_labels=rows.position_labels,
        coordinates=rows.coordinates, encoding=encoding,
        aliased=tuple(n for n, k in zip(names, encoding.kept) if not k),
        row_index=frame.index, row_position=rows.row_position, n_obs_dropped=len(source) - len(frame),
        dropped_by_column=rows.dropped, class_levels=class_levels, fixed_frame=frame.loc[:, fixed_vars],
        null_space=null_space_basis(r_factor), Z=Z, random_names=random_names, random_spec=random_spec,
        outer=_outer_factors(formula, frame, random_vars), source=source,
        n_subjects_read=_subjects_read(source, frame, spec.subject, rows.subject_labels),
    )


def _subjects_read(source: pd.DataFrame, frame: pd.DataFrame, subject: str | None,
                   used: np.ndarray) -> int | None:
    """Subjects in the rows read, used or not (None for the linear model, which has none)."""
    if subject is None:
        return None
    return int(len(used) if len(frame) == len(source) else source[subject].nunique())


def _subjects(frame: pd.DataFrame, subject: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Subject codes of the rows and the subjects' labels; without a subject (the linear
    model) every row is its own subject, labelled by its index label in the caller's data."""
    if subject is None:
        return np.arange(len(frame)), np.asarray(frame.index)
    codes, labels = pd.factorize(frame[subject], sort=True)
    return codes, np.asarray(labels)


def _random_matrix(term, frame: pd.DataFrame,
                   variables: list) -> tuple[np.ndarray | None, tuple[str, ...], object]:
    """Values (n_obs, q), term names and formulaic spec of a random-effect term's EXPR
    (None, (), None without a term)."""
    if term is None:
        return None, (), None
    try:
        zm = model_matrix(term.expr, frame.loc[:, variables], na_action="raise")
    except Exception as exc:
        raise FormulaError(f"cannot build the random effects '{term}': {exc}") from None
    return np.asarray(zm, dtype=float), tuple(zm.columns), zm.model_spec


def null_space_basis(X: np.ndarray) -> np.ndarray:
    """Orthonormal basis of {b: Xb = 0}; a linear function l'beta is estimable iff l'N = 0."""
    norms = np.linalg.norm(X, axis=0)
    scaled = X / np.where(norms > 0, norms, 1.0)
    _, s, vt = np.linalg.svd(scaled, full_matrices=scaled.shape[0] < scaled.shape[1])
    rank = int(np.sum(s > ALIAS_TOLERANCE * s[0])) if s.size else 0
    basis = vt[rank:].T / np.where(norms > 0, norms, 1.0)[:, None]
    if basis.size:
        basis, _ = np.linalg.qr(basis)
    return basis

