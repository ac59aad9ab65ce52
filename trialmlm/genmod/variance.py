r"""Covariances of :math:`\hat\beta` of a GEE: one registry, :data:`VARIANCES`.

Notation (:mod:`.scoring`; :math:`\phi` cancels from every sandwich): subject :math:`i`
(:math:`i = 1..K`) has the whitened :math:`\bar D_i = W_i^{-1}D_i` and
:math:`\bar e_i = W_i^{-1}(y_i - \mu_i)` with :math:`V_i \propto W_iW_i^\top` (:math:`W_i =
A_i^{1/2}L_i`), :math:`M = H = \sum_i \bar D_i^\top\bar D_i` the model-based "bread",
:math:`\Omega_i = \bar D_i^\top\bar D_i` its subject's part, :math:`U_i = \bar D_i^\top\bar
e_i` the score contribution and the symmetric leverage :math:`S_i = \bar D_iM^{-1}\bar
D_i^\top` (:math:`n_i \times n_i`).  The unwhitened leverage of Mancl & DeRouen,
:math:`H_i = D_iM^{-1}D_i^\top V_i^{-1} = W_iS_iW_i^{-1}`, so
:math:`D_i^\top V_i^{-1}f(H_i)e_i = \bar D_i^\top f(S_i)\bar e_i` for any matrix function
:math:`f`.  Every entry is :math:`M^{-1}\,\mathrm{meat}\,M^{-1}` with:

* ``robust`` (Liang-Zeger; SAS GENMOD's default empirical, PROC GLIMMIX
  ``EMPIRICAL=CLASSICAL``, geepack ``san.se``, geesmv ``GEE.var.lz``):
  :math:`\sum_i U_iU_i^\top`;
* ``model`` (SAS ``MODELSE``, geepack ``vbeta.naiv``): :math:`\phi M`, i.e. :math:`\phi M^{-1}`;
* ``md`` (GLIMMIX ``EMPIRICAL=FIRORES``, geesmv ``GEE.var.md``): :math:`\sum_i u_iu_i^\top`,
  :math:`u_i = \bar D_i^\top(I - S_i)^{-1}\bar e_i`;
* ``kc`` (GLIMMIX ``EMPIRICAL=ROOT``; geesmv ``GEE.var.kc`` differs, below): the same with
  :math:`(I - S_i)^{-1/2}`;
* ``fg`` (GLIMMIX ``EMPIRICAL=FIROEEQ(0.75)``, geesmv ``GEE.var.fg``, saws ``d4``/``d5``):
  :math:`\sum_i B_iU_iU_i^\top B_i`, :math:`B_i = \mathrm{diag}(1 - \min(b,
  [\Omega_iM^{-1}]_{jj}))^{-1/2}`;
* ``mbn`` (GLIMMIX ``EMPIRICAL=MBN``, geesmv ``GEE.var.mbn``):
  :math:`c\sum_iU_iU_i^\top + \delta\xi M`.

* Mancl & DeRouen (2001), Biometrics 57:126-134: the residuals inflated by
  :math:`(I - H_i)^{-1}`.
* Kauermann & Carroll (2001), JASA 96:1387-1396: :math:`(I - H_i)^{-1/2}`, the principal
  inverse square root :math:`W_i(I - S_i)^{-1/2}W_i^{-1}` (:math:`S_i` symmetric with
  eigenvalues in [0, 1), so the root is unique).  geesmv 1.3's ``GEE.var.kc`` instead takes
  ``eigen()`` of the non-symmetric :math:`I - H_i` and forms :math:`P\Lambda^{-1/2}P^\top`
  as if the eigenvectors :math:`P` were orthogonal; that equals the principal root only when
  :math:`H_i` is symmetric (:math:`A_i` constant within the cluster), and differs by up to 12 %
  in SE on the Six Cities data (tests/reference/gee_published/README.md).
* Fay & Graubard (2001), Biometrics 57:1198-1206: bound :math:`b = 0.75` (geesmv's and
  saws's default; GLIMMIX's ``FIROEEQ(r)`` default).
* Morel, Bokossa & Neerchal (2003), Biometrical Journal 45:395-409:
  :math:`c = \frac{N - 1}{N - p}\frac{K}{K - 1}` (:math:`N` observations),
  :math:`\delta = p/(K - p)` if :math:`K > (d + 1)p` else :math:`1/d`,
  :math:`\xi = \max(r, \mathrm{tr}(M^{-1}\sum_iU_iU_i^\top)/p)`, :math:`d = 2`, :math:`r = 1`
  (geesmv's ``GEE.var.mbn`` and GLIMMIX's ``EMPIRICAL=MBN`` defaults).

SAS names: PROC GENMOD and PROC GEE print only the classical empirical and the model-based
covariances (their REPEATED statements have no bias-corrected option); the corrections are
options of PROC GLIMMIX (``EMPIRICAL=``, "Empirical Covariance (Sandwich) Estimators"),
whose formulas were read in its documentation but not run against SAS output here.  The
leverages are computed batched per cluster pattern (:mod:`.clusters`), never per subject.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .scoring import Estimate, Problem, whiten

FG_BOUND = 0.75  # Fay-Graubard's bound b on the leverage (geesmv, saws, GLIMMIX FIROEEQ)
MBN_D, MBN_R = 2.0, 1.0  # Morel-Bokossa-Neerchal's d and r (geesmv, GLIMMIX EMPIRICAL=MBN)


@dataclass(frozen=True)
class VarianceMethod:
    """A covariance of :math:`\\hat\\beta`: ``sas`` the SAS option giving it, ``r`` the R call."""

    name: str
    label: str
    sas: str
    r: str
    compute: Callable[[Problem, Estimate], np.ndarray]


def sandwich(H: np.ndarray, U: np.ndarray) -> np.ndarray:
    r""":math:`H^{-1}(\sum_i U_iU_i^\top)H^{-1}` of the bread ``H`` (p, p) and the subjects'
    scores ``U`` (K, p): every empirical covariance here, and the ordinal GEE's."""
    bread = np.linalg.inv(H)
    return bread @ (U.T @ U) @ bread


