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

The design matrix is never formed for this.  With a table encoding
(:meth:`trialmlm.engine.design.FixedEncoding.table_parts`) a row of X is a table row times the
row's monomials (products of covariates), so the subjects of a pattern with the same table
rows at every visit (a *class* c) satisfy :math:`z_s = E_cu_s`, :math:`u_s = W_s^{1/2}[V_s
\mid y_s]` (monomials and response per visit), and
:math:`M_P = \sum_{c\subset P}E_c(\sum_{s\in c}u_su_s^\top)E_c^\top` (:func:`class_moments`):
:math:`k(d+1)` numbers per subject instead of :math:`kq`.  Otherwise (transforms in the
formula, or more classes than that saves) z is built chunk by chunk of whole subjects.  A
fit from partitions adds the class sums of every partition (:mod:`trialmlm.engine.partitioned`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .design import CHUNK_ROWS, Design, FixedEncoding


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
    rows : (n, k) data rows of the batch's subjects, ordered by pattern (no rows, n = 0, for
        batches reduced from partitions, :mod:`trialmlm.engine.partitioned`).
    pattern : (n,) pattern index of each of those subjects.
    """

    group: int
    geometry: np.ndarray
    count: np.ndarray
    moments: np.ndarray
    rows: np.ndarray
    pattern: np.ndarray


def unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(a, axis=0, return_index=True, return_inverse=True)`` of a 2-d integer array
    (same order), through one int64 key per row when the columns' ranges allow it."""
    if a.size and a.min() >= 0:
        span = a.max(axis=0).astype(np.int64) + 1
        if np.log2(span.astype(float)).sum() < 62:
            mult = np.r_[np.cumprod(span[::-1])[::-1][1:], 1]
            _, first, inverse = np.unique(a.astype(np.int64) @ mult, return_index=True, return_inverse=True)
            return a[first], first, inverse.reshape(-1)
    rows, first, inverse = np.unique(a, axis=0, return_index=True, return_inverse=True)
    return rows, first, inverse.reshape(-1)


def _distances(points: np.ndarray, codes: np.ndarray) -> np.ndarray:
    xyz = points[codes]  # (m, k, d)
    return np.sqrt(((xyz[:, :, None, :] - xyz[:, None, :, :]) ** 2).sum(-1))


def chunk_bounds(design: Design, size: int = CHUNK_ROWS) -> np.ndarray:
    """Row bounds of consecutive chunks of whole subjects, about ``size`` rows each."""
    n = design.y.size
    starts = np.flatnonzero(np.r_[True, design.subject[1:] != design.subject[:-1]])
    cuts = starts[np.searchsorted(starts, np.arange(0, n, size))] if n else starts
    return np.unique(np.r_[cuts, n])


def weighted_rows(design: Design, index) -> np.ndarray:
    r"""Rows ``index`` (a slice or positions) of :math:`z = W^{1/2}[X\,y]`."""
    z = np.column_stack([design.rows_at(index), design.y[index]])
    return z * np.sqrt(design.weights[index])[:, None]


def _class_rows(design: Design) -> tuple[np.ndarray, np.ndarray] | None:
    r"""``(index, u)`` per row: the table row of its factor levels and
    :math:`u = w^{1/2}[v, y]` (:meth:`FixedEncoding.table_parts`); None without a table."""
    if design.encoding.table is None:
        return None
    index, values = design.encoding.table_parts(design.fixed_frame)
    return index, np.column_stack([values, design.y]) * np.sqrt(design.weights)[:, None]


def class_operator(encoding: FixedEncoding, index: np.ndarray) -> np.ndarray:
    r""":math:`E` (k, q, d) with :math:`z_a = E_au_a` for the rows of table rows ``index`` (k,):
    :math:`E_a[j, \mu(j)] = T_{\mathrm{index}_a, j}` for the kept columns j, and
    :math:`E_a[p, d-1] = 1` (the response)."""
    table, mu = encoding.table[0][:, encoding.kept], encoding.monomial_of[encoding.kept]
    k, p, d = index.size, table.shape[1], len(encoding.monomials) + 1
    e = np.zeros((k, p + 1, d))
    e[:, np.arange(p), mu] = table[index]
    e[:, p, d - 1] = 1.0
    return e


def class_moments(encoding: FixedEncoding, index: np.ndarray, sums: np.ndarray) -> np.ndarray:
    r""":math:`M = E(\sum_s u_su_s^\top)E^\top` (k, k, q, q) of a class of table rows ``index``
    (k,) from ``sums`` (k d, k d) (:func:`class_operator`)."""
    e = class_operator(encoding, index)
    k, d = index.size, e.shape[2]
    return np.einsum("aim,ambn,bjn->abij", e, sums.reshape(k, d, k, d), e, optimize=True)


def segment_sums(us: np.ndarray, cls: np.ndarray, n_classes: int) -> np.ndarray:
    r"""(n_classes, c, c): :math:`\sum u_su_s^\top` over the rows ``us`` (n, c) of each class ``cls``."""
    order = np.argsort(cls, kind="stable")
    us = us[order]
    edges = np.searchsorted(cls[order], np.arange(n_classes + 1))
    return np.stack([us[a:b].T @ us[a:b] for a, b in zip(edges[:-1], edges[1:])])


