r"""Hypotheses of the model terms: SAS's type 1, 2 and 3 (PROC MIXED ``HTYPE=1,2,3``) and
emmeans's joint tests.

Notation: :math:`X` the full mean-model matrix (aliased columns included), :math:`\beta`
the kept coefficients.  Effect :math:`F_2` *contains* :math:`F_1` when every variable of
:math:`F_1` is in :math:`F_2`, :math:`F_2` has more, and both have the same continuous
variables (SAS, "Estimable Functions"; ``A:B`` contains ``A``, ``A:x`` does not contain
``A``).  Each function returns, per term, an :math:`L` (rows over :math:`\beta`) whose F
test is the term's test.

* **Type 1** (sequential): with :math:`R` the Cholesky factor of :math:`X^\top X` (kept
  columns, intercept first, then the terms in the order the formula writes them, as SAS's
  MODEL statement lists its effects), the term's rows of :math:`R`: the term adjusted for
  the terms before it, ignoring those after it.
* **Type 2**: the same with the columns ordered (terms not containing :math:`F`,
  :math:`F`, terms containing :math:`F`): :math:`F` adjusted for every term that does not
  contain it.
* **Type 3** (SAS's default): Goodnight's construction as in R lmerTest.  In the
  over-parameterised coding :math:`X_0` (an indicator column for every level combination
  of every term, times its continuous variables; :math:`X_0 = XK` and :math:`X = X_0S`)
  each coefficient :math:`\beta_j` is the estimable function :math:`m_j^\top\gamma` with
  :math:`M = (X^\top X)^{-1}X^\top X_0`.  Going from the highest-order terms down, the
  :math:`m_j` of a term are replaced by their residuals on those of the terms containing
  it (orthogonal to the containing effects); the term's hypothesis is then
  :math:`L = (S^\top m_j)^\top`.  Continuous variables are not centred.  Models without
  marginality, with empty cells or without an intercept get SAS's hypotheses and
  numerator df.
* **Joint** (``"joint"``): emmeans's ``joint_tests``: all interaction contrasts of the
  cell means (equal weights over other factors, covariates at 0), reduced to their
  estimable part (``estimability::estble.subspace``).  Equal to type 3 in models that
  contain every lower-order term and have no empty cell.

Type 1 and 2 use the unweighted :math:`X^\top X`; type 3 and joint need only the null
space of :math:`X` (so they also serve a fit from partitions).
"""

from __future__ import annotations

import itertools
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

from ..engine.clda import constrained
from ..engine.design import formula_variables
from ..errors import DataError, DataWarning
from .grid import ReferenceGrid, forced_factors
from .wald import full_row_rank

_PLAIN = re.compile(r"^(?:C\(\s*)?`?([^`()]+?)`?\s*(?:\))?$")  # x, C(x), `x y` or C(`x y`)
NUMERIC_PROBE = 1.37  # value of the continuous variables on the grids of the type 3 coding
TYPES = (1, 2, 3, "joint")


@dataclass(frozen=True)
class ModelTerm:
    """One term of the mean model.

    Attributes
    ----------
    name : ``A:B`` style.
    factors : expressions of its factors (``A``, ``C(SITE)``, ``I(TIME ** 2)``).
    continuous : those of them that are continuous.
    full : its columns in the full design (aliased ones included).
    kept : its columns among the kept ones.
    """

    name: str
    factors: frozenset
    continuous: frozenset
    full: np.ndarray
    kept: np.ndarray

    def contains(self, other: ModelTerm) -> bool:
        """SAS containment: ``other``'s variables are a proper subset, same continuous ones."""
        return other.factors < self.factors and other.continuous == self.continuous


def _key(term) -> frozenset:
    return frozenset(str(f.expr) for f in term.factors if str(f.expr) != "1")


def model_terms(encoding) -> list[ModelTerm]:
    """The terms of the mean model (intercept excluded) in the order the formula writes them
    (``A*B + x`` gives ``A, B, A:B, x``)."""
    kinds = {str(k): v[0].value for k, v in encoding.spec.encoder_state.items()}
    written = [_key(t) for t in Formula(encoding.formula, _ordering="none")]
    position = np.cumsum(encoding.kept) - 1
    found = {}
    for term, cols in encoding.spec.term_slices.items():
        key = _key(term)
        if not key:
            continue
        full = np.arange(encoding.kept.size)[cols]
        found[key] = ModelTerm(str(term), key, frozenset(e for e in key if kinds.get(e) != "categorical"),
                               full, position[full[encoding.kept[full]]])
    return [found[k] for k in written if k in found] + [t for k, t in found.items() if k not in written]


def intercept_columns(encoding) -> np.ndarray:
    """The intercept's column among the kept ones (empty without an intercept)."""
    full = _intercept(encoding)
    return (np.cumsum(encoding.kept) - 1)[full[encoding.kept[full]]]


def _intercept(encoding) -> np.ndarray:
    """The intercept's column in the full design (empty without an intercept)."""
    p = encoding.kept.size
    return np.concatenate([np.arange(p)[cols] for t, cols in encoding.spec.term_slices.items()
                           if not _key(t)] + [np.array([], dtype=np.int64)]).astype(np.int64)


