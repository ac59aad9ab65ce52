"""Assemble a model from a formula and data: design, covariance structures, likelihood.

The one place that turns the parsed formula into the pieces the optimiser and the
inference code work on; :func:`trialmlm.fit` and the tests both start here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .covariance import CovarianceStructure, get_structure
from .covariance.random_effects import Independent, RandomEffects
from .design import Design, build_design
from .errors import DataError
from .formula import ModelFormula, parse_formula
from .identifiability import check_combination, check_estimable
from .likelihood import Likelihood
from .patterns import build_batches, with_response


@dataclass(frozen=True)
class Model:
    formula: ModelFormula
    design: Design
    structures: tuple[CovarianceStructure, ...]
    likelihood: Likelihood
    weights: str | None = None

    def with_design(self, design: Design) -> Model:
        """The same model on another design of the same encoding (new responses, a resample)."""
        lik = _likelihood(design, self.structures, self.likelihood.reml)
        return replace(self, design=design, likelihood=lik)

    def with_response(self, y: np.ndarray) -> Model:
        """The same model with new responses (in the design's row order); the patterns are kept."""
        design = self.design.with_response(y)
        lik = self.likelihood
        lik = Likelihood(with_response(lik.batches, design), lik.structures, lik.n_obs, lik.p,
                         float(np.log(design.weights).sum()), reml=lik.reml)
        return replace(self, design=design, likelihood=lik)

    def start(self) -> np.ndarray:
        """Moment-based starting values of the covariance parameters."""
        moments = self.likelihood.ols_moments()
        return np.concatenate([s.start(parts) for s, parts in zip(self.structures, moments)])


def build_model(formula: str, data: pd.DataFrame, method: str = "REML", weights: str | None = None) -> Model:
    """Parse, check and encode; raise FormulaError / DataError naming what is wrong."""
    method_u = str(method).upper()
    if method_u not in ("REML", "ML"):
        raise DataError(f"method must be 'REML' or 'ML', got {method!r}")
    parsed = parse_formula(formula)
    term = parsed.covariance
    cls = get_structure(term.structure) if term else Independent
    check_combination(parsed, cls)
    design = build_design(data, parsed, weights, cls.spatial)
    dim = len(term.positions) if cls.spatial else len(design.position_labels)
    grouped = term is not None and term.group is not None
    structures = tuple(cls(dim, grouped=grouped) for _ in design.group_labels)
    if parsed.random:
        structures = tuple(RandomEffects(s, design.random_names, parsed.random.diagonal) for s in structures)
    check_estimable(design, cls, term, sum(s.n_params for s in structures))
    return Model(parsed, design, structures, _likelihood(design, structures, method_u == "REML"), weights)


def _likelihood(design: Design, structures, reml: bool) -> Likelihood:
    return Likelihood(build_batches(design), list(structures), design.y.size, design.X.shape[1],
                      float(np.log(design.weights).sum()), reml=reml)
