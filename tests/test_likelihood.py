"""REML/ML objective: analytic gradient and Hessian against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from trialmlm.covariance import get_structure
from trialmlm.design import build_design
from trialmlm.formula import parse_formula
from trialmlm.likelihood import Likelihood
from trialmlm.patterns import build_batches


def _likelihood(data, formula, reml=True, weights=None):
    parsed = parse_formula(formula)
    cls = get_structure(parsed.covariance.structure)
    design = build_design(data, parsed, weights, cls.spatial)
    dim = len(parsed.covariance.positions) if cls.spatial else len(design.position_labels)
    structures = [cls(dim) for _ in design.group_labels]
    lik = Likelihood(build_batches(design), structures, design.y.size, design.X.shape[1],
                     float(np.log(design.weights).sum()), reml)
    start = np.concatenate([s.start(p) for s, p in zip(structures, lik.ols_moments())])
    return lik, start


CASES = [
    ("CHG ~ BASE + REGION + TRT * AVISIT + us(AVISIT | USUBJID)", True, None),
    ("CHG ~ BASE + REGION + TRT * AVISIT + us(AVISIT | USUBJID)", False, "WT"),
    ("CHG ~ BASE + TRT * AVISIT + toeph(AVISIT | USUBJID)", True, None),
    ("CHG ~ BASE + TRT * AVISIT + adh(AVISIT | TRT / USUBJID)", True, "WT"),
    ("CHG ~ BASE + TRT * AVISIT + csh(AVISIT | USUBJID)", False, None),
    ("CHG ~ BASE + TRT * AVISIT + sp_exp(TIME | USUBJID)", True, None),
    ("CHG ~ BASE + TRT * AVISIT + ar1(AVISIT | TRT / USUBJID)", False, None),
    ("CHG ~ BASE + TRT * AVISIT + cs(AVISIT | TRT / USUBJID)", True, "WT"),
]


@pytest.mark.parametrize("formula, reml, weights", CASES)
def test_gradient_and_hessian_match_finite_differences(trial3, formula, reml, weights):
    lik, phi = _likelihood(trial3, formula, reml, weights)
    ev = lik.evaluate(phi, 2)
    num_grad = np.zeros_like(phi)
    num_hess = np.zeros((phi.size, phi.size))
    for k in range(phi.size):
        h = 1e-5 * max(1.0, abs(phi[k]))
        step = np.zeros_like(phi)
        step[k] = h
        plus, minus = lik.evaluate(phi + step, 1), lik.evaluate(phi - step, 1)
        num_grad[k] = (plus.value - minus.value) / (2 * h)
        num_hess[:, k] = (plus.grad - minus.grad) / (2 * h)
    np.testing.assert_allclose(ev.grad, num_grad, rtol=1e-6, atol=1e-6 * np.abs(num_grad).max())
    np.testing.assert_allclose(ev.hess, num_hess, rtol=1e-5, atol=1e-6 * np.abs(num_hess).max())


def test_information_jacobian_matches_finite_differences(trial3):
    """jac_info[k] = -dA/dphi_k, A = X'V^-1X (used for Satterthwaite df)."""
    lik, phi = _likelihood(trial3, CASES[0][0])
    ev = lik.evaluate(phi, 2)
    for k in range(0, phi.size, 4):
        h = 1e-6 * max(1.0, abs(phi[k]))
        step = np.zeros_like(phi)
        step[k] = h
        a_plus = np.linalg.inv(lik.evaluate(phi + step, 0).cov_beta)
        a_minus = np.linalg.inv(lik.evaluate(phi - step, 0).cov_beta)
        np.testing.assert_allclose(-ev.jac_info[k], (a_plus - a_minus) / (2 * h), rtol=1e-5,
                                   atol=1e-6 * np.abs(ev.jac_info[k]).max())


def test_non_positive_definite_sigma_is_reported_as_none(trial3):
    lik, phi = _likelihood(trial3, "CHG ~ TRT * AVISIT + toep(AVISIT | USUBJID)")
    bad = phi.copy()
    bad[:-1] = 0.99 * bad[-1] * np.array([1, -1, 1, -1, 1])
    assert lik.evaluate(bad, 2) is None
