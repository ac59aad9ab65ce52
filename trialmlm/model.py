"""Assemble a model from a formula and data: design, covariance structures, likelihood.

The one place that turns the parsed formula into the pieces the optimiser and the
inference code work on; :func:`trialmlm.fit` and the tests both start here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .covariance import CovarianceStructure, get_structure
from .covariance.random_effects import Independent, RandomCovariance, RandomEffects
from .design import Design, build_design
from .errors import DataError
from .formula import ModelFormula, parse_formula
from .identifiability import check_combination, check_estimable, check_levels
from .likelihood import Likelihood
from .multilevel import MultilevelLikelihood
from .patterns import build_batches


@dataclass(frozen=True)
class Model:
    formula: ModelFormula
    design: Design
    structures: tuple[CovarianceStructure, ...]
    likelihood: Likelihood | MultilevelLikelihood
    outer: tuple[RandomCovariance, ...] = ()  # G of each outer grouping factor

    def start(self) -> np.ndarray:
        """Moment-based starting values of the covariance parameters."""
        moments = self.likelihood.ols_moments()
        inner = [s.start(parts) for s, parts in zip(self.structures, moments)]
        return np.concatenate(inner + ([self.likelihood.start()] if self.outer else []))


def _innermost(parsed: ModelFormula, data: pd.DataFrame) -> ModelFormula:
    """Without a covariance term, the subject is the grouping factor with the most levels
    (the last such in the formula on ties)."""
    if parsed.covariance or not parsed.outer:
        return parsed
    counts = [(data[t.subject].nunique() if t.subject in data.columns else -1, i, t.subject)
              for i, t in enumerate(parsed.random_terms)]
    return parsed.with_subject(max(counts)[2])


def build_model(formula: str, data: pd.DataFrame, method: str = "REML", weights: str | None = None) -> Model:
    """Parse, check and encode; raise FormulaError / DataError naming what is wrong."""
    method_u = str(method).upper()
    if method_u not in ("REML", "ML"):
        raise DataError(f"method must be 'REML' or 'ML', got {method!r}")
    parsed = _innermost(parse_formula(formula), data if isinstance(data, pd.DataFrame) else pd.DataFrame())
    term = parsed.covariance
    cls = get_structure(term.structure) if term else Independent
    check_combination(parsed, cls)
    design = build_design(data, parsed, weights, cls.spatial)
    dim = len(term.positions) if cls.spatial else len(design.position_labels)
    grouped = term is not None and term.group is not None
    structures = tuple(cls(dim, grouped=grouped) for _ in design.group_labels)
    if parsed.random:
        structures = tuple(RandomEffects(s, design.random_names, parsed.random.diagonal) for s in structures)
    outer = tuple(RandomCovariance(level.names, level.diagonal) for level in design.levels)
    check_estimable(design, cls, term, sum(s.n_params for s in structures + outer))
    check_levels(design, parsed, cls)
    lik = Likelihood(build_batches(design), list(structures), design.y.size, design.X.shape[1],
                     float(np.log(design.weights).sum()), reml=method_u == "REML")
    if outer:
        lik = MultilevelLikelihood(lik, design, list(outer))
    return Model(parsed, design, structures, lik, outer)
