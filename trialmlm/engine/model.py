"""Assemble a model from a formula and data: design, covariance structures, likelihood.

The one place that turns the parsed formula into the pieces the optimiser and the
inference code work on; :func:`trialmlm.fit` and the tests both start here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..covariance import CovarianceStructure, get_structure
from ..covariance.random_effects import Independent, RandomCovariance, RandomEffects
from ..errors import DataError
from .design import Design, FixedEncoding, build_design
from .formula import ModelFormula, as_formula
from .identifiability import check_combination, check_estimable, check_levels
from .independent_residuals import IndependentResidualsLikelihood
from .likelihood import Likelihood, MarginalLikelihood
from .moments import Batch, build_batches, with_response
from .multilevel import MultilevelLikelihood
from .parameters import ParameterMap
from .specification import ModelSpec


@dataclass(frozen=True)
class Model:
    formula: ModelFormula
    design: Design
    structures: tuple[CovarianceStructure, ...]
    likelihood: MarginalLikelihood
    outer: tuple[RandomCovariance, ...] = ()  # G of each outer grouping factor
    weights: str | None = None

    @property
    def spec(self) -> ModelSpec:
        """What kind of model this is (:class:`~trialmlm.engine.specification.ModelSpec`)."""
        return ModelSpec.of(self.formula, from_sums=self.design.statistics.from_sums)

    def with_design(self, design: Design, batches: list[Batch] | None = None) -> Model:
        """The same model on another design of the same encoding (new responses, a resample);
        ``batches``: its patterns, if already built (:func:`~trialmlm.engine.moments.without_subjects`)."""
        lik = _likelihood(design, self.spec, self.structures, self.outer, self.likelihood.reml, batches)
        return replace(self, design=design, likelihood=lik)

    def with_response(self, y: np.ndarray) -> Model:
        """The same model with new responses (in the design's row order); the patterns are kept."""
        design = self.design.with_response(y)
        if self.spec.independent_residuals:  # the sums are one pass over the rows: nothing to keep
            return self.with_design(design)
        return self.with_design(design, with_response(self.likelihood.batches, design))

    def start(self) -> np.ndarray:
        """Moment-based starting values of the covariance parameters; with one G for
        several groups, G from all groups' moments and each residual structure from its
        group's (:meth:`RandomEffects.start`); from the per-subject sums for independent
        residuals (:meth:`IndependentResidualsLikelihood.start_values`)."""
        if self.spec.independent_residuals:
            return self.likelihood.start_values()
        moments = self.likelihood.ols_moments()
        inner = [s.start(parts) for s, parts in zip(self.structures, moments)]
        if len(inner) > 1 and self.spec.subject_random:
            n_g = self.structures[0].n_g
            pooled = self.structures[0].start([part for parts in moments for part in parts])
            inner = [pooled[:n_g]] + [phi[n_g:] for phi in inner]
        return np.concatenate(inner + [self.likelihood.start()])


def _innermost(parsed: ModelFormula, data: pd.DataFrame) -> ModelFormula:
    """Without a covariance term, the subject is the grouping factor with the most levels
    (the last such in the formula on ties)."""
    if parsed.covariance or not parsed.outer:
        return parsed
    counts = [(data[t.subject].nunique() if t.subject in data.columns else -1, i, t.subject)
              for i, t in enumerate(parsed.random_terms)]
    return parsed.with_subject(max(counts)[2])


def build_model(formula: str | ModelFormula, data: pd.DataFrame, method: str = "REML",
                weights: str | None = None, encoding: FixedEncoding | None = None) -> Model:
    """Parse (unless ``formula`` is parsed already), check and encode (``encoding``: see
    :func:`build_design`); raise FormulaError / DataError naming what is wrong."""
    method_u = str(method).upper()
    if method_u not in ("REML", "ML"):
        raise DataError(f"method must be 'REML' or 'ML', got {method!r}")
    parsed = _innermost(as_formula(formula), data if isinstance(data, pd.DataFrame) else pd.DataFrame())
    term = parsed.covariance
    cls = get_structure(term.structure) if term else Independent
    spec = ModelSpec.of(parsed)
    check_combination(spec, cls)
    design = build_design(data, parsed, weights, cls.spatial, encoding)
    dim = len(term.positions) if cls.spatial else len(design.position_labels)
    grouped = term is not None and term.group is not None
    structures = tuple(cls(dim, grouped=grouped) for _ in design.group_labels)
    if spec.subject_random:  # one G for all groups, a residual structure per group
        g = RandomCovariance(design.random_names, spec.subject_term.diagonal)
        structures = tuple(RandomEffects(s, g.terms, g.diagonal, g) for s in structures)
    outer = tuple(RandomCovariance(level.names, level.diagonal) for level in design.outer)
    n_params = ParameterMap(list(structures)).n_params + sum(c.n_params for c in outer)
    check_estimable(design, cls, term, n_params)
    check_levels(design, spec, cls)
    lik = _likelihood(design, spec, structures, outer, method_u == "REML")
    return Model(parsed, design, structures, lik, outer, weights)


def _likelihood(design: Design, spec: ModelSpec, structures, outer, reml: bool,
                batches=None) -> MarginalLikelihood:
    """The likelihood of ``design`` (``batches``: its patterns, if already built): from
    per-subject sums for residuals independent given the random effects
    (:attr:`ModelSpec.independent_residuals`), else from the pattern batches."""
    if spec.independent_residuals:
        return IndependentResidualsLikelihood(design, structures[0], reml)
    batches = build_batches(design) if batches is None else batches
    lik = Likelihood(batches, list(structures), design.weights, design.n_fixed, reml=reml)
    return MultilevelLikelihood(lik, design, list(outer)) if outer else lik
