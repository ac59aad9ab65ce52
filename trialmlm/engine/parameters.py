r"""Layout of the covariance parameters :math:`\phi` over the per-group structures.

A fit has one covariance structure per group of subjects (SAS ``REPEATED / GROUP=``; a
single group without).  :math:`\phi` is cut into *blocks*, each with its own map
:math:`\theta\to\phi` (:mod:`trialmlm.engine.optimize`), and each structure reads its
parameters, in its own order, from :math:`\phi` through an index array:

* separate structures (no random effects): one block per structure; structure *g*
  reads the contiguous slice ``phi[o_g:o_{g+1}]``;
* random effects with a residual structure per group (SAS ``RANDOM ... / SUBJECT=ID;
  REPEATED ... / SUBJECT=ID GROUP=TRT``; a single group without ``GROUP=``): the
  structures share one
  :class:`~trialmlm.covariance.random_effects.RandomCovariance` :math:`G`.  :math:`\phi`
  is :math:`G`'s parameters (one block, mapped once), then each group's residual
  parameters (one block per group, in group order); structure *g* reads :math:`G`'s
  positions and then its group's.

Derivatives computed per structure in its own coordinates (gradient, Hessian blocks,
``jac_info``) are added at the positions :meth:`ParameterMap.at` / :meth:`ParameterMap.at2`:
a shared parameter collects the sum over the groups.  Positions are slices where they are
contiguous, so that the separate layout indexes exactly as plain offsets do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Block:
    """Parameters ``phi[at]`` with one map ``transform`` (``theta_to_phi``, ``phi_to_theta``,
    ``param_names``, ``variance_mask``); ``group`` is None for parameters shared by all groups."""

    transform: object
    at: slice
    group: int | None


def _locator(index: np.ndarray) -> slice | np.ndarray:
    if index.size and np.array_equal(index, np.arange(index[0], index[0] + index.size)):
        return slice(int(index[0]), int(index[0]) + index.size)
    return index


class ParameterMap:
    """Where each structure's parameters sit in :math:`\\phi` (see the module docstring).

    Parameters
    ----------
    structures : one per group; random-effect structures sharing one ``g`` object share
        its parameters.
    """

    def __init__(self, structures: list):
        self.shared = bool(structures) and all(
            getattr(s, "g", None) is not None and s.g is structures[0].g for s in structures)
        if self.shared:
            n_g = structures[0].n_g
            blocks = [Block(structures[0].g, slice(0, n_g), None)]
            index = []
            start = n_g
            for g, s in enumerate(structures):
                n_r = s.residual.n_params
                blocks.append(Block(s.residual, slice(start, start + n_r), g))
                index.append(np.concatenate([np.arange(n_g), np.arange(start, start + n_r)]))
                start += n_r
        else:
            offsets = np.concatenate([[0], np.cumsum([s.n_params for s in structures])]).astype(int)
            blocks = [Block(s, slice(int(offsets[g]), int(offsets[g + 1])), g)
                      for g, s in enumerate(structures)]
            index = [np.arange(offsets[g], offsets[g + 1]) for g in range(len(structures))]
        self.blocks = tuple(blocks)
        self.index = tuple(index)
        self.n_params = int(sum(b.at.stop - b.at.start for b in blocks))
        self._at = [_locator(i) for i in index]
        self._at2 = [(a, a) if isinstance(a, slice) else np.ix_(a, a) for a in self._at]

    def at(self, g: int) -> slice | np.ndarray:
        """Positions in :math:`\\phi` of structure ``g``'s parameters (a slice if contiguous)."""
        return self._at[g]

    def at2(self, g: int) -> tuple:
        """Index of structure ``g``'s (parameter x parameter) block of a matrix over :math:`\\phi`."""
        return self._at2[g]

    def residual(self, g: int) -> Block:
        """Group ``g``'s own block: its residual structure (with random effects) or its
        whole structure (without), and where its parameters sit in :math:`\\phi`."""
        return next(b for b in self.blocks if b.group == g)

    def split(self, phi: np.ndarray) -> list[np.ndarray]:
        """Each structure's parameters, in its own order."""
        return [phi[a] for a in self._at]

    def variance_mask(self) -> np.ndarray:
        """Which parameters of :math:`\\phi` are variances (one-sided COVTEST p-values)."""
        return np.concatenate([b.transform.variance_mask() for b in self.blocks])