def _by_class(design: Design, parts: tuple[np.ndarray, np.ndarray], rows: np.ndarray, pattern: np.ndarray,
              moments: np.ndarray) -> bool:
    r"""Add the moments of a batch by design class, if that is cheaper than directly (True).

    Subjects of one pattern whose rows share the table rows (factor levels) form a class
    :math:`c`; there :math:`z_s = E_cu_s` (:func:`class_operator`), so
    :math:`\sum_{s\in c}z_sz_s^\top = E_c(\sum_{s\in c}u_su_s^\top)E_c^\top` with
    :math:`u_s` of :math:`k(d_m + 1)` values instead of :math:`kq` (:math:`d_m` monomials, 1
    without covariates or for a baseline covariate such as BASE: 2)."""
    index, u = parts
    n, k = rows.shape
    kq, kd = k * (design.n_fixed + 1), k * u.shape[1]
    classes, _, cls = unique_rows(np.column_stack([pattern, index[rows]]))
    if len(classes) * kq * kq * kd + n * kd * kd > n * kq * kq:
        return False
    sums = segment_sums(u[rows].reshape(n, kd), cls, len(classes))
    for c, key in enumerate(classes):
        moments[key[0]] += class_moments(design.encoding, key[1:], sums[c])
    return True


def _moments(design: Design, grouped: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    r"""(m, k, k, q, q) sums of :math:`z_s z_s^\top` over the subjects of each pattern, for each
    ``(rows, pattern, count)`` of ``grouped`` (rows ordered by pattern): by design class where
    cheaper (:func:`_by_class`), else directly with z built chunk by chunk of whole subjects
    (:func:`chunk_bounds`), so that z never exists for every row."""
    q = design.n_fixed + 1
    out = [np.zeros((len(count), rows.shape[1], rows.shape[1], q, q)) for rows, _, count in grouped]
    parts = _class_rows(design)
    direct = [i for i, (rows, pattern, _) in enumerate(grouped)
              if parts is None or not _by_class(design, parts, rows, pattern, out[i])]
    if not direct:
        return out
    bounds = chunk_bounds(design)
    plans = {}
    for i in direct:
        rows, pattern, _ = grouped[i]
        chunk = np.searchsorted(bounds, rows[:, 0], side="right") - 1
        order = np.lexsort((pattern, chunk))
        plans[i] = (order, np.searchsorted(chunk[order], np.arange(bounds.size)))
    for c, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        z = weighted_rows(design, slice(lo, hi))
        for i, (order, cut) in plans.items():
            rows, pattern, _ = grouped[i]
            sel = order[cut[c]:cut[c + 1]]
            if not sel.size:
                continue
            n, k = sel.size, rows.shape[1]
            zs = z[rows[sel] - lo].reshape(n, k * q)
            pat = pattern[sel]
            edges = np.r_[0, np.flatnonzero(pat[1:] != pat[:-1]) + 1, n]
            for a, b in zip(edges[:-1], edges[1:]):
                block = zs[a:b]
                out[i][pat[a]] += (block.T @ block).reshape(k, q, k, q).transpose(0, 2, 1, 3)
    return out


def with_response(batches: list[Batch], design: Design) -> list[Batch]:
    """The batches of ``design`` after only its response changed: moments recomputed, grouping kept."""
    moments = _moments(design, [(b.rows, b.pattern, b.count) for b in batches])
    return [replace(b, moments=m) for b, m in zip(batches, moments)]


def without_subjects(batches: list[Batch], design: Design, subjects: np.ndarray) -> list[Batch]:
    r"""The batches of ``design`` without the subjects ``subjects`` (codes): those of
    :func:`build_batches` on the design of the other subjects in their order (rows
    renumbered so), by downdating instead of a new reduction.

    Each left-out subject's :math:`z_sz_s^\top` is subtracted from its pattern's
    :math:`M_P` and its count; patterns and batches left without subjects are dropped.
    The cost is that of the left-out subjects' rows (the jackknife: one subject).
    """
    gone = np.zeros(design.subject_labels.size, dtype=bool)
    gone[subjects] = True
    gone = gone[design.subject]  # per row
    removed_before = np.cumsum(gone) - gone
    q = design.n_fixed + 1
    out = []
    for b in batches:
        drop = gone[b.rows[:, 0]]
        moments, count = b.moments, b.count
        if drop.any():
            n, k = int(drop.sum()), b.rows.shape[1]
            z = weighted_rows(design, b.rows[drop].ravel()).reshape(n, k, q)
            moments = moments.copy()
            np.subtract.at(moments, b.pattern[drop], np.einsum("nai,nbj->nabij", z, z))
            count = count - np.bincount(b.pattern[drop], minlength=count.size)
        kept = count > 0
        if not kept.any():
            continue
        rows, pattern = b.rows[~drop], (np.cumsum(kept) - 1)[b.pattern[~drop]]
        geometry = tuple(g[kept] for g in b.geometry) if isinstance(b.geometry, tuple) else b.geometry[kept]
        out.append(Batch(b.group, geometry, count[kept], moments[kept], rows - removed_before[rows], pattern))
    return out


def build_batches(design: Design) -> list[Batch]:
    """Split the subjects of ``design`` into batches of identical-size patterns."""
    sw = np.sqrt(design.weights)
    counts = np.bincount(design.subject, minlength=design.subject_labels.size)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    parts = []
    for g in range(len(design.group_labels)):
        in_group = design.group == g
        for k in np.unique(counts[in_group]):
            subjects = np.flatnonzero(in_group & (counts == k))
            rows = starts[subjects][:, None] + np.arange(k)[None, :]
            codes = design.position[rows]
            if design.Z is None:
                patterns, _, inverse = unique_rows(codes)
                z_patterns = None
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
            geometry = patterns if design.coordinates is None else _distances(design.coordinates, patterns)
            if z_patterns is not None:
                geometry = (geometry, z_patterns)
            parts.append((g, geometry, count, rows, inverse))
    moments = _moments(design, [(rows, inverse, count) for _, _, count, rows, inverse in parts])
    return [Batch(g, geometry, count, m, rows, inverse)
            for (g, geometry, count, rows, inverse), m in zip(parts, moments)]
