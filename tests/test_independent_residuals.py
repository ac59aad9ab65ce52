"""trialmlm.engine.independent_residuals: random effects with independent residuals from
per-subject sums.

The sums path must give the numbers of the pattern path (trialmlm.engine.likelihood, whose
objective is checked against R lme4 / nlme in tests/test_random_reference.py) to rounding:
objective, beta, A^{-1}, gradient, Hessian, jac_info and the Kenward-Roger terms, REML and
ML, with and without weights, at interior points and with a singular G (the boundary).  The
BLUPs are checked against Henderson's formulas written with dense V_i here, per subject.
The data have irregular visit times (one pattern per subject) and subjects with a single
visit (Z_i'Z_i singular for a random intercept and slope).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.engine.blups import predict_random_effects
from trialmlm.engine.independent_residuals import IndependentResidualsLikelihood
from trialmlm.engine.likelihood import Likelihood
from trialmlm.engine.model import build_model
from trialmlm.engine.multilevel import MultilevelLikelihood

FORMULA = "Y ~ ARM * TIME + (1 + TIME | ID)"
RTOL = 1e-10


def _data(n: int = 60, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        k = 1 if i % 7 == 0 else int(rng.integers(2, 6))
        t = np.concatenate([[0.0], np.cumsum(rng.uniform(0.2, 1.0, k - 1))]).round(3)
        b = rng.multivariate_normal([0, 0], [[4.0, -0.3], [-0.3, 0.5]])
        arm = i % 2
        y = 10 + b[0] + (b[1] - 0.5 - 0.4 * arm) * t + rng.normal(0, 1.5, k)
        rows.append(pd.DataFrame({"ID": f"S{i:03d}", "ARM": ("PBO", "ACT")[arm], "TIME": t, "Y": y,
                                  "W": rng.uniform(0.5, 2.0, k)}))
    return pd.concat(rows, ignore_index=True)


DATA = _data()


@pytest.fixture(scope="module", params=[("REML", None), ("ML", None), ("REML", "W")],
                ids=["reml", "ml", "reml-weights"])
def model(request):
    method, weights = request.param
    return build_model(FORMULA, DATA, method=method, weights=weights)


def _close(got: np.ndarray, expected: np.ndarray) -> None:
    """Equal to ``RTOL``, relative to each entry or (entries near zero) to the largest."""
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL * np.abs(expected).max())


def _points(model) -> list[np.ndarray]:
    """The start, a point away from it, and a singular G (intercept-slope correlation 1)."""
    start = model.start()
    far = start * np.array([1.5, 0.2, 0.7, 1.3])
    g11, g22 = far[0], far[2]
    return [start, far, np.array([g11, np.sqrt(g11 * g22), g22, far[3]])]


def test_the_model_spec_chooses_the_sums():
    assert isinstance(build_model(FORMULA, DATA).likelihood, IndependentResidualsLikelihood)
    intercept = build_model("Y ~ ARM * TIME + (1 | ID)", DATA)
    assert isinstance(intercept.likelihood, IndependentResidualsLikelihood)
    nested = DATA.assign(SITE=DATA["ID"].str[-1])
    assert isinstance(build_model("Y ~ ARM + (1 | SITE) + (1 | ID)", nested).likelihood, MultilevelLikelihood)
    both = DATA.assign(VISIT=DATA.groupby("ID").cumcount().astype(str))
    assert isinstance(build_model("Y ~ ARM + (1 | ID) + ar1(VISIT | ID)", both).likelihood, Likelihood)


@pytest.mark.parametrize("point", range(3))
def test_objective_and_derivatives_equal_the_pattern_path(model, point):
    lik = model.likelihood
    phi = _points(model)[point]
    ours, theirs = lik.evaluate(phi, 2), lik.patterns.evaluate(phi, 2)
    assert ours.value == pytest.approx(theirs.value, rel=1e-13)
    for name in ("beta", "cov_beta", "grad", "hess", "jac_info"):
        _close(getattr(ours, name), getattr(theirs, name))
    _close(lik.evaluate(phi, 1).grad, theirs.grad)


def test_kenward_roger_terms_equal_the_pattern_path(model):
    lik = model.likelihood
    phi = _points(model)[1]
    w = np.random.default_rng(1).normal(size=(lik.n_params, lik.n_params))
    w = w + w.T
    _close(lik.kenward_roger_terms(phi, w, False), lik.patterns.kenward_roger_terms(phi, w, False))


def test_start_equals_the_pattern_moment_start(model):
    lik = model.likelihood
    expected = model.structures[0].start(lik.patterns.ols_moments()[0])
    np.testing.assert_allclose(lik.start_values(), expected, rtol=1e-9)


def test_an_indefinite_g_is_left_to_the_pattern_path(model):
    lik = model.likelihood
    phi = np.array([1.0, 1.2, 1.0, 5.0])  # correlation 1.2: G indefinite, Sigma_i still PD
    ours, theirs = lik.evaluate(phi, 2), lik.patterns.evaluate(phi, 2)
    assert ours.value == theirs.value


def test_blups_follow_henderson_per_subject():
    fit = trialmlm.fit(FORMULA, DATA, weights="W")
    got = predict_random_effects(fit)
    d = fit.design
    g = fit.likelihood.structures[0].g_matrix(fit.phi)
    s2, c = fit.phi[-1], fit.beta_cov
    for i in (0, 1, 7, 30):  # subject 0 and 7 have one visit
        rows = np.flatnonzero(d.subject == i)
        z, x = d.Z[rows], d.X[rows]
        v = z @ g @ z.T + s2 * np.diag(1.0 / d.weights[rows])
        zv = z.T @ np.linalg.inv(v)
        f = g @ zv @ x
        np.testing.assert_allclose(got.blup[i], g @ zv @ (d.y[rows] - x @ fit.beta), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got.pev[i], g - g @ zv @ z @ g + f @ c @ f.T, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got.cross[i], -c @ f.T, rtol=1e-9, atol=1e-12)


def test_a_new_response_rebuilds_the_sums():
    model = build_model(FORMULA, DATA)
    y = model.design.y[::-1].copy()
    column = np.empty(y.size)
    column[model.design.row_position] = y
    again = build_model(FORMULA, DATA.assign(Y=column))
    phi = model.start()
    assert model.with_response(y).likelihood.evaluate(phi, 2).value == pytest.approx(
        again.likelihood.patterns.evaluate(phi, 2).value, rel=1e-13)


def _dense(blocks, n: int) -> np.ndarray:
    """n x n V (design row order) from ``cluster_covariances`` blocks (-1 pads rows)."""
    out = np.zeros((n, n))
    for rows, v in blocks:
        for r, block in zip(rows, v):
            used = r >= 0
            out[np.ix_(r[used], r[used])] = block[np.ix_(used, used)]
    return out


@pytest.mark.parametrize("max_elements", [50, 2**22])
def test_cluster_covariances_equal_the_pattern_path(model, max_elements):
    lik, phi, n = model.likelihood, _points(model)[1], model.design.y.size
    ours = _dense(lik.cluster_covariances(phi, max_elements), n)
    _close(ours, _dense(lik.patterns.cluster_covariances(phi, max_elements), n))
