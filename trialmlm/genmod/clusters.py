r"""Subjects grouped by cluster pattern (the set of visits observed), for batched algebra.

Rows are sorted by subject and visit (:func:`trialmlm.engine.design.build_design`), so the
rows of the subjects of one pattern with :math:`m` visits form an (n_g, m) array of row
numbers; every sum over subjects of the GEE is a batched product over each pattern's
array, and the loop runs over patterns (at most :math:`2^P - 1`), never over subjects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pattern:
    """Subjects observed at exactly the visits ``positions``; ``rows`` (n_g, m)."""

    positions: np.ndarray
    subjects: np.ndarray
    rows: np.ndarray


@dataclass(frozen=True)
class Clusters:
    """The cluster patterns of a design: ``n_subjects``, ``n_positions`` (P), ``mask``
    (n_subjects, P) of observed visits, ``subject`` and ``position`` codes per row."""

    n_subjects: int
    n_positions: int
    subject: np.ndarray
    position: np.ndarray
    patterns: tuple[Pattern, ...]

    @classmethod
    def of(cls, subject: np.ndarray, position: np.ndarray, n_subjects: int, n_positions: int) -> Clusters:
        """Patterns of rows sorted by ``subject`` (codes 0..n-1) and ``position``."""
        mask = np.zeros((n_subjects, n_positions), dtype=bool)
        mask[subject, position] = True
        keys, which = np.unique(mask, axis=0, return_inverse=True)
        which = which.reshape(-1)
        starts = np.concatenate([[0], np.cumsum(mask.sum(axis=1))[:-1]])
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(len(keys) + 1))
        patterns = []
        for g, key in enumerate(keys):
            subjects = order[bounds[g]:bounds[g + 1]]
            m = int(key.sum())
            patterns.append(Pattern(np.flatnonzero(key), subjects, starts[subjects][:, None] + np.arange(m)))
        return cls(n_subjects, n_positions, subject, position, tuple(patterns))

    def wide(self, values: np.ndarray) -> np.ndarray:
        """(n_subjects, P) array of the rows' ``values`` at their visits, 0 where unobserved."""
        out = np.zeros((self.n_subjects, self.n_positions))
        out[self.subject, self.position] = values
        return out
