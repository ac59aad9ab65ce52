"""REML/ML objective: analytic gradient and Hessian against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from trialmlm.engine.model import build_model


def _likelihood(data, formula, reml=True, weights=None):
    model = build_model(formula, data, "REML" if reml else "ML", weights)
    return model.likelihood, model.start()


CASES = [
    ("CHG ~ BASE + REGION + TRT * AVISIT + us(AVISIT | USUBJID)", True, None),
    ("CHG ~ BASE + REGION + TRT * AVISIT + us(AVISIT | USUBJID)", False, "WT"),
    ("CHG ~ BASE + TRT * AVISIT + toeph(AVISIT | USUBJID)", True, None),
    ("CHG ~ BASE + TRT * AVISIT + adh(AVISIT | TRT / USUBJID)", True, "WT"),
    ("CHG ~ BASE + TRT * AVISIT + csh(AVISIT | USUBJID)", False, None),
    ("CHG ~ BASE + TRT * AVISIT + sp_exp(TIME | USUBJID)", True, None),
    ("CHG ~ BASE + TRT * AVISIT + ar1(AVISIT | TRT / USUBJID)", False, None),
    ("CHG ~ BASE + TRT * AVISIT + cs(AVISIT | TRT / USUBJID)", True, "WT"),
    ("CHG ~ BASE + TRT * TIME + (1 + TIME | USUBJID)", True, "WT"),
    ("CHG ~ BASE + TRT * TIME + (1 + TIME || USUBJID) + sp_exp(TIME | USUBJID)", False, None),
    ("CHG ~ BASE + TRT * AVISIT + (1 | USUBJID) + ar1h(AVISIT | USUBJID)", True, None),
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
