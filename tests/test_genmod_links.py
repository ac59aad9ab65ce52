"""trialmlm.genmod.links: each link's inverse undoes it and mu_eta is the derivative of the
inverse (central differences); the cloglog link against R's make.link("cloglog") formulas."""

import numpy as np
import pytest

from trialmlm.genmod.links import LINKS, get_link


@pytest.mark.parametrize("name", sorted(LINKS))
def test_inverse_and_derivative(name):
    link = get_link(name)
    eta = np.array([-2.5, -0.4, 0.0, 0.7, 1.9])
    np.testing.assert_allclose(link.link(link.inverse(eta)), eta, rtol=1e-10, atol=1e-12)
    h = 1e-6
    np.testing.assert_allclose(link.mu_eta(eta), (link.inverse(eta + h) - link.inverse(eta - h)) / (2 * h),
                               rtol=1e-7)


def test_cloglog_is_rs():
    # R: make.link("cloglog")$linkinv(c(-2, 0, 1)); $mu.eta(c(-2, 0, 1))
    link = get_link("cloglog")
    eta = np.array([-2.0, 0.0, 1.0])
    np.testing.assert_allclose(link.inverse(eta), 1 - np.exp(-np.exp(eta)), rtol=1e-14)
    np.testing.assert_allclose(link.mu_eta(eta), np.exp(eta) * np.exp(-np.exp(eta)), rtol=1e-14)
    assert link.sas == "CLOGLOG" and link.ratio is None
