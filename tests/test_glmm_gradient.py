"""trialmlm/glimmix/gradient.py: the analytic gradient of the Laplace and adaptive Gauss-Hermite
log-likelihood (modes, curvature and node scale moving with the parameters) against central
differences of the log-likelihood of trialmlm/glimmix/quadrature.py, 1e-6 relative, for every
family/link, a scalar and a vector random effect, Laplace and 3 and 5 points."""

import numpy as np
import pytest

from trialmlm.genmod.families import get_family
from trialmlm.glimmix.conditional import Conditional
from trialmlm.glimmix.gradient import subject_gradients
from trialmlm.glimmix.problem import Problem
from trialmlm.glimmix.quadrature import subject_loglik


def problem(family: str, link: str, q: int) -> Problem:
    rng = np.random.default_rng(7)
    m, visits = 40, 5
    n = m * visits
    X = np.column_stack([np.ones(n), rng.normal(size=n), np.tile(np.arange(visits), m) / 4])
    y = rng.binomial(1, 0.4, n) if family == "binomial" else rng.poisson(2.0, n)
    return Problem(X, X[:, [0, 2][:q]], 0.1 * rng.normal(size=n), np.repeat(np.arange(m), visits), m,
                   Conditional.of(get_family(family), link, y.astype(float), np.ones(n)))


@pytest.mark.parametrize("family, link", [("binomial", "logit"), ("binomial", "probit"),
                                          ("binomial", "cloglog"), ("poisson", "log")])
@pytest.mark.parametrize("q", [1, 2])
@pytest.mark.parametrize("n_points", [1, 3, 5])
def test_gradient_is_derivative_of_loglik(family, link, q, n_points):
    pr = problem(family, link, q)
    x = np.array([-0.3, 0.2, 0.1, np.log(0.8), 0.3, np.log(0.5)][: 3 + pr.n_theta])

    def loglik(z):
        return subject_loglik(pr, z[:3], pr.cholesky(z[3:]), n_points)[0].sum()

    ll, gradient, _ = subject_gradients(pr, x[:3], x[3:], n_points)
    assert ll.sum() == pytest.approx(loglik(x), abs=1e-10)
    h = 1e-5
    numeric = np.array([(loglik(x + h * e) - loglik(x - h * e)) / (2 * h) for e in np.eye(x.size)])
    np.testing.assert_allclose(gradient.sum(axis=0), numeric, rtol=1e-6, atol=1e-6)