# -- type 1 and 2: Cholesky factors of X'X in a chosen column order ------------------------------
def _sequential_rows(fit, order: list[np.ndarray], rows_of: int) -> np.ndarray:
    r"""Rows (over the kept columns) of the upper Cholesky factor of :math:`X^\top X` with the
    kept columns in the order of the blocks ``order``, for the block ``rows_of``."""
    kept = fit.design.encoding.kept
    gram = fit.design.gram()[np.ix_(kept, kept)]
    perm = np.concatenate(order).astype(np.int64)
    g = gram[np.ix_(perm, perm)]
    scale = np.sqrt(np.diagonal(g))
    r = np.linalg.cholesky(g / np.outer(scale, scale)).T * scale
    start = sum(block.size for block in order[:rows_of])
    out = np.zeros((order[rows_of].size, kept.sum()))
    out[:, perm] = r[start:start + order[rows_of].size]
    return out


def type1(fit) -> dict[str, np.ndarray]:
    """SAS type 1 (sequential) hypotheses, in the order of the formula."""
    enc = fit.design.encoding
    terms = model_terms(enc)
    order = [intercept_columns(enc)] + [t.kept for t in terms]
    return {t.name: full_row_rank(_sequential_rows(fit, order, i + 1)) for i, t in enumerate(terms)}


def type2(fit) -> dict[str, np.ndarray]:
    """SAS type 2 hypotheses: each term adjusted for every term that does not contain it."""
    enc = fit.design.encoding
    terms = model_terms(enc)
    out = {}
    for t in terms:
        containing = [u.kept for u in terms if u.contains(t)]
        others = [intercept_columns(enc)] + [u.kept for u in terms if u is not t and not u.contains(t)]
        block = [np.concatenate(others).astype(np.int64), t.kept,
                 np.concatenate(containing or [np.array([], dtype=np.int64)]).astype(np.int64)]
        out[t.name] = full_row_rank(_sequential_rows(fit, block, 1))
    return out


# -- type 3: Goodnight's construction in the over-parameterised coding ----------------------------
def _term_grid(fit, term: ModelTerm, categories: dict) -> pd.DataFrame:
    """Every combination of the levels of ``term``'s factors; other factors at their first
    level, continuous variables at ``NUMERIC_PROBE``."""
    enc = fit.design.encoding
    factor_vars = {}
    for expr in sorted(term.factors - term.continuous):
        names = [expr] if expr in enc.variables else \
            [v for v in formula_variables(expr) if v in enc.variables]
        if len(names) != 1:
            raise DataError(f"type 3 hypotheses: cannot tell the variable of the factor '{expr}'")
        factor_vars[names[0]] = categories[expr]
    combos = list(itertools.product(*factor_vars.values())) or [()]
    grid = pd.DataFrame(combos, columns=list(factor_vars))
    frame = fit.design.fixed_frame
    for var in enc.variables:
        if var in factor_vars:
            continue
        if var in enc.levels:
            grid[var] = enc.levels[var][0]
        elif var in forced_factors(enc):
            grid[var] = frame[var].iloc[0]
        else:
            grid[var] = NUMERIC_PROBE
    for var in enc.levels:
        grid[var] = pd.Categorical(grid[var], categories=enc.levels[var])
    return grid


