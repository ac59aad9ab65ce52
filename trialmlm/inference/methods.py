r"""The registry of inference methods: denominator df (``ddf``) and covariance of
:math:`\hat\beta` (``vcov``), and the one place that decides which go together.

Each :class:`DdfMethod` holds its name, the label tables print, its SAS ``DDFM=`` and R
mmrm ``method`` names, the covariances it goes with, whether it is available with outer
grouping factors (sites) and its df function (:mod:`.ddf`); Kenward-Roger also brings its
own adjusted covariance (:func:`.cache.kenward_roger`).  Each :class:`VcovMethod` holds
its name, label, SAS option and mmrm ``vcov`` name (formulas in :mod:`.vcov`).

:func:`resolve` turns the ``ddf``/``vcov`` of a call (None: the fit's) into the pair used,
or raises the one :class:`~trialmlm.errors.DataError` of a refused combination;
:func:`trialmlm.fit`, every result method and the table footnotes go through it.

Defaults (SAS): Satterthwaite with the model-based covariance; with a sandwich,
between-within (SAS's default without RANDOM effects) or, with outer grouping factors,
containment (SAS's default with RANDOM effects); residual for the linear model (SAS's
default without RANDOM and REPEATED statements).  A call that asks for a sandwich on a
model-based fit whose df come from the covariance parameters (Satterthwaite,
Kenward-Roger) gets the sandwich default; ``ddf="satterthwaite"`` asks for Bell &
McCaffrey's sandwich df.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..engine.threads import blas_threads
from ..errors import DataError
from . import cache
from .ddf import DF, between_within_df, containment_df, kenward_roger_df, residual_df, satterthwaite_df


@dataclass(frozen=True)
class VcovMethod:
    """A covariance of :math:`\\hat\\beta`: ``sas`` is its PROC MIXED option ("" for SAS's
    default, None when SAS has none), ``mmrm`` R mmrm's ``vcov`` name."""

    name: str
    label: str
    sas: str | None
    mmrm: str

    @property
    def sandwich(self) -> bool:
        return self.name != "model"


@dataclass(frozen=True)
class DdfMethod:
    """A denominator df method.

    ``sas`` is its ``DDFM=`` value, ``mmrm`` R mmrm's ``method`` (None when mmrm has no
    equivalent), ``df(fit, L, joint, vcov) -> DF`` its function, ``sandwich_label`` the
    label with a sandwich covariance when it differs.  ``model_only`` is empty when the
    method goes with every ``vcov``, else why it needs the model-based covariance;
    ``one_level`` is empty when it is available with outer grouping factors, else why not.
    ``from_covariance``: the df come from the covariance parameters' information (a call
    switching to a sandwich on a model-based fit then gets the sandwich default);
    ``covariance(fit)``: the method's own covariance of :math:`\\hat\\beta` (Kenward-Roger's
    adjusted one), None for the one named by ``vcov``.
    """

    name: str
    label: str
    sas: str
    mmrm: str | None
    df: Callable[..., DF]
    sandwich_label: str = ""
    model_only: str = ""
    one_level: str = ""
    from_covariance: bool = False
    covariance: Callable[..., np.ndarray] | None = None

    @property
    def vcovs(self) -> tuple[str, ...]:
        """The covariances of :math:`\\hat\\beta` it goes with."""
        return ("model",) if self.model_only else tuple(VCOV)

    @property
    def outer(self) -> bool:
        """Whether it is available with outer grouping factors."""
        return not self.one_level


VCOV: dict[str, VcovMethod] = {m.name: m for m in (
    VcovMethod("model", "model-based", "", "Asymptotic"),
    VcovMethod("empirical", "sandwich (empirical)", "EMPIRICAL", "Empirical"),
    VcovMethod("empirical-bias-reduced", "sandwich (empirical-bias-reduced)", None, "Empirical-Bias-Reduced"),
    VcovMethod("empirical-jackknife", "sandwich (empirical-jackknife)", None, "Empirical-Jackknife"),
)}

_KR_MODEL_ONLY = "adjusts the model-based covariance"

DDF: dict[str, DdfMethod] = {m.name: m for m in (
    DdfMethod("satterthwaite", "Satterthwaite", "SATTERTHWAITE", "Satterthwaite", satterthwaite_df,
              sandwich_label="Satterthwaite for the sandwich (Bell & McCaffrey)", from_covariance=True),
    DdfMethod("kenward-roger", "Kenward-Roger", "KR", None, kenward_roger_df, model_only=_KR_MODEL_ONLY,
              from_covariance=True, covariance=partial(cache.kenward_roger, linear=False)),
    DdfMethod("kenward-roger-linear", "Kenward-Roger (linear)", "KR(LINEAR)", "Kenward-Roger-Linear",
              kenward_roger_df, model_only=_KR_MODEL_ONLY, from_covariance=True,
              covariance=partial(cache.kenward_roger, linear=True)),
    DdfMethod("between-within", "between-within", "BETWITHIN", "Between-Within", between_within_df,
              one_level="SAS defines them for one level of subjects"),
    DdfMethod("residual", "residual", "RESIDUAL", "Residual", residual_df),
    DdfMethod("containment", "containment", "CONTAIN", None, containment_df),
)}

