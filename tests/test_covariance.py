"""Covariance structures: analytic derivatives against finite differences, naming, starts."""

from __future__ import annotations

import numpy as np
import pytest

from trialmlm.covariance import STRUCTURES, get_structure
from trialmlm.errors import FormulaError

EPS = 1e-6


def _structure(name: str, n: int = 4):
    cls = STRUCTURES[name]
    return cls(1 if cls.spatial else n)


def _geometry(structure):
    if structure.spatial:
        t = np.array([0.0, 1.0, 2.5, 4.0])
        return np.abs(np.subtract.outer(t, t))[None]
    return np.array([[0, 1, 2, 3], [0, 1, 3, 3]])[:1]


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_transform_derivatives(name):
    s = _structure(name)
    theta = np.random.default_rng(3).normal(scale=0.3, size=s.n_params)
    phi, jac, hess = s.theta_to_phi(theta)
    for k in range(theta.size):
        step = np.zeros_like(theta)
        step[k] = EPS
        p_plus, j_plus, _ = s.theta_to_phi(theta + step)
        p_minus, j_minus, _ = s.theta_to_phi(theta - step)
        np.testing.assert_allclose(jac[:, k], (p_plus - p_minus) / (2 * EPS), atol=1e-8)
        np.testing.assert_allclose(hess[:, :, k], (j_plus - j_minus) / (2 * EPS), atol=1e-7)
    np.testing.assert_allclose(s.phi_to_theta(phi), theta, atol=1e-12)


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_sigma_derivatives(name):
    s = _structure(name)
    phi = s.theta_to_phi(np.random.default_rng(4).normal(scale=0.3, size=s.n_params))[0]
    geo = _geometry(s)
    sig, d1, d2 = s.blocks(phi, geo, 2)
    assert np.all(np.linalg.eigvalsh(sig) > 0)
    for k in range(phi.size):
        step = np.zeros_like(phi)
        step[k] = EPS
        s_plus, d_plus, _ = s.blocks(phi + step, geo, 1)
        s_minus, d_minus, _ = s.blocks(phi - step, geo, 1)
        np.testing.assert_allclose(d1[k], (s_plus - s_minus) / (2 * EPS), atol=1e-8)
        numeric = (d_plus - d_minus) / (2 * EPS)
        if d2 is None:
            np.testing.assert_allclose(numeric, 0.0, atol=1e-8)  # linear in phi
        else:
            np.testing.assert_allclose(d2[:, k], numeric, atol=1e-7)


@pytest.mark.parametrize(
    "name, names",
    [
        ("us", ["UN(1,1)", "UN(2,1)", "UN(2,2)", "UN(3,1)", "UN(3,2)", "UN(3,3)"]),
        ("cs", ["CS", "Residual"]),
        ("csh", ["Var(1)", "Var(2)", "Var(3)", "CSH"]),
        ("ar1", ["AR(1)", "Residual"]),
        ("ar1h", ["Var(1)", "Var(2)", "Var(3)", "ARH(1)"]),
        ("toep", ["TOEP(2)", "TOEP(3)", "Residual"]),
        ("toeph", ["Var(1)", "Var(2)", "Var(3)", "TOEPH(1)", "TOEPH(2)"]),
        ("ad", ["Rho(1)", "Rho(2)", "Residual"]),
        ("adh", ["Var(1)", "Var(2)", "Var(3)", "Rho(1)", "Rho(2)"]),
        ("vc", ["Residual"]),
        ("un1", ["UN(1,1)", "UN(2,2)", "UN(3,3)"]),
    ],
)
def test_sas_parameter_names(name, names):
    assert STRUCTURES[name](3).param_names() == names


def test_matrices_follow_sas_definitions():
    """Spot values of Sigma from the SAS TYPE= definitions."""
    ar1h = STRUCTURES["ar1h"](3).matrix(np.array([1.0, 4.0, 9.0, 0.5]))
    np.testing.assert_allclose(ar1h[0, 2], 1 * 3 * 0.25)
    toep = STRUCTURES["toep"](3).matrix(np.array([2.0, 1.0, 5.0]))
    np.testing.assert_allclose(toep, [[5, 2, 1], [2, 5, 2], [1, 2, 5]])
    adh = STRUCTURES["adh"](3).matrix(np.array([1.0, 4.0, 9.0, 0.5, 0.4]))
    np.testing.assert_allclose(adh[0, 2], 1 * 3 * 0.5 * 0.4)
    cs = STRUCTURES["cs"](3).matrix(np.array([1.5, 2.0]))
    np.testing.assert_allclose(cs, 1.5 + 2.0 * np.eye(3))


