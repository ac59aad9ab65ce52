"""genmod.precision and genmod.clusters: the closed-form inverses of the working
correlations (bands + rank one over the sorted rows) against the explicit per-subject
inverse of each block, with intermittent missing visits and clusters of one visit."""

from __future__ import annotations

import numpy as np
import pytest

from trialmlm.genmod.clusters import Clusters
from trialmlm.genmod.working import get_working

P = 5
ALPHAS = {"independence": [], "exchangeable": [0.35], "ar1": [-0.6], "mdep(2)": [0.4, 0.15],
          "unstructured": [0.5, 0.3, 0.2, 0.1, 0.45, 0.3, 0.2, 0.5, 0.3, 0.4]}


@pytest.fixture(scope="module")
def clusters() -> Clusters:
    rng = np.random.default_rng(3)
    mask = rng.random((40, P)) < 0.7
    mask[0] = False
    mask[0, 2] = True  # a subject with one visit
    mask[1] = True  # one with all
    mask[~mask.any(axis=1), 0] = True
    subject, position = np.nonzero(mask)  # sorted by subject, then visit
    return Clusters.of(subject, position, mask.shape[0], P)


def explicit(working, alpha, clusters, M):
    """sum_i M_i' R_i^-1 M_i and R^-1 v, subject by subject."""
    R = working.matrix(np.asarray(alpha), P)
    Q = np.zeros((M.shape[1], M.shape[1]))
    applied = np.zeros(M.shape[0])
    for i in range(clusters.n_subjects):
        rows = np.flatnonzero(clusters.subject == i)
        inv = np.linalg.inv(R[np.ix_(clusters.position[rows], clusters.position[rows])])
        Q += M[rows].T @ inv @ M[rows]
        applied[rows] = inv @ M[rows, 0]
    return Q, applied


@pytest.mark.parametrize("name", list(ALPHAS))
def test_precision_equals_the_inverse_of_each_block(clusters, name):
    working = get_working(name)
    rng = np.random.default_rng(7)
    X, f = rng.normal(size=(clusters.subject.size, 3)), rng.uniform(0.2, 1.0, clusters.subject.size)
    precision = working.precision(np.asarray(ALPHAS[name]), clusters)
    M = f[:, None] * X
    Q, applied = explicit(working, ALPHAS[name], clusters, M)
    quadratic = precision.quadratic(X, f, lambda w: X.T @ (w[:, None] * X))
    np.testing.assert_allclose(quadratic, Q, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(precision.apply(M[:, 0]), applied, rtol=1e-12, atol=1e-12)


def test_clusters_of_sorted_rows(clusters):
    values = np.arange(clusters.subject.size, dtype=float)
    sums = np.array([values[clusters.subject == i].sum() for i in range(clusters.n_subjects)])
    np.testing.assert_array_equal(clusters.segment_sum(values), sums)
    np.testing.assert_allclose(clusters.segment_sum(np.ones_like(values), values), sums, rtol=1e-15)
    np.testing.assert_array_equal(clusters.size, np.bincount(clusters.subject))
    np.testing.assert_array_equal(clusters.within, np.concatenate([np.arange(m) for m in clusters.size]))
    observed = clusters.wide(np.ones(clusters.subject.size)) > 0
    np.testing.assert_array_equal(clusters.patterns[clusters.pattern], observed)
    assert len({tuple(p) for p in clusters.patterns}) == len(clusters.patterns)
