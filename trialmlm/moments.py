r"""Group subjects by (covariance group, observed-visit pattern) and reduce them to moments.

For the subjects :math:`i \in P` sharing a pattern of :math:`k` observed positions, the
likelihood needs the data only through

.. math::
    M_P[a, b, i, j] = \sum_{s \in P} z_s[a, i]\, z_s[b, j], \qquad z_s = W_s^{1/2}[X_s \mid y_s],

a :math:`(k, k, q, q)` array (visit axes first, so that contractions over the visit
axes are plain matrix products) with :math:`q = p + 1`.  These are computed once per fit;
every likelihood evaluation then costs :math:`O(\#\text{patterns}\, k^2 q^2)`, whatever
the number of subjects.  Patterns of equal size form a :class:`Batch` whose covariance
blocks are factorised together.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .design import Design


@dataclass(frozen=True)
class Batch:
    """Patterns of one group and one size ``k``.

    Attributes
    ----------
    group : index of the covariance group.
    geometry : (m, k) position codes, or (m, k, k) distances for spatial structures; with
        random effects the pair (that, Z) with the weighted random-effects design Z (m, k, r).
    count : (m,) subjects per pattern.
    moments : (m, k, k, q, q) the arrays :math:`M_P`.
    rows : (n, k) data rows of the batch's subjects, ordered by pattern.
    pattern : (n,) pattern index of each of those subjects.
    """

    group: int
    geometry: np.ndarray
    count: np.ndarray
    moments: np.ndarray
    rows: np.ndarray
    pattern: np.ndarray


def _distances(points: np.ndarray, codes: np.ndarray) -> np.ndarray:
    xyz = points[codes]  # (m, k, d)
    return np.sqrt(((xyz[:, :, None, :] - xyz[:, None, :, :]) ** 2).sum(-1))


def _weighted_data(design: Design) -> np.ndarray:
    return np.column_stack([design.X, design.y]) * np.sqrt(design.weights)[:, None]


def _moments(z: np.ndarray, rows: np.ndarray, count: np.ndarray) -> np.ndarray:
    """(m, k, k, q, q) sums of :math:`z_s z_s^\top` over the subjects of each pattern."""
    n, k = rows.shape
    q = z.shape[1]
    zs = z[rows].reshape(n, k * q)
    bounds = np.concatenate([[0], np.cumsum(count)])
    moments = np.empty((len(count), k, k, q, q))
    for j in range(len(count)):
        block = zs[bounds[j]:bounds[j + 1]]
        moments[j] = (block.T @ block).reshape(k, q, k, q).transpose(0, 2, 1, 3)
    return moments


def with_response(batches: list[Batch], design: Design) -> list[Batch]:
    """The batches of ``design`` after only its response changed: moments recomputed, grouping kept."""
    z = _weighted_data(design)
    return [replace(b, moments=_moments(z, b.rows, b.count)) for b in batches]


def build_batches(design: Design) -> list[Batch]:
    """Split the subjects of ``design`` into batches of identical-size patterns."""
    sw = np.sqrt(design.weights)
    z = _weighted_data(design)
    counts = np.bincount(design.subject, minlength=design.subject_labels.size)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    batches = []
    for g in range(len(design.group_labels)):
        in_group = design.group == g
        for k in np.unique(counts[in_group]):
            subjects = np.flatnonzero(in_group & (counts == k))
            rows = starts[subjects][:, None] + np.arange(k)[None, :]
            codes = design.position[rows]
            if design.Z is None:
                patterns, inverse = np.unique(codes, axis=0, return_inverse=True)
            else:  # a pattern is the visits and the subject's random-effects design
                zs = design.Z[rows] * sw[rows][:, :, None]
                keys = np.concatenate([codes, zs.reshape(len(rows), -1)], axis=1)
                _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
                patterns = codes[first]
                z_patterns = zs[first]
            inverse = inverse.reshape(-1)
            order = np.argsort(inverse, kind="stable")
            rows, inverse = rows[order], inverse[order]
            count = np.bincount(inverse, minlength=len(patterns))
            moments = _moments(z, rows, count)
            geometry = patterns if design.coordinates is None else _distances(design.coordinates, patterns)
            if design.Z is not None:
                geometry = (geometry, z_patterns)
            batches.append(Batch(g, geometry, count, moments, rows, inverse))
    return batches
