r"""Maps from the unconstrained optimisation scale :math:`\theta` to model parameters.

Each map is applied element by element and returns the value together with its
first and second derivative, so that the optimiser can chain-rule the analytic
gradient and Hessian of the likelihood:

.. math::
    g_\theta = J^\top g_\phi, \qquad
    H_\theta = J^\top H_\phi J + \sum_m g_{\phi,m}\, \partial^2\phi_m / \partial\theta^2 .

``log``      positive parameters (variances): :math:`\psi = e^\theta`.
``bounded``  parameters in an open interval :math:`(a, b)` (correlations):
             :math:`\psi = a + (b - a)\,\mathrm{logistic}(\theta)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Positive:
    """Positive parameter, :math:`\\psi = e^\\theta`."""

    def forward(self, t: float) -> tuple[float, float, float]:
        v = float(np.exp(t))
        return v, v, v

    def inverse(self, v: float) -> float:
        return float(np.log(v))


@dataclass(frozen=True)
class Bounded:
    """Parameter in ``(lower, upper)``, :math:`\\psi = a + (b-a)/(1+e^{-\\theta})`."""

    lower: float = -1.0
    upper: float = 1.0

    def forward(self, t: float) -> tuple[float, float, float]:
        s = 0.5 * (1.0 + np.tanh(0.5 * t))  # logistic, overflow-free
        w = self.upper - self.lower
        return float(self.lower + w * s), float(w * s * (1 - s)), float(w * s * (1 - s) * (1 - 2 * s))

    def inverse(self, v: float) -> float:
        s = (v - self.lower) / (self.upper - self.lower)
        s = min(max(s, 1e-12), 1 - 1e-12)
        return float(np.log(s / (1 - s)))


class ThetaMap:
    r"""The map :math:`\theta \to \phi` of a set of covariance parameters, for the optimiser.

    A subclass supplies ``theta_to_phi(theta) -> (phi, J, H)`` with the Hessians ``H``
    (n_phi, n, n); the optimiser reads only :meth:`phi_jacobian` and :meth:`curvature`,
    which a subclass with many parameters (unstructured, :math:`T(T+1)/2`) overrides so
    that the cubic array ``H`` is never formed.
    """

    def phi_jacobian(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`\phi(\theta)` and its Jacobian (n_phi, n)."""
        phi, jac, _ = self.theta_to_phi(theta)
        return phi, jac

    def curvature(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        r""":math:`\sum_m g_m\,\partial^2\phi_m/\partial\theta^2` (n, n), ``g`` a gradient in :math:`\phi`."""
        return np.tensordot(g, self.theta_to_phi(theta)[2], axes=1)


def elementwise(maps, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply one map per element; return values, first and second derivatives."""
    out = np.array([m.forward(t) for m, t in zip(maps, theta)], dtype=float).reshape(-1, 3)
    return out[:, 0], out[:, 1], out[:, 2]


def compose(d1: np.ndarray, d2: np.ndarray, jac_h: np.ndarray, hess_h: np.ndarray):
    r"""Chain rule for :math:`\phi = h(\psi(\theta))` with :math:`\psi` elementwise.

    Parameters
    ----------
    d1, d2 : first and second derivatives of :math:`\psi` in :math:`\theta` (length n).
    jac_h : (n_phi, n) Jacobian of ``h``;  hess_h : (n_phi, n, n) its Hessians.

    Returns
    -------
    J : (n_phi, n) :math:`J_h \operatorname{diag}(\psi')`.
    H2 : (n_phi, n, n) :math:`\operatorname{diag}(\psi') H_h \operatorname{diag}(\psi') +
         \operatorname{diag}(J_h \psi'')`.
    """
    jac = jac_h * d1[None, :]
    hess = hess_h * d1[None, :, None] * d1[None, None, :]
    idx = np.arange(d1.size)
    hess[:, idx, idx] += jac_h * d2[None, :]
    return jac, hess
