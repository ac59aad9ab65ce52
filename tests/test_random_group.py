"""Random effects with a per-group residual structure (one G, an R_g per group).

SAS: ``RANDOM INT TIME / SUBJECT=ID TYPE=UN; REPEATED AVISIT / SUBJECT=ID TYPE=AR(1)
GROUP=TRT``; trialmlm: ``Y ~ TRT * TIME + (1 + TIME | ID) + ar1(AVISIT | TRT / ID)``.

No R package fits this model, so the references are (tests/reference/make_random_group_refs.R):

* R's dense REML evaluator (itself checked against nlme's log-likelihood of the nested
  model with one AR(1) correlation, to 9e-13), maximised in R over the 7 parameters: the
  optimum (-2 l_R, parameters, fixed effects, SEs, BLUPs) and three points away from it;
* nlme::lme with ``corAR1 + varIdent`` (common rho): a nested model, so a lower bound.

A second, Python, dense evaluator written here from the textbook formulas (V_i built from
the data frame, not from the package's pattern code) checks the likelihood, its gradient and
Hessian, the Satterthwaite df, Kenward-Roger and the sandwich.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import trialmlm
from trialmlm.engine.optimize import Objective
from trialmlm.errors import FormulaError

REFERENCE = Path(__file__).parent / "reference"
REF = json.loads((REFERENCE / "random_group_refs.json").read_text())
FORMULA = REF["formula"]
ARMS = ("ACT", "PBO")
# R recorded phi as (G, rho_ACT, sigma2_ACT, rho_PBO, sigma2_PBO); SAS prints a GROUP= AR(1)
# as Variance then AR(1) (design/SAS/sas_group_ar1_reml.txt of R mmrm), trialmlm's order.
SAS_ORDER = [0, 1, 2, 4, 3, 6, 5]
NAMES = [REF["optimum"]["phi_names"][i].replace("Residual", "Variance") for i in SAS_ORDER]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / REF["data"])


@pytest.fixture(scope="module")
def fit(data):
    return trialmlm.fit(FORMULA, data)


# -- an independent dense evaluator ------------------------------------------------------------
class Dense:
    r"""V = blockdiag_i(Z_i G Z_i' + sigma2_g rho_g^|j-k|), its derivatives in
    phi = (UN(1,1), UN(2,1), UN(2,2), sigma2_ACT, rho_ACT, sigma2_PBO, rho_PBO), and the
    REML / ML objective, from the data frame (X = [1, PBO, TIME, PBO x TIME], Z = [1, TIME])."""

    def __init__(self, d: pd.DataFrame):
        pbo = (d["TRT"] == "PBO").to_numpy(float)
        t = d["TIME"].to_numpy(float)
        self.X = np.column_stack([np.ones_like(t), pbo, t, pbo * t])
        self.Z = np.column_stack([np.ones_like(t), t])
        self.y = d["Y"].to_numpy(float)
        self.visit = d["VISN"].to_numpy(int)
        self.subjects = [np.flatnonzero(d["ID"].to_numpy() == s) for s in d["ID"].unique()]
        self.ids = list(d["ID"].unique())
        self.arm = [ARMS.index(d["TRT"].iloc[r[0]]) for r in self.subjects]

    def blocks(self, phi):
        """V_i of every subject."""
        G = np.array([[phi[0], phi[1]], [phi[1], phi[2]]])
        out = []
        for r, a in zip(self.subjects, self.arm):
            lag = np.abs(np.subtract.outer(self.visit[r], self.visit[r]))
            out.append(self.Z[r] @ G @ self.Z[r].T + phi[3 + 2 * a] * phi[4 + 2 * a] ** lag)
        return out

    def covariance(self, phi):
        """V (n x n), dV/dphi and d2V/dphi^2."""
        n = self.y.size
        V, dV, d2V = np.zeros((n, n)), np.zeros((7, n, n)), np.zeros((7, 7, n, n))
        units = [np.array([[1.0, 0], [0, 0]]), np.array([[0, 1.0], [1, 0]]), np.array([[0, 0], [0, 1.0]])]
        for r, a, v in zip(self.subjects, self.arm, self.blocks(phi)):
            ix = np.ix_(r, r)
            z = self.Z[r]
            lag = np.abs(np.subtract.outer(self.visit[r], self.visit[r])).astype(float)
            rho, s2 = phi[4 + 2 * a], phi[3 + 2 * a]
            dcorr = np.where(lag > 0, lag * rho ** np.maximum(lag - 1, 0), 0.0)
            d2corr = np.where(lag > 1, lag * (lag - 1) * rho ** np.maximum(lag - 2, 0), 0.0)
            V[ix] = v
            for h in range(3):
                dV[(h,) + ix] = z @ units[h] @ z.T
            i, j = 4 + 2 * a, 3 + 2 * a
            dV[(i,) + ix], dV[(j,) + ix] = s2 * dcorr, rho ** lag
            d2V[(i, i) + ix] = s2 * d2corr
            d2V[(i, j) + ix] = d2V[(j, i) + ix] = dcorr
        return V, dV, d2V

    def objective(self, phi, reml=True):
        """-2 l_R (or -2 l), beta, (X'V^-1X)^-1, V being block-diagonal over subjects."""
        n, p = self.X.shape
        logdet, A, b, yvy = 0.0, np.zeros((p, p)), np.zeros(p), 0.0
        for r, v in zip(self.subjects, self.blocks(phi)):
            vi = np.linalg.inv(v)
            logdet += np.linalg.slogdet(v)[1]
            A += self.X[r].T @ vi @ self.X[r]
            b += self.X[r].T @ vi @ self.y[r]
            yvy += self.y[r] @ vi @ self.y[r]
        C = np.linalg.inv(A)
        beta = C @ b
        value = (n - p if reml else n) * np.log(2 * np.pi) + logdet + yvy - b @ beta
        return value + (np.linalg.slogdet(A)[1] if reml else 0.0), beta, C



def _gradient(f, phi, rel=1e-6):
    """Central differences of f (scalar or array valued); first axis = phi."""
    out = []
    for h in range(phi.size):
        step = np.zeros_like(phi)
        step[h] = rel * max(abs(phi[h]), 1e-2)
        out.append((f(phi + step) - f(phi - step)) / (2 * step[h]))
    return np.array(out)


@pytest.fixture(scope="module")
def dense(data):
    return Dense(data)


# -- against R ---------------------------------------------------------------------------------
def test_optimum_against_r(fit):
    opt = REF["optimum"]
    assert fit.converged
    assert fit.n_obs == REF["n_obs"] and fit.n_subjects == REF["n_subjects"]
    assert fit.covariance_parameter_names == NAMES
    assert fit.loglik == pytest.approx(opt["loglik"], abs=1e-6)
    np.testing.assert_allclose(fit.phi, np.array(opt["phi"])[SAS_ORDER], rtol=1e-6)
    np.testing.assert_allclose(fit.beta, opt["beta"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.beta_cov)), opt["se"], rtol=1e-6)
    blups = fit.random_effects()["ID"]
    assert list(blups.index) == opt["blups"]["ID"]
    np.testing.assert_allclose(blups[["Intercept", "TIME"]].to_numpy(),
                               np.column_stack([opt["blups"]["Intercept"], opt["blups"]["TIME"]]), atol=1e-5)


@pytest.mark.parametrize("point", range(len(REF["points"])))
def test_likelihood_and_blups_at_fixed_parameters_against_r(fit, point):
    """-2 l_R, beta, SEs and BLUPs at R's parameter points away from the optimum (1e-6)."""
    ref = REF["points"][point]
    phi = np.array(ref["phi"])[SAS_ORDER]
    ev = fit.likelihood.evaluate(phi)
    assert ev.value == pytest.approx(ref["m2ll"], abs=1e-6)
    np.testing.assert_allclose(ev.beta, ref["beta"], atol=1e-8)
    np.testing.assert_allclose(np.sqrt(np.diag(ev.cov_beta)), ref["se"], atol=1e-8)
    at = dataclasses.replace(fit, phi=phi, beta=ev.beta, beta_cov=ev.cov_beta)
    ours = at.random_effects()["ID"]
    np.testing.assert_allclose(ours[["Intercept", "TIME"]].to_numpy(),
                               np.column_stack([ref["blups"]["Intercept"], ref["blups"]["TIME"]]), atol=1e-6)


def test_nested_nlme_model_is_a_lower_bound(fit):
    """nlme's corAR1 + varIdent (one rho for both arms) is the GROUP= model with rho_ACT = rho_PBO."""
    nested = REF["nlme_restricted"]
    assert abs(nested["dense_minus_nlme"]) < 1e-8
    assert fit.loglik >= nested["loglik"] - 1e-8
    assert 2 * (fit.loglik - nested["loglik"]) < stats.chi2.ppf(0.999, 1)


# -- against the Python dense evaluator ----------------------------------------------------------
def test_likelihood_gradient_hessian_against_dense(fit, dense):
    assert -0.5 * dense.objective(fit.phi)[0] == pytest.approx(fit.loglik, abs=1e-8)
    phi = fit.phi * np.array([1.1, 0.7, 0.9, 0.8, 1.2, 1.1, 0.9])
    ev = fit.likelihood.evaluate(phi, 2)
    value = lambda p: dense.objective(p)[0]  # noqa: E731
    assert ev.value == pytest.approx(value(phi), abs=1e-8)
    np.testing.assert_allclose(ev.grad, _gradient(value, phi), rtol=1e-6, atol=1e-6)
    hess = _gradient(lambda p: fit.likelihood.evaluate(p, 1).grad, phi)
    np.testing.assert_allclose(ev.hess, hess, rtol=1e-5, atol=1e-5)
    # the optimum: the dense gradient vanishes, ASYCOV = 2 H^-1 with H from dense differences
    assert np.abs(_gradient(value, fit.phi, 1e-4)).max() < 1e-5
    hess_opt = _gradient(lambda p: _gradient(value, p, 1e-4), fit.phi, 1e-4)
    np.testing.assert_allclose(fit.phi_cov, 2 * np.linalg.inv(0.5 * (hess_opt + hess_opt.T)), rtol=1e-3)


def test_ml_against_dense(data, dense):
    fit = trialmlm.fit(FORMULA, data, method="ML")
    value = lambda p: dense.objective(p, reml=False)[0]  # noqa: E731
    assert -0.5 * value(fit.phi) == pytest.approx(fit.loglik, abs=1e-8)
    assert np.abs(_gradient(value, fit.phi, 1e-4)).max() < 1e-5


def test_satterthwaite_df_from_dense_finite_differences(fit, dense):
    """df = 2 (l'Cl)^2 / (g'Wg), g = d(l'Cl)/dphi by differences of the dense (X'V^-1X)^-1."""
    for l in (np.array([0, 1.0, 0, 4.0]), np.array([0, 0, 0, 1.0]), np.array([1.0, 0, 8.0, 0])):
        g = _gradient(lambda p, l=l: l @ dense.objective(p)[2] @ l, fit.phi)
        expected = 2 * (l @ fit.beta_cov @ l) ** 2 / (g @ fit.phi_cov @ g)
        df = fit.contrast(l[None, :], ddf="satterthwaite")["df"].iloc[0]
        assert df == pytest.approx(expected, rel=1e-6)


def test_kenward_roger_and_sandwich_against_dense(fit, dense):
    X = dense.X
    V, dV, d2V = dense.covariance(fit.phi)
    Vi = np.linalg.inv(V)
    C = np.linalg.inv(X.T @ Vi @ X)
    W = fit.phi_cov
    P = [-X.T @ Vi @ dV[h] @ Vi @ X for h in range(7)]
    total = {True: np.zeros_like(C), False: np.zeros_like(C)}
    for h in range(7):
        for j in range(7):
            Q = X.T @ Vi @ dV[h] @ Vi @ dV[j] @ Vi @ X
            R = X.T @ Vi @ d2V[h, j] @ Vi @ X
            total[True] += W[h, j] * (Q - P[h] @ C @ P[j])
            total[False] += W[h, j] * (Q - P[h] @ C @ P[j] - 0.25 * R)
    for linear in (True, False):
        np.testing.assert_allclose(fit.kenward_roger_vcov(linear), C + 2 * C @ total[linear] @ C, rtol=1e-7)
    e = dense.y - X @ fit.beta
    meat = sum(np.outer(u, u) for u in (X[r].T @ np.linalg.solve(v, e[r])
                                        for r, v in zip(dense.subjects, dense.blocks(fit.phi))))
    np.testing.assert_allclose(fit.empirical_vcov("empirical"), C @ meat @ C, rtol=1e-8)
    for ddf in ("kenward-roger", "satterthwaite"):
        assert np.all(np.isfinite(fit.coef_table(ddf=ddf)[["se", "df", "p"]].to_numpy()))
    assert np.all(np.isfinite(fit.coef_table(vcov="empirical-bias-reduced")["se"]))


# -- behaviour ----------------------------------------------------------------------------------
def test_accessors(fit):
    g = fit.random_effects_covariance
    assert list(g.index) == ["Intercept", "TIME"]
    np.testing.assert_allclose(g.to_numpy(), [[fit.phi[0], fit.phi[1]], [fit.phi[1], fit.phi[2]]])
    for a, arm in enumerate(ARMS):
        rho, s2 = fit.phi[4 + 2 * a], fit.phi[3 + 2 * a]
        lag = np.abs(np.subtract.outer(np.arange(6), np.arange(6)))
        np.testing.assert_allclose(fit.covariance_matrix(arm).to_numpy(), s2 * rho ** lag)
    assert list(fit.residual_parameters.index) == NAMES[3:]
    part = fit.variance_partition(at={"TIME": [0.0, 4.0]})
    assert list(part["TRT"]) == ["ACT", "ACT", "PBO", "PBO"]
    np.testing.assert_allclose(part["within"], [fit.phi[3]] * 2 + [fit.phi[5]] * 2)
    table = fit.covariance_parameters_table()
    assert list(table.index) == NAMES
    summary = fit.summary()
    assert "UN(1,1) ID" in summary and "Variance TRT=PBO" in summary and "GROUP=TRT" in summary


def _simulate(seed: int = 7, n: int = 100) -> pd.DataFrame:
    """Two arms with the *same* AR(1) residual structure (sigma2 3, rho 0.5)."""
    rng = np.random.default_rng(seed)
    t = np.array([0, 1, 2, 4, 6, 8.0])
    lag = np.abs(np.subtract.outer(np.arange(6), np.arange(6)))
    chol_r = np.linalg.cholesky(3.0 * 0.5 ** lag)
    chol_g = np.linalg.cholesky(np.array([[4.0, 0.3], [0.3, 0.25]]))
    rows = []
    for i in range(2 * n):
        b = chol_g @ rng.standard_normal(2)
        y = 10 - 0.5 * t + b[0] + b[1] * t + chol_r @ rng.standard_normal(6)
        last = rng.integers(3, 7)
        rows += [(f"S{i:03d}", ARMS[i // n], f"V{k + 1}", k + 1, t[k], y[k]) for k in range(last)]
    return pd.DataFrame(rows, columns=["ID", "TRT", "AVISIT", "VISN", "TIME", "Y"])


def test_equal_residual_structures_and_single_level_group():
    """With equal residual structures in both arms the GROUP= fit gains about a chi-square(2)
    in -2 l_R over the common fit; a group variable with one level reproduces the common fit."""
    d = _simulate()
    common = trialmlm.fit("Y ~ TRT * TIME + (1 + TIME | ID) + ar1(AVISIT | ID)", d)
    grouped = trialmlm.fit(FORMULA, d)
    lr = 2 * (grouped.loglik - common.loglik)
    print(f"equal structures: LR = {lr:.3f} (chi-square 2 df, 99.9% quantile {stats.chi2.ppf(0.999, 2):.1f})")
    assert -1e-6 < lr < stats.chi2.ppf(0.999, 2)
    single = trialmlm.fit("Y ~ TRT * TIME + (1 + TIME | ID) + ar1(AVISIT | ONE / ID)", d.assign(ONE="all"))
    assert single.loglik == pytest.approx(common.loglik, abs=1e-8)  # the same model, parameters in
    np.testing.assert_allclose(single.phi, common.phi[[0, 1, 2, 4, 3]], rtol=1e-5)  # GROUP= order
    np.testing.assert_allclose(single.beta_cov, common.beta_cov, rtol=1e-5)
    assert single.covariance_parameter_names == ["UN(1,1) ID", "UN(2,1) ID", "UN(2,2) ID", "Variance ONE=all",
                                                 "AR(1) ONE=all"]
    assert common.covariance_parameter_names == ["UN(1,1)", "UN(2,1)", "UN(2,2)", "AR(1)", "Residual"]


@pytest.mark.parametrize("structure", ["ar1h", "ad", "adh", "sp_exp"])
def test_other_residual_structures(data, structure):
    """Per-group heterogeneous, antedependence and spatial residuals: the likelihood's
    gradient against differences of its value, and the optimum's gradient in theta (adh
    puts Rho(3) of ACT on the boundary 1: few ACT subjects are seen at both V3 and V4)."""
    term = "sp_exp(TIME | TRT / ID)" if structure == "sp_exp" else f"{structure}(AVISIT | TRT / ID)"
    fit = trialmlm.fit(f"Y ~ TRT * TIME + (1 + TIME | ID) + {term}", data)
    assert fit.converged
    n_r = fit.structures[0].residual.n_params
    assert fit.n_covariance_parameters == 3 + 2 * n_r
    assert fit.covariance_parameter_names[:3] == ["UN(1,1) ID", "UN(2,1) ID", "UN(2,2) ID"]
    value = lambda p: fit.likelihood.evaluate(p).value  # noqa: E731
    phi = fit.phi * 0.97
    np.testing.assert_allclose(fit.likelihood.evaluate(phi, 1).grad, _gradient(value, phi), rtol=1e-5,
                               atol=1e-5)
    objective = Objective(fit.likelihood)
    assert np.abs(objective(objective.theta(fit.phi), 1)[1]).max() < 1e-4


@pytest.mark.parametrize("formula, message", [
    ("Y ~ TIME + (1 | ID) + cs(AVISIT | TRT / ID)", "cannot be identified"),
    ("Y ~ TIME + (1 | ID) + toeph(AVISIT | TRT / ID)", "cannot be identified"),
    ("Y ~ TIME + (1 | SITE) + (1 | ID) + ar1(AVISIT | TRT / ID)",
     "other grouping factors.*per-group residual"),
])
def test_refused_combinations(data, formula, message):
    with pytest.raises(FormulaError, match=message):
        trialmlm.fit(formula, data.assign(SITE=data["ID"].str[:3]))
