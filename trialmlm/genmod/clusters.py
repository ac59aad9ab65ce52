r"""The clusters (subjects) of a GEE and their patterns of visits, for vectorised sums.

Rows are sorted by subject and visit (:func:`trialmlm.engine.design.build_design`), so the
rows of subject :math:`i` are the contiguous range ``starts[i] : starts[i] + size[i]``.
A sum over the rows of each subject is one sparse product with the (n_subjects, N)
membership matrix (:meth:`Clusters.segment_sum`); a pattern (the set of visits observed)
groups the subjects whose working correlation blocks are the same, so a structure without
a closed-form inverse inverts one block per pattern (at most :math:`2^P - 1`, never one
per subject).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class Clusters:
    """The clusters of a design.

    ``subject`` / ``position`` codes per row; ``starts`` / ``size`` the first row and the
    number of rows per subject; ``within`` per row its rank among its subject's rows
    (0, 1, ...); ``pattern`` per subject the index of its row of ``patterns`` (``(G, P)``
    booleans: the visits observed, distinct, in lexicographic order); ``membership`` the
    sparse (n_subjects, N) 0/1 matrix of rows to subjects.
    """

    n_subjects: int
    n_positions: int
    subject: np.ndarray
    position: np.ndarray
    starts: np.ndarray
    size: np.ndarray
    within: np.ndarray
    pattern: np.ndarray
    patterns: np.ndarray
    membership: sparse.csr_matrix

    @classmethod
    def of(cls, subject: np.ndarray, position: np.ndarray, n_subjects: int, n_positions: int) -> Clusters:
        """The clusters of rows sorted by ``subject`` (codes 0..n-1) and ``position``."""
        n = subject.size
        size = np.bincount(subject, minlength=n_subjects)
        starts = np.concatenate([[0], np.cumsum(size)[:-1]])
        mask = np.zeros((n_subjects, n_positions), dtype=bool)
        mask[subject, position] = True
        words = np.packbits(mask, axis=1)  # a pattern as bytes, compared as integers column by column
        order = np.lexsort(words.T[::-1])
        new = np.concatenate([[True], np.any(words[order][1:] != words[order][:-1], axis=1)])
        pattern = np.empty(n_subjects, dtype=np.int64)
        pattern[order] = np.cumsum(new) - 1
        membership = sparse.csr_matrix((np.ones(n), np.arange(n), np.append(starts, n)),
                                       shape=(n_subjects, n))
        return cls(n_subjects, n_positions, subject, position, starts, size,
                   np.arange(n) - starts[subject], pattern, mask[order[new]], membership)

    def segment_sum(self, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per subject, the sum of ``values`` (rows first) over its rows, each row times its
        weight in ``weights`` if given (one sparse product, ``values`` not copied)."""
        if weights is None:
            return self.membership @ values
        m = self.membership
        return sparse.csr_matrix((weights, m.indices, m.indptr), shape=m.shape) @ values

    def by_pattern(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per row of :attr:`patterns`, ``(observed visits, its subjects)`` (subjects ascending)."""
        order = np.argsort(self.pattern, kind="stable")
        bounds = np.searchsorted(self.pattern[order], np.arange(len(self.patterns) + 1))
        return [(observed, order[bounds[g]:bounds[g + 1]]) for g, observed in enumerate(self.patterns)]

    def wide(self, values: np.ndarray) -> np.ndarray:
        """(n_subjects, P) array of the rows' ``values`` at their visits, 0 where unobserved."""
        out = np.zeros((self.n_subjects, self.n_positions))
        out[self.subject, self.position] = values
        return out
