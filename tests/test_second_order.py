"""The order-2 terms of a batch: the sparse way (picked derivative entries, sparse moments)
gives the dense way's numbers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from trialmlm.engine.model import build_model
from trialmlm.engine.second_order import flat_moments, second_order_terms, sparse_derivatives


def _blocks(data, formula):
    model = build_model(formula, data, "REML", None)
    lik = model.likelihood
    return lik, lik.pattern_blocks(model.start(), 2)


def _dense_terms(blk):
    r"""h and t by r dense products :math:`\Omega S_l\Omega` (the definitions)."""
    omega, d1, moments = blk.omega, blk.d1, blk.batch.moments
    r, q = d1.shape[0], moments.shape[3]
    w = blk.sigma  # any symmetric W_P
    a_l = omega[None] @ d1 @ omega[None]
    h = np.einsum("kmij,lmij->kl", d1, a_l @ (w @ omega)[None])
    t = np.einsum("lmab,mabxy->lxy", a_l, moments).reshape(r, q * q)
    return h, t


def test_us_takes_the_sparse_way_and_matches_the_dense_products(trial3):
    lik, blocks = _blocks(trial3, "CHG ~ BASE + REGION + TRT * AVISIT + us(AVISIT | USUBJID)")
    for blk, flat in zip(blocks, lik.flat_moments):
        assert sparse_derivatives(blk.d1) is not None
        h, t = second_order_terms(blk.d1, blk.omega, blk.sigma, flat)
        h_dense, t_dense = _dense_terms(blk)
        np.testing.assert_allclose(h, h_dense, rtol=1e-12, atol=1e-12 * np.abs(h_dense).max())
        np.testing.assert_allclose(t, t_dense, rtol=1e-12, atol=1e-12 * np.abs(t_dense).max())


@pytest.mark.parametrize("formula", ["CHG ~ BASE + TRT * AVISIT + ar1(AVISIT | USUBJID)",
                                     "CHG ~ BASE + TRT * AVISIT + toeph(AVISIT | USUBJID)"])
def test_other_structures_give_the_dense_products(trial3, formula):
    lik, blocks = _blocks(trial3, formula)
    blk = blocks[-1]
    if "ar1" in formula:  # both parameters move every entry
        assert sparse_derivatives(blk.d1) is None
    h, t = second_order_terms(blk.d1, blk.omega, blk.sigma, lik.flat_moments[-1])
    h_dense, t_dense = _dense_terms(blk)
    np.testing.assert_allclose(h, h_dense, rtol=1e-12, atol=1e-12 * np.abs(h_dense).max())
    np.testing.assert_allclose(t, t_dense, rtol=1e-12, atol=1e-12 * np.abs(t_dense).max())


def test_flat_moments_sparse_only_when_mostly_zeros():
    rng = np.random.default_rng(1)
    dense = rng.normal(size=(3, 2, 2, 4, 4))
    assert isinstance(flat_moments(dense), np.ndarray)
    mostly_zero = np.where(rng.random(dense.shape) < 0.1, dense, 0.0)
    flat = flat_moments(mostly_zero)
    assert sparse.issparse(flat)
    np.testing.assert_array_equal(flat.toarray(), mostly_zero.reshape(12, 16))
