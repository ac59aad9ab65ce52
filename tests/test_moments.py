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


@pytest.mark.parametrize("formula", [
    "Y ~ BASE + ARM * VIS + us(VIS | ID)",
    "Y ~ BASE * TV + ARM * VIS + us(VIS | ARM / ID)",  # a covariance group per arm
    "Y ~ ARM * TV + (1 + TV | ID)",  # random effects: the pattern's geometry is (visits, Z)
])
def test_without_subjects_is_the_reduction_of_the_other_subjects(formula):
    """Downdated batches (the jackknife's) are those built from the design of the other subjects:
    the same patterns, counts, rows and geometry, the sums to rounding."""
    model = build_model(formula, trial(), weights="W")
    design = model.design
    n = design.subject_labels.size
    left_out = np.unique([0, 7, 31, int(np.argmin(np.bincount(design.subject)))])  # one with fewest visits
    kept = np.setdiff1d(np.arange(n), left_out)
    got = moments.without_subjects(model.likelihood.batches, design, left_out)
    want = moments.build_batches(design.resample(kept))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.group == w.group
        for a, b in zip(*[x if isinstance(x, tuple) else (x,) for x in (g.geometry, w.geometry)]):
            np.testing.assert_allclose(a, b, rtol=0, atol=0)
        np.testing.assert_array_equal(g.count, w.count)
        np.testing.assert_array_equal(g.rows, w.rows)
        np.testing.assert_array_equal(g.pattern, w.pattern)
        np.testing.assert_allclose(g.moments, w.moments, rtol=1e-12, atol=1e-11)


def test_without_subjects_drops_a_pattern_left_empty():
    model = build_model("Y ~ BASE + ARM * VIS + us(VIS | ID)", trial())
    batch = min(model.likelihood.batches, key=lambda b: b.count.min())
    alone = batch.rows[np.flatnonzero(batch.count[batch.pattern] == 1)[0], 0]  # alone in its pattern
    subject = model.design.subject[alone]
    got = moments.without_subjects(model.likelihood.batches, model.design, np.array([subject]))
    assert sum(b.count.size for b in got) == sum(b.count.size for b in model.likelihood.batches) - 1
    assert sum(b.count.sum() for b in got) == model.design.subject_labels.size - 1
