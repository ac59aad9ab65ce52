"""trialmlm.engine.multilevel and the likelihood protocol (trialmlm.engine.likelihood.MarginalLikelihood).

The analytic gradient, ``jac_info`` and the difference Hessian of the Woodbury likelihood
are checked against finite differences of its own objective (statsmodels' habit); the
objective itself is checked against R in tests/test_nested_reference.py.  The protocol is
checked on one model written both ways: a site random intercept with independent
residuals is ``Y ~ ARM * WEEK + (1 | SITE)`` (one grouping factor, the sites: an
:class:`IndependentResidualsLikelihood`) and ``Y ~ ARM * WEEK + (1 | SITE) + vc(WEEK | USUBJID)`` (subjects
with :math:`\\sigma^2I` and an outer factor: a :class:`MultilevelLikelihood`); both must
give the same objective and the same dense marginal covariance of each site.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.engine.independent_residuals import IndependentResidualsLikelihood
from trialmlm.engine.likelihood import MarginalLikelihood
from trialmlm.engine.model import build_model
from trialmlm.engine.multilevel import MultilevelLikelihood

REFERENCE = Path(__file__).parent / "reference"

MODELS = [
    ("Y ~ ARM * WEEK + (1 | SITE) + (1 + WEEK | USUBJID)", "nested.csv", True, None),
    ("Y ~ ARM * WEEK + (1 | SITE) + (1 | USUBJID) + ar1(WEEK | USUBJID)", "nested.csv", False, None),
    ("Y ~ ARM * WEEK + (1 + WEEK || SITE) + (1 | USUBJID)", "nested.csv", True, "W"),
    ("Y ~ ARM * WEEK + (1 | RATER) + (1 + WEEK | SITE) + (1 | USUBJID)", "crossed.csv", True, "W"),
]


def _with_weights(csv: str) -> pd.DataFrame:
    d = pd.read_csv(REFERENCE / csv)
    return d.assign(W=1.0 + (np.arange(len(d)) % 3) / 2)


@pytest.mark.parametrize("formula, csv, reml, weights", MODELS)
def test_gradient_matches_finite_differences(formula, csv, reml, weights):
    model = build_model(formula, _with_weights(csv), "REML" if reml else "ML", weights)
    lik, phi = model.likelihood, model.start()
    ev = lik.evaluate(phi, 2)
    for k in range(phi.size):
        h = 1e-5 * max(1.0, abs(phi[k]))
        step = np.eye(phi.size)[k] * h
        num = (lik.evaluate(phi + step).value - lik.evaluate(phi - step).value) / (2 * h)
        assert ev.grad[k] == pytest.approx(num, rel=1e-6, abs=1e-6)
        num_b = (np.linalg.inv(lik.evaluate(phi - step).cov_beta)
                 - np.linalg.inv(lik.evaluate(phi + step).cov_beta)) / (2 * h)
        np.testing.assert_allclose(ev.jac_info[k], num_b, rtol=1e-5, atol=1e-7 * np.abs(num_b).max())
    num_h = np.column_stack([(lik.evaluate(phi + np.eye(phi.size)[k] * 1e-4 * max(1, abs(phi[k])), 1).grad
                              - lik.evaluate(phi - np.eye(phi.size)[k] * 1e-4 * max(1, abs(phi[k])), 1).grad)
                             / (2e-4 * max(1, abs(phi[k]))) for k in range(phi.size)])
    # both are difference Hessians (steps relative to |phi| there, to max(|phi|, 1e-2 max|phi|) here)
    np.testing.assert_allclose(ev.hess, 0.5 * (num_h + num_h.T), rtol=1e-3, atol=1e-6 * np.abs(num_h).max())


# -- the protocol: one model, both likelihoods --------------------------------------------
TAU2, SIGMA2 = 14.0, 13.0  # site variance, residual variance


@pytest.fixture(scope="module")
def both():
    data = _with_weights("nested.csv")
    one = build_model("Y ~ ARM * WEEK + (1 | SITE)", data, weights="W")
    two = build_model("Y ~ ARM * WEEK + (1 | SITE) + vc(WEEK | USUBJID)", data, weights="W")
    # phi: (G, sigma^2) for the site-level random effects; (sigma^2, G_SITE) with an outer factor
    return data, (one, np.array([TAU2, SIGMA2])), (two, np.array([SIGMA2, TAU2]))


def _dense(model, phi) -> np.ndarray:
    """n x n V in the caller's row order, from the protocol's cluster blocks."""
    n = model.design.y.size
    out = np.zeros((n, n))
    at = model.design.row_position
    for rows, v in model.likelihood.cluster_covariances(phi, max_elements=50):
        for r, block in zip(rows, v):
            used = r >= 0
            out[np.ix_(at[r[used]], at[r[used]])] = block[np.ix_(used, used)]
    return out


def test_both_likelihoods_implement_the_protocol(both):
    _, (one, phi1), (two, phi2) = both
    # one grouping factor, independent residuals: the per-subject sums (engine/independent_residuals.py)
    assert isinstance(one.likelihood, IndependentResidualsLikelihood)
    assert isinstance(one.likelihood, MarginalLikelihood)
    assert isinstance(two.likelihood, MultilevelLikelihood) and isinstance(two.likelihood, MarginalLikelihood)
    assert one.likelihood.subject_level is one.likelihood
    assert two.likelihood.subject_level.n_params == 1  # sigma^2 of vc
    assert one.likelihood.g_matrices(phi1) == [] and one.likelihood.covariances == []
    assert one.likelihood.outer.columns.shape == (12, 0) and one.likelihood.start().size == 0
    np.testing.assert_allclose(two.likelihood.g_matrices(phi2), [[[TAU2]]])
    # clusters: the 12 sites both ways (subjects of the first, blocks of subjects of the second)
    assert one.likelihood.n_clusters == two.likelihood.n_clusters == 12
    np.testing.assert_array_equal(one.likelihood.clusters(), np.arange(12))


def test_one_model_written_both_ways_has_one_objective(both):
    _, (one, phi1), (two, phi2) = both
    for order in (0, 1):
        a, b = one.likelihood.evaluate(phi1, order), two.likelihood.evaluate(phi2, order)
        assert a.value == pytest.approx(b.value, abs=1e-9)
        np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
        np.testing.assert_allclose(a.cov_beta, b.cov_beta, rtol=1e-10)
    grad1, grad2 = one.likelihood.evaluate(phi1, 1).grad, two.likelihood.evaluate(phi2, 1).grad
    np.testing.assert_allclose(grad1, grad2[::-1], rtol=1e-8)


def test_one_model_written_both_ways_has_one_marginal_covariance(both):
    """V = tau2 [same site] + sigma2 W^-1, by hand, against each likelihood's cluster blocks."""
    data, (one, phi1), (two, phi2) = both
    site = data["SITE"].to_numpy()
    expected = TAU2 * np.equal.outer(site, site) + np.diag(SIGMA2 / data["W"].to_numpy())
    np.testing.assert_allclose(_dense(one, phi1), expected, rtol=1e-12)
    np.testing.assert_allclose(_dense(two, phi2), expected, rtol=1e-12)