@pytest.mark.parametrize(
    "name, p, corr",
    [
        ("sp_exp", 2.0, lambda d: np.exp(-d / 2.0)),
        ("sp_pow", 0.6, lambda d: 0.6**d),
        ("sp_gau", 2.0, lambda d: np.exp(-(d**2) / 4.0)),
        ("sp_sph", 4.0, lambda d: np.where(d <= 4.0, 1 - 1.5 * d / 4.0 + 0.5 * (d / 4.0) ** 3, 0.0)),
    ],
)
def test_spatial_matrices_follow_sas_definitions(name, p, corr):
    """sigma^2 f(d) over coordinates (1, 0), (2, 0), (4, 0), (1, 5) (SAS TYPE=SP(...)(c1 c2))."""
    coords = np.array([[1.0, 0.0], [2.0, 0.0], [4.0, 0.0], [1.0, 5.0]])
    s = STRUCTURES[name](2)
    assert s.param_names() == [f"SP({name[3:].upper()})", "Residual"]
    assert list(s.variance_mask()) == [False, True]
    dist = np.sqrt(((coords[:, None] - coords[None]) ** 2).sum(-1))
    np.testing.assert_allclose(s.matrix_at(np.array([p, 3.0]), coords), 3.0 * corr(dist), rtol=1e-14)


@pytest.mark.parametrize("name, p", [("sp_exp", 0.3), ("sp_exp", 7.0), ("sp_pow", 0.95), ("sp_gau", 0.4),
                                     ("sp_gau", 6.0), ("sp_sph", 2.7), ("sp_sph", 9.0)])
def test_spatial_derivatives_over_the_range(name, p):
    """d Sigma / d p and d2 Sigma / d p2 against differences where f is curved and (spherical)
    where some distances (0, 1, 1.5, 2.5, 3, 4) lie beyond the range."""
    s = _structure(name)
    geo = _geometry(s)
    phi = np.array([p, 2.0])
    _, d1, d2 = s.blocks(phi, geo, 2)
    step = np.array([EPS * p, 0.0])
    s_plus, d_plus, _ = s.blocks(phi + step, geo, 1)
    s_minus, d_minus, _ = s.blocks(phi - step, geo, 1)
    np.testing.assert_allclose(d1[0], (s_plus - s_minus) / (2 * EPS * p), atol=1e-8)
    np.testing.assert_allclose(d2[0, 0], (d_plus[0] - d_minus[0]) / (2 * EPS * p), atol=1e-6)


@pytest.mark.parametrize("name", ["sp_exp", "sp_pow", "sp_gau", "sp_sph"])
def test_spatial_start_matches_the_mean_correlation(name):
    """The starting p reproduces the mean residual correlation at the mean distance."""
    s = _structure(name)
    for corr, dist in [(0.5, 1.0), (0.2, 2.5), (0.85, 0.7)]:
        p = s.parameter_for(corr, dist)
        assert s.correlation(p, np.array(dist))[0] == pytest.approx(corr, rel=1e-10)


def test_grouped_cs_uses_sas_group_names():
    """SAS prints Variance then CS for TYPE=CS with GROUP= (SAS 9.4 listing, R mmrm design/SAS)."""
    s = STRUCTURES["cs"](3, grouped=True)
    assert s.param_names() == ["Variance", "CS"]
    np.testing.assert_allclose(s.matrix(np.array([2.0, 1.5])), 1.5 + 2.0 * np.eye(3))
    theta = np.array([0.3, -0.2])
    phi, jac, hess = s.theta_to_phi(theta)
    ungrouped = STRUCTURES["cs"](3).theta_to_phi(theta)
    np.testing.assert_allclose(phi, ungrouped[0][::-1])
    np.testing.assert_allclose(s.phi_to_theta(phi), theta)


def test_grouped_ar1_uses_sas_group_names():
    """SAS prints Variance then AR(1) for TYPE=AR(1) with GROUP= (R mmrm
    design/SAS/sas_group_ar1_reml.txt); the same matrix as the ungrouped structure."""
    s = STRUCTURES["ar1"](3, grouped=True)
    assert s.param_names() == ["Variance", "AR(1)"]
    grouped = s.matrix(np.array([2.0, 0.5]))
    np.testing.assert_allclose(grouped, STRUCTURES["ar1"](3).matrix(np.array([0.5, 2.0])))
    np.testing.assert_allclose(grouped[0, 2], 2.0 * 0.25)


def test_diagonal_structures():
    np.testing.assert_allclose(STRUCTURES["vc"](3).matrix(np.array([2.5])), 2.5 * np.eye(3))
    variances = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(STRUCTURES["un1"](3).matrix(variances), np.diag(variances))


def test_unknown_structure_names_the_choices():
    with pytest.raises(FormulaError, match="unknown covariance structure 'unn'.*us, vc, un1, cs"):
        get_structure("unn")


def test_variance_masks_for_covtest():
    """One-sided p-values go to variances: UN(i,i), Var(i), Residual, Variance (CS with GROUP=)."""
    from trialmlm.covariance.random_effects import Independent, RandomEffects

    assert list(STRUCTURES["us"](2).variance_mask()) == [True, False, True]
    assert list(STRUCTURES["cs"](3, grouped=True).variance_mask()) == [True, False]
    assert list(STRUCTURES["ar1h"](2).variance_mask()) == [True, True, False]
    diag = RandomEffects(Independent(1), ("Intercept", "TIME"), diagonal=True)
    assert list(diag.variance_mask()) == [True, True, True]
    full = RandomEffects(STRUCTURES["ar1"](3), ("Intercept", "TIME"), diagonal=False)
    assert list(full.variance_mask()) == [True, False, True, False, True]
