"""The per-pattern moments (:mod:`trialmlm.engine.moments`) by design class, chunk by chunk, and
from partitions are the sums :math:`\\sum_s z_sz_s^\\top` of their definition.

Reference: the definition computed directly from the design matrix X of the fit
(``design.X``, formulaic's encoding), subject by subject.
"""

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.engine import moments
from trialmlm.engine.model import build_model


def trial(seed: int = 3, n: int = 60) -> pd.DataFrame:
    """Three arms, 4 visits with gaps, a baseline and a time-varying covariate, weights."""
    rng = np.random.default_rng(seed)
    rows = [(f"S{s:03d}", ["A", "B", "C"][s % 3], v, rng.normal(), rng.normal(), rng.uniform(0.5, 2))
            for s in range(n) for v in range(4) if rng.random() > 0.2]
    frame = pd.DataFrame(rows, columns=["ID", "ARM", "VIS", "TV", "Y", "W"])
    frame["BASE"] = frame.groupby("ID")["TV"].transform("first")
    frame["VIS"] = "V" + frame["VIS"].astype(str)
    return frame


def direct(design, batch) -> np.ndarray:
    z = np.column_stack([design.X, design.y]) * np.sqrt(design.weights)[:, None]
    out = np.zeros_like(batch.moments)
    for rows, pattern in zip(batch.rows, batch.pattern):
        out[pattern] += np.einsum("ai,bj->abij", z[rows], z[rows])
    return out


@pytest.mark.parametrize("formula", [
    "Y ~ BASE + ARM * VIS + us(VIS | ID)",
    "Y ~ BASE * TV + ARM * VIS + us(VIS | ARM / ID)",  # monomials BASE, TV, BASE:TV per row
    "Y ~ np.log(W) + ARM + us(VIS | ID)",  # a transform: no table, z chunk by chunk
])
def test_moments_are_the_sums_of_their_definition(formula, monkeypatch):
    monkeypatch.setattr(moments, "CHUNK_ROWS", 37)  # several chunks of whole subjects
    model = build_model(formula, trial(), weights="W")
    for batch in model.likelihood.batches:
        np.testing.assert_allclose(batch.moments, direct(model.design, batch), rtol=1e-12, atol=1e-12)


def test_unique_rows_is_numpy_unique():
    a = np.random.default_rng(1).integers(0, 4, (200, 5))
    expected = np.unique(a, axis=0, return_index=True, return_inverse=True)
    for got, want in zip(moments.unique_rows(a), expected):
        np.testing.assert_array_equal(got, np.reshape(want, got.shape))
    big = np.array([[2**40, 1], [0, 2**40], [2**40, 1]])  # keys beyond one int64: numpy's route
    np.testing.assert_array_equal(moments.unique_rows(big)[2], [1, 0, 1])


def test_weighted_time_varying_fit_from_partitions(tmp_path):
    dd = pytest.importorskip("dask.dataframe")
    data = trial(seed=5, n=90)
    formula = "Y ~ BASE * TV + ARM * VIS + us(VIS | ID)"
    key = pd.Series(pd.factorize(data["ID"], sort=True)[0], index=data.index, name="key")
    a = trialmlm.fit(formula, dd.from_pandas(data.set_index(key), npartitions=4, sort=True), weights="W")
    b = trialmlm.fit(formula, data, weights="W")
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
    np.testing.assert_allclose(a.loglik, b.loglik, rtol=1e-12)
