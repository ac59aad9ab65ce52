"""What kind of model a fit is: one object answers, consumers ask it.

:class:`ModelSpec` is built once from the parsed formula and the design
(:attr:`Model.spec <trialmlm.engine.model.Model.spec>`, :attr:`MMRMResults.spec`).  Code that
needs to know whether the model has random effects, a marginal covariance, a visit, groups
or only partition sums asks it instead of probing ``settings.random``, ``design.summary``
or ``isinstance(..., RandomEffects)``.  A new model family plugs in here: its kind, and
the answers that follow from it.

============  ========================================================  =================
kind          model                                                     formula
============  ========================================================  =================
marginal      :math:`V_i = \\Sigma` over the subject's visits             ``us(AVISIT | ID)``
random        :math:`V_i = Z_iGZ_i^\\top + \\sigma^2I`                      ``(1 + T | ID)``
both          :math:`V_i = Z_iGZ_i^\\top + R_i`, :math:`R_i` structured      both terms
linear        :math:`V = \\sigma^2I`, rows independent, no subject          neither
============  ========================================================  =================

``source`` is ``"rows"`` (the data in memory) or ``"sums"`` (per-pattern sums of
partitioned data, :mod:`trialmlm.engine.partitioned`: no per-row results).

:class:`FittedModel` is the protocol of a fit that :mod:`trialmlm.inference` and
:mod:`trialmlm.plots` use: the estimates, their covariances, the likelihood, the design,
the settings and the specification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..covariance import get_structure
from ..errors import DataError
from .clda import CldaTerm
from .formula import CovarianceTerm, ModelFormula, RandomTerm

if TYPE_CHECKING:
    from .design import Design
    from .likelihood import MarginalLikelihood

KINDS = ("marginal", "random", "both", "linear")
SOURCES = ("rows", "sums")


@dataclass(frozen=True)
class ModelSpec:
    """The kind of a model and where its data live (module docstring).

    ``covariance`` is the covariance term (a value: structure, positions, subject, group),
    ``random_terms`` the random-effect terms in formula order, ``subject`` the blocking
    factor (None for the linear model), ``outer`` the grouping factors above the subject,
    ``clda`` the constrained treatment term of a cLDA mean model (:mod:`.clda`; None otherwise).
    """

    kind: str
    source: str
    covariance: CovarianceTerm | None
    random_terms: tuple[RandomTerm, ...]
    subject: str | None
    outer: tuple[str, ...] = ()
    clda: CldaTerm | None = None

    @classmethod
    def of(cls, formula: ModelFormula, from_sums: bool = False) -> ModelSpec:
        """The specification of a parsed formula (with its subject chosen) on rows or sums."""
        if formula.linear:
            kind = "linear"
        elif formula.random_terms:
            kind = "both" if formula.covariance else "random"
        else:
            kind = "marginal"
        return cls(kind, "sums" if from_sums else "rows", formula.covariance, formula.random_terms,
                   formula.subject, tuple(t.subject for t in formula.outer), formula.clda)

    # -- kind --------------------------------------------------------------------------
    @property
    def linear(self) -> bool:
        """The linear model: no covariance or random-effect term, every row independent."""
        return self.kind == "linear"

    @property
    def random_effects(self) -> bool:
        """Random effects (of the subject or of outer factors): :math:`ZGZ^\\top` in V."""
        return self.kind in ("random", "both")

    @property
    def subject_random(self) -> bool:
        """The subject has random effects of its own (a G shared by the covariance groups)."""
        return any(t.subject == self.subject for t in self.random_terms)

    @property
    def subject_term(self) -> RandomTerm | None:
        """The random-effect term of the subject (``(1 + TIME | USUBJID)``); None without one."""
        return next((t for t in self.random_terms if t.subject == self.subject), None)

    @property
    def independent_residuals(self) -> bool:
        """Residuals independent given the subject's random effects, no other grouping factor
        and the rows in memory: :math:`V_i = Z_iGZ_i^\\top + \\sigma^2W_i^{-1}`, fitted from
        per-subject sums (:mod:`trialmlm.engine.independent_residuals`)."""
        return self.kind == "random" and not self.outer and not self.from_sums

    @property
    def marginal(self) -> bool:
        """The covariance structure is the marginal covariance of a subject's responses
        (no random effects, not the linear model)."""
        return self.kind == "marginal"

    @property
    def nested(self) -> bool:
        """Grouping factors above the subject (sites, raters)."""
        return bool(self.outer)

    # -- covariance term ---------------------------------------------------------------
    @property
    def structure(self) -> str | None:
        return self.covariance.structure if self.covariance else None

    @property
    def positions(self) -> tuple[str, ...]:
        """The covariance term's visit or coordinate columns (empty without one)."""
        return self.covariance.positions if self.covariance else ()

    @property
    def repeated(self) -> str | None:
        """The column that orders a subject's repeated measures: the visit, or a spatial
        structure's first coordinate; None without a covariance term."""
        return self.positions[0] if self.positions else None

    @property
    def spatial(self) -> bool:
        return self.covariance is not None and get_structure(self.covariance.structure).spatial

    @property
    def group(self) -> str | None:
        """The column whose levels have separate covariance matrices (SAS GROUP=)."""
        return self.covariance.group if self.covariance else None

    # -- data source -------------------------------------------------------------------
    @property
    def from_sums(self) -> bool:
        """A fit from partition sums: no rows, no per-row results."""
        return self.source == "sums"

    def require_rows(self, what: str) -> None:
        """DataError naming ``what`` for a fit from partition sums."""
        if self.from_sums:
            raise DataError(f"{what} needs the rows of the data, which a fit from partitions does not keep")


class FittedModel(Protocol):
    """The fit as :mod:`trialmlm.inference` and :mod:`trialmlm.plots` see it.

    ``beta`` (p,) and ``beta_cov`` (p, p) the fixed effects and their model-based
    covariance :math:`A^{-1}`; ``phi``, ``phi_cov`` the covariance parameters and
    :math:`2H^{-1}`; ``jac_info`` the derivatives of :math:`A^{-1}` in ``phi``
    (Satterthwaite, Kenward-Roger); ``likelihood`` the objective; ``design`` the encoded
    data; ``settings`` the audit trail; ``spec`` the kind of model; ``cached(key, make)``
    the fit's one store of derived matrices.
    """

    beta: np.ndarray
    beta_cov: np.ndarray
    phi: np.ndarray
    phi_cov: np.ndarray
    jac_info: np.ndarray
    design: Design
    likelihood: MarginalLikelihood
    settings: object  # trialmlm.engine.results.FitSettings

    @property
    def spec(self) -> ModelSpec: ...

    def cached(self, key, make): ...