def robust(problem: Problem, est: Estimate) -> np.ndarray:
    """The empirical (Liang-Zeger) sandwich (module docstring)."""
    return sandwich(est.H, est.U)


def model_based(problem: Problem, est: Estimate) -> np.ndarray:
    """:math:`\\phi M^{-1}` (module docstring)."""
    return est.phi * np.linalg.inv(est.H)


def _adjusted_scores(problem: Problem, est: Estimate, root: float) -> np.ndarray:
    r"""(K, p): :math:`\bar D_i^\top(I - S_i)^{\mathrm{root}}\bar e_i`, batched per pattern
    (symmetric matrix power by eigendecomposition)."""
    bread = np.linalg.inv(est.H)
    U = np.zeros_like(est.U)
    for b in whiten(problem, est.beta, problem.correlation(est.alpha)):
        S = np.einsum("nkp,pq,nlq->nkl", b.D, bread, b.D)
        values, vectors = np.linalg.eigh(np.eye(S.shape[1]) - S)
        if np.any(values <= 0):
            raise DataError("a cluster's leverage I - H_i is singular (a subject determines its own fit); "
                            "the Mancl-DeRouen and Kauermann-Carroll corrections are not defined")
        root_r = np.einsum("nkl,nl,nml,nm->nk", vectors, values ** root, vectors, b.r)
        U[b.subjects] = np.einsum("nkp,nk->np", b.D, root_r)
    return U


def mancl_derouen(problem: Problem, est: Estimate) -> np.ndarray:
    """Mancl-DeRouen: residuals times :math:`(I - H_i)^{-1}` (module docstring)."""
    return sandwich(est.H, _adjusted_scores(problem, est, -1.0))


def kauermann_carroll(problem: Problem, est: Estimate) -> np.ndarray:
    """Kauermann-Carroll: residuals times the principal :math:`(I - H_i)^{-1/2}`
    (module docstring)."""
    return sandwich(est.H, _adjusted_scores(problem, est, -0.5))


def subject_information(problem: Problem, est: Estimate) -> np.ndarray:
    r"""(K, p, p): :math:`\Omega_i = \bar D_i^\top\bar D_i`, batched per pattern."""
    p = est.beta.size
    omega = np.zeros((problem.clusters.n_subjects, p, p))
    for b in whiten(problem, est.beta, problem.correlation(est.alpha)):
        omega[b.subjects] = np.einsum("nkp,nkq->npq", b.D, b.D)
    return omega