DDF_METHODS = tuple(DDF)
VCOV_METHODS = tuple(VCOV)


def _quoted(names) -> str:
    names = [repr(n) for n in names]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def ddf_method(name: str) -> DdfMethod:
    """The registry entry of ``name`` (DataError listing the names otherwise)."""
    if name not in DDF:
        raise DataError(f"ddf must be one of {', '.join(DDF)}; got {name!r}")
    return DDF[name]


def vcov_method(name: str) -> VcovMethod:
    """The registry entry of ``name`` (DataError listing the names otherwise)."""
    if name not in VCOV:
        raise DataError(f"vcov must be one of {', '.join(VCOV)}; got {name!r}")
    return VCOV[name]


@dataclass(frozen=True)
class Scope:
    """What the choice of methods depends on besides the names asked for: the outer
    grouping factors (``crossed`` when they leave the whole data one block of V), the
    linear model, and the fit's own ``ddf``/``vcov`` (None before estimation)."""

    outer: tuple[str, ...] = ()
    crossed: bool = False
    linear: bool = False
    ddf: str | None = None
    vcov: str = "model"

    @classmethod
    def of(cls, design, likelihood, linear: bool, ddf: str | None = None, vcov: str = "model") -> Scope:
        outer = tuple(level.factor for level in design.outer)
        return cls(outer, bool(outer) and likelihood.n_clusters == 1, linear, ddf, vcov)

    def default_ddf(self, vcov: str) -> str:
        """SAS's default df for ``vcov`` (module docstring)."""
        if self.linear:
            return "residual"
        if not VCOV[vcov].sandwich:
            return "satterthwaite"
        return "containment" if self.outer else "between-within"

    def resolve(self, ddf: str | None, vcov: str | None) -> tuple[str, str]:
        """The ``(ddf, vcov)`` used for the ``ddf``/``vcov`` asked for (module docstring)."""
        vcov = vcov_method(vcov or self.vcov).name
        if ddf is None:
            ddf = self.ddf
            if ddf is None or (VCOV[vcov].sandwich and not VCOV[self.vcov].sandwich
                               and DDF[ddf].from_covariance):
                ddf = self.default_ddf(vcov)
        method = ddf_method(ddf)
        if vcov not in method.vcovs:
            with_sandwich = [m.name for m in DDF.values() if vcov in m.vcovs]
            raise DataError(f"ddf={ddf!r} {method.model_only}; it cannot be combined with vcov={vcov!r} "
                            f"(as in SAS, where DDFM={method.sas} and EMPIRICAL exclude each other); "
                            f"use ddf={_quoted(with_sandwich)} with a sandwich")
        if self.outer:
            self._check_outer(method, vcov)
        return ddf, vcov

    def _check_outer(self, method: DdfMethod, vcov: str) -> None:
        factors = ", ".join(self.outer)
        if self.crossed and VCOV[vcov].sandwich:
            raise DataError(f"vcov='{vcov}' needs independent clusters, but {factors} crossed with the "
                            "subjects make the whole data one block of V; use vcov='model'")
        if not method.outer:
            available = [m.name for m in DDF.values() if m.outer and vcov in m.vcovs]
            raise DataError(f"{method.name} df are not available for models with the outer grouping "
                            f"factor(s) {factors} ({method.one_level}); use ddf={_quoted(available)}")


def resolve(fit, ddf: str | None = None, vcov: str | None = None) -> tuple[str, str]:
    """The ``(ddf, vcov)`` a result method of ``fit`` uses when called with ``ddf``/``vcov``
    (None: the fit's; see the module docstring); DataError for a refused combination."""
    s = fit.settings
    return Scope.of(fit.design, fit.likelihood, s.linear, s.ddf, s.vcov).resolve(ddf, vcov)


def labels(fit, ddf: str | None = None, vcov: str | None = None) -> tuple[str, str]:
    """Labels of the df method and covariance ``fit`` uses for ``ddf``/``vcov`` (footnotes)."""
    ddf, vcov = resolve(fit, ddf, vcov)
    method = DDF[ddf]
    sandwich = VCOV[vcov].sandwich and method.sandwich_label
    return (method.sandwich_label if sandwich else method.label), VCOV[vcov].label


def beta_covariance(fit, ddf: str, vcov: str) -> np.ndarray:
    """The covariance of :math:`\\hat\\beta` that goes with a resolved ``ddf`` and ``vcov``:
    Kenward-Roger's adjusted one, else the one named by ``vcov`` (cached per fit)."""
    own = DDF[ddf].covariance
    with blas_threads():  # Kenward-Roger and the sandwich, cluster by cluster: one BLAS thread
        return own(fit) if own is not None else cache.covariance(fit, vcov)


def degrees_of_freedom(fit, L: np.ndarray, ddf: str, joint: bool = True, vcov: str = "model") -> DF:
    """Degrees of freedom of each row of ``L`` by the method ``ddf`` and, with ``joint``, of
    the joint test of all rows (:mod:`.ddf`); without ``joint`` the rows may be linearly
    dependent.  ``vcov`` matters for Satterthwaite only."""
    with blas_threads():  # the sandwich's df terms, cluster by cluster; ranks: one BLAS thread
        return DDF[ddf].df(fit, np.atleast_2d(L), joint, vcov)
