r"""The block-diagonal inverse working correlation :math:`R^{-1} = \mathrm{diag}_i(R_i^{-1})`
over the rows (sorted by subject and visit), and the GEE's sums with it.

Every block is written :math:`R_i^{-1} = B_i - g_i\mathbf 1\mathbf 1^\top` with :math:`B_i`
banded: ``bands[d][k]`` is :math:`(B_i)_{j,j+d}` for row :math:`k` (rank :math:`j` among the
rows of its subject :math:`i`) and the row :math:`d` below it, 0 where that row belongs to
another subject; :math:`g_i` is a rank-one weight per subject (``rank_one``, None when 0).
Each working structure (:mod:`.working`) gives its closed form in this shape: independence
:math:`B = I`; exchangeable :math:`B = I/(1-\alpha)` and :math:`g` of the cluster size;
AR(1) a tridiagonal :math:`B`; others the dense inverse of each pattern's block, every band.
For a matrix :math:`M` with rows like the data (:math:`M_i` the rows of subject :math:`i`):

* :meth:`Precision.quadratic`: :math:`\sum_i M_i^\top R_i^{-1}M_i = \sum_d \sum_k
  b_{d,k}(m_km_{k+d}^\top + m_{k+d}m_k^\top)/(1 + [d = 0]) - Z^\top\mathrm{diag}(g)Z` with
  :math:`Z_i = \mathbf 1^\top M_i`, for :math:`M = \mathrm{diag}(f)X`: one weighted
  :math:`X^\top WX` per band, no per-subject loop;
* :meth:`Precision.apply`: :math:`R^{-1}v` for a vector :math:`v` with rows like the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .clusters import Clusters


@dataclass(frozen=True)
class Precision:
    """:math:`R^{-1}` as bands and a rank-one term (module docstring); ``bands[0]`` is the
    positive diagonal, (N,) or one number for every row, ``bands[d]`` (N - d,)."""

    clusters: Clusters
    bands: tuple[np.ndarray | float, ...]
    rank_one: np.ndarray | None = None

    @classmethod
    def of_blocks(cls, clusters: Clusters, inverses: np.ndarray) -> Precision:
        """From ``inverses`` (G, P, P): per pattern of :attr:`Clusters.patterns`, the inverse
        of its block in the order of its visits, zero-padded."""
        which = clusters.pattern[clusters.subject]
        j, last = clusters.within, clusters.size[clusters.subject] - 1
        P = inverses.shape[1]
        bands = [inverses[which, j, j]]
        for d in range(1, int(last.max(initial=0)) + 1):
            inside = (j[:-d] + d) <= last[:-d]
            bands.append(np.where(inside, inverses[which[:-d], j[:-d], np.minimum(j[:-d] + d, P - 1)], 0.0))
        return cls(clusters, tuple(bands))

    def quadratic(self, X: np.ndarray, f: np.ndarray, weighted_gram: Callable[[np.ndarray], np.ndarray]
                  ) -> np.ndarray:
        r""":math:`\sum_i M_i^\top R_i^{-1} M_i` (p, p) for :math:`M = \mathrm{diag}(f)X`
        (``X`` (N, p)), never formed: the diagonal band is ``weighted_gram(w)`` :math:`=
        X^\top\mathrm{diag}(w)X` with :math:`w = b_0f^2`, the rank-one term reads
        :math:`Z = ` the subjects' sums of :math:`f_kx_k`."""
        Q = weighted_gram(self.bands[0] * f * f)
        for d, band in enumerate(self.bands[1:], start=1):
            C = (X[:-d] * (band * f[:-d] * f[d:])[:, None]).T @ X[d:]
            Q += C + C.T
        if self.rank_one is not None:
            Z = self.clusters.segment_sum(X, f)
            Q -= Z.T @ (self.rank_one[:, None] * Z)
        return Q

    def apply(self, v: np.ndarray) -> np.ndarray:
        """:math:`R^{-1}v` for ``v`` (N,)."""
        out = self.bands[0] * v
        for d, band in enumerate(self.bands[1:], start=1):
            out[:-d] += band * v[d:]
            out[d:] += band * v[:-d]
        if self.rank_one is not None:
            out -= (self.rank_one * self.clusters.segment_sum(v))[self.clusters.subject]
        return out