def fay_graubard_factors(problem: Problem, est: Estimate, bound: float = FG_BOUND) -> np.ndarray:
    r"""(K, p): the diagonals of :math:`B_i = \mathrm{diag}(1 - \min(b,
    [\Omega_iM^{-1}]_{jj}))^{-1/2}`."""
    lever = np.einsum("npq,qp->np", subject_information(problem, est), np.linalg.inv(est.H))
    return (1.0 - np.minimum(bound, lever)) ** -0.5


def fay_graubard(problem: Problem, est: Estimate) -> np.ndarray:
    """Fay-Graubard: :math:`U_i` scaled by :math:`B_i` (module docstring)."""
    return sandwich(est.H, fay_graubard_factors(problem, est) * est.U)


def mbn_covariance(information: np.ndarray, meat: np.ndarray, n_obs: int, n_subjects: int, k: int,
                   d: float = MBN_D, r: float = MBN_R) -> np.ndarray:
    r"""Morel-Bokossa-Neerchal as SAS GLIMMIX documents it ("Design-Adjusted MBN Estimator"):
    :math:`c\,\Omega M\Omega + \delta_m\phi\,\Omega` with :math:`\Omega` the inverse of
    ``information``, :math:`M` = ``meat`` :math:`=\sum_i U_iU_i^\top`, :math:`c = \frac{f-1}{f-k}
    \frac{m}{m-1}` (:math:`f` = ``n_obs``, :math:`m` = ``n_subjects``, :math:`k` the rank of
    :math:`X`), :math:`\delta_m = k/(m-k)` if :math:`m > (d+1)k` else :math:`1/d`, :math:`\phi =
    \max(r, \mathrm{tr}(\Omega M)/k^*)`, :math:`k^* = k` if :math:`m \ge k`, else the rank of
    :math:`\Omega M`."""
    bread = np.linalg.inv(information)
    m = n_subjects
    c = (n_obs - 1) / (n_obs - k) * m / (m - 1)
    delta = k / (m - k) if m > (d + 1) * k else 1 / d
    k_star = k if m >= k else int(np.linalg.matrix_rank(bread @ meat))
    phi = max(r, float(np.trace(bread @ meat)) / k_star)
    return bread @ (c * meat + delta * phi * information) @ bread


def morel_bokossa_neerchal(problem: Problem, est: Estimate) -> np.ndarray:
    r"""Morel-Bokossa-Neerchal: :math:`M^{-1}(c\sum U_iU_i^\top + \delta\xi M)M^{-1}`
    (module docstring; :func:`mbn_covariance` with :math:`k = p`)."""
    return mbn_covariance(est.H, est.U.T @ est.U, problem.y.size, problem.clusters.n_subjects, est.beta.size)


VARIANCES: dict[str, VarianceMethod] = {v.name: v for v in (
    VarianceMethod("robust", "empirical (sandwich)", "EMPIRICAL=CLASSICAL",
                   "geepack san.se; geesmv GEE.var.lz", robust),
    VarianceMethod("model", "model-based", "MODELSE", "geepack vbeta.naiv", model_based),
    VarianceMethod("md", "Mancl-DeRouen", "EMPIRICAL=FIRORES", "geesmv GEE.var.md", mancl_derouen),
    VarianceMethod("kc", "Kauermann-Carroll", "EMPIRICAL=ROOT", "geesmv GEE.var.kc (differs, see above)",
                   kauermann_carroll),
    VarianceMethod("fg", "Fay-Graubard", "EMPIRICAL=FIROEEQ(0.75)", "geesmv GEE.var.fg; saws d4/d5",
                   fay_graubard),
    VarianceMethod("mbn", "Morel-Bokossa-Neerchal", "EMPIRICAL=MBN", "geesmv GEE.var.mbn",
                   morel_bokossa_neerchal),
)}


def get_variance(name: str) -> VarianceMethod:
    """The registry entry of ``name`` (DataError listing the names otherwise)."""
    if name not in VARIANCES:
        raise DataError(f"vcov must be one of {', '.join(VARIANCES)}; got {name!r}")
    return VARIANCES[name]