def _coding(fit, terms: list[ModelTerm]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    r"""``(K, S, blocks)``: :math:`X_0 = XK` and :math:`X = X_0S` (structural identities of the
    codings, found on each term's grid) and the over-parameterised columns of each term."""
    enc = fit.design.encoding
    categories = {str(k): list(v[1]["categories"]) for k, v in enc.spec.encoder_state.items()
                  if v[0].value == "categorical"}
    p = enc.kept.size
    intercept = _intercept(enc)
    K_blocks, S = [], []
    blocks, start = [], 0
    if intercept.size:
        k = np.zeros((p, 1))
        k[intercept, 0] = 1.0
        K_blocks.append(k)
        s = np.zeros((1, p))
        s[0, intercept] = 1.0
        S.append(s)
        blocks.append(np.array([0]))
        start = 1
    for t in terms:
        grid = _term_grid(fit, t, categories)
        x = enc.full_matrix(grid)
        cells = ":".join(f"`{e}`" if e in enc.variables and not e.isidentifier() else e
                         for e in sorted(t.factors))
        x0 = np.asarray(model_matrix("0 + " + cells, grid, na_action="raise"), dtype=float)
        sub = np.concatenate([u.full for u in terms if u is t or (t.contains(u))]
                             + ([intercept] if not t.continuous else []))
        k_sub, *_ = np.linalg.lstsq(x[:, sub], x0, rcond=None)
        s_t, *_ = np.linalg.lstsq(x0, x[:, t.full], rcond=None)
        scale = max(np.abs(x0).max(), 1.0)
        if np.abs(x[:, sub] @ k_sub - x0).max() > 1e-8 * scale or \
                np.abs(x0 @ s_t - x[:, t.full]).max() > 1e-8 * scale:
            raise DataError(f"type 3 hypotheses: the coding of term '{t.name}' is not a product of "
                            "factor contrasts and continuous variables; use anova(type='joint')")
        k = np.zeros((p, x0.shape[1]))
        k[sub] = k_sub
        K_blocks.append(k)
        s = np.zeros((x0.shape[1], p))
        s[:, t.full] = s_t
        S.append(s)
        blocks.append(start + np.arange(x0.shape[1]))
        start += x0.shape[1]
    return np.hstack(K_blocks), np.vstack(S), blocks


def _kept_map(design) -> np.ndarray:
    r""":math:`P` with :math:`X = X_{\mathrm{kept}}P` on the data (from the null space :math:`N`:
    :math:`X_{\mathrm{aliased}} = -X_{\mathrm{kept}}N_kN_a^{-1}`)."""
    kept = design.encoding.kept
    P = np.zeros((kept.sum(), kept.size))
    P[:, kept] = np.eye(kept.sum())
    if not kept.all():
        N = design.null_space
        P[:, ~kept] = -N[kept] @ np.linalg.solve(N[~kept], np.eye((~kept).sum()))
    return P


def type3(fit) -> dict[str, np.ndarray]:
    """SAS type 3 hypotheses (Goodnight's construction, R lmerTest's algorithm)."""
    terms = model_terms(fit.design.encoding)
    K, S, _ = _coding(fit, terms)
    L = (_kept_map(fit.design) @ K).T  # column j: beta_j as an estimable function of gamma
    for t in sorted(terms, key=lambda u: -len(u.factors)):
        containing = np.concatenate([u.kept for u in terms if u.contains(t)] + [np.array([], dtype=np.int64)])
        if containing.size and t.kept.size:
            basis = L[:, containing.astype(np.int64)]
            coef, *_ = np.linalg.lstsq(basis, L[:, t.kept], rcond=None)
            L[:, t.kept] = L[:, t.kept] - basis @ coef
    kept = fit.design.encoding.kept
    out = {}
    for t in terms:
        rows = (S.T @ L[:, t.kept])[kept].T
        out[t.name] = full_row_rank(np.where(np.abs(rows) < 1e-10 * max(np.abs(rows).max(initial=0), 1),
                                             0.0, rows))
        _warn_untestable(t.name, out[t.name])
    return out


# -- joint tests (emmeans) ---------------------------------------------------------------------
def _variable(expr: str, variables) -> str | None:
    """The column of a term factor that is a plain variable or ``C(variable)``, else None."""
    match = _PLAIN.match(expr)
    return match.group(1) if match and match.group(1) in variables else None


def _difference_contrasts(n: int) -> np.ndarray:
    return np.hstack([np.eye(n - 1), -np.ones((n - 1, 1))])


def joint(fit) -> dict[str, np.ndarray]:
    """emmeans ``joint_tests``: interaction contrasts of the cell means, estimable part."""
    covariates = [v for v in fit.design.encoding.variables if v not in fit.design.encoding.levels]
    grid = ReferenceGrid(fit, at={v: 0.0 for v in covariates if v not in forced_factors(fit.design.encoding)})
    out = {}
    for term, cols in fit.design.encoding.term_columns().items():
        name = str(term)
        if name == "1" or cols.size == 0:
            continue
        names = [_variable(str(f.expr), fit.design.encoding.variables) for f in term.factors]
        if not all(names):
            L = np.zeros((cols.size, fit.n_fixed))
            L[np.arange(cols.size), cols] = 1.0
            out[name] = full_row_rank(L)
            continue
        factors = [n for n in names if n in grid.factors]
        covariates = [n for n in names if n not in grid.factors]
        L = grid.full_rows(factors, slope=covariates or None)[1]
        k = np.ones((1, 1))
        for f in factors:
            k = np.kron(k, _difference_contrasts(len(grid.factors[f])))
        out[name] = full_row_rank(grid.estimable_part(k @ L))
        _warn_untestable(name, out[name])
    return out


def _warn_untestable(name: str, L: np.ndarray) -> None:
    if not L.size:
        warnings.warn(f"the hypothesis of '{name}' has no estimable part (an empty cell, or a covariate "
                      "collinear with it); it is not tested", DataWarning, stacklevel=4)


HYPOTHESES = {1: type1, 2: type2, 3: type3, "joint": joint}


def term_hypotheses(fit, type=3) -> dict[str, np.ndarray]:
    """Term name -> full-row-rank L (kept columns) of its test of hypothesis ``type``
    (1, 2, 3 or "joint").  Type 3 of a cLDA model (a ``clda(ARM, VISIT)`` term, whose columns
    are no product of factor contrasts) is the joint test: the visit term tests equal visit
    LS means averaged over the arms, the ``clda`` term every treatment effect
    :math:`\tau_{a,k} = 0`."""
    key = type if isinstance(type, str) else (int(type) if isinstance(type, (int, np.integer))
                                              and not isinstance(type, bool) else None)
    if key not in HYPOTHESES:
        raise DataError(f"anova type must be 1, 2, 3 or 'joint', got {type!r}")
    if key == 3 and constrained(fit.design.encoding):
        key = "joint"
    return HYPOTHESES[key](fit)
