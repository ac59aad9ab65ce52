r"""The fitted covariance model in words: one description read by ``summary()``, the report
and the table footnotes.

A fit's marginal covariance is :math:`V = \sum_f Z_fG_fZ_f^\top + R`: one :math:`G_f` per
grouping factor with random effects (outer factors such as ``(1 | SITE)`` first, then the
subject's own term, in formula order) and the residual structure :math:`R` (a structure of
:data:`trialmlm.STRUCTURES` over the visits within the subject, one per level of ``GROUP``
if given; :math:`\sigma^2I` when the formula has no covariance term).  The linear model
(ANCOVA) is :math:`V = \sigma^2I` over rows.

:func:`describe_covariance` reads this from ``fit.settings`` (the formula's random-effect
terms, the visit, subject and group of the covariance term) and the residual structure of
``fit.structures``; :class:`CovarianceDescription` renders it as a sentence (``str``) and in
SAS's vocabulary (:meth:`CovarianceDescription.sas`, the "Covariance Structure" of PROC MIXED's
Model Information).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..covariance import CovarianceStructure
from ..covariance.random_effects import Independent


@dataclass(frozen=True)
class RandomPart:
    """The random effects of one grouping factor: ``term`` as written, e.g.
    ``(1 + WEEK | USUBJID)``, ``names`` its random terms (``Intercept``, ``WEEK``);
    ``diagonal`` for ``||`` (SAS ``TYPE=VC``), else unstructured (``TYPE=UN``); with one
    random term :math:`G` is one variance and the two coincide."""

    term: str
    factor: str
    names: tuple[str, ...]
    diagonal: bool

    def text(self) -> str:
        if len(self.names) == 1:
            return f"{self.term} with one variance"
        return f"{self.term} with {'diagonal G (VC)' if self.diagonal else 'unstructured G (UN)'}"

    def sas(self) -> str:
        return f"RANDOM ({' + '.join(self.names)} | {self.factor}): G {'VC' if self.diagonal else 'UN'}"


@dataclass(frozen=True)
class CovarianceDescription:
    """What :func:`describe_covariance` found; ``str()`` is the sentence.

    ``random``: one :class:`RandomPart` per grouping factor, in formula order;
    ``residual``: the residual structure (:class:`~trialmlm.covariance.random_effects.Independent`
    for :math:`\\sigma^2I`), None for the linear model; ``structure``, ``positions``,
    ``subject``, ``group``: as in ``fit.settings`` (``structure``, ``visit``, ``subject``, ``group``).
    """

    random: tuple[RandomPart, ...]
    residual: CovarianceStructure | None
    structure: str
    positions: tuple[str, ...]
    subject: str | None
    group: str | None

    @property
    def linear(self) -> bool:
        return self.residual is None

    def _residual_text(self) -> str:
        per_group = f", separate for each level of {self.group} (GROUP={self.group})" if self.group else ""
        if isinstance(self.residual, Independent):
            return f"independent with one variance within {self.subject}{per_group}"
        over = f" over {', '.join(self.positions)}" if self.positions else ""
        return (f"{self.residual.description} ({self.residual.sas_type}){over} "
                f"within {self.subject}{per_group}")

    def __str__(self) -> str:
        """One sentence, no final full stop: "Linear model (ANCOVA): ...", "Residual
        covariance: ..." or "Random effects (...) with ...; residual covariance: ..."."""
        if self.linear:
            return "Linear model (ANCOVA): independent residuals with one variance"
        if not self.random:
            return f"Residual covariance: {self._residual_text()}"
        parts = ", ".join(p.text() for p in self.random)
        return f"Random effects {parts}; residual covariance: {self._residual_text()}"

    def sas(self) -> str:
        """SAS's RANDOM and REPEATED statements in short, e.g. ``UN (us) / GROUP=ARM`` or
        ``RANDOM (Intercept | SITE): G UN; REPEATED: AR(1) (ar1)``."""
        if self.linear:
            return "Diagonal (independent rows, one variance: linear model)"
        grp = f" / GROUP={self.group}" if self.group else ""
        repeated = f"{self.residual.sas_type} ({self.structure}){grp}"
        if not self.random:
            return repeated
        return "; ".join([*(p.sas() for p in self.random), f"REPEATED: {repeated}"])


def _random_parts(fit) -> tuple[RandomPart, ...]:
    """One part per random-effect term of the formula, with the names of its random terms
    from the design (outer factors' levels, the subject's ``random_names``)."""
    d = fit.design
    names = {lv.factor: tuple(lv.names) for lv in d.outer}
    names[fit.settings.subject] = tuple(d.random_names)
    return tuple(RandomPart(str(t), t.subject, names[t.subject], t.diagonal)
                 for t in fit.model.formula.random_terms)


def describe_covariance(fit) -> CovarianceDescription:
    """The covariance model of ``fit`` (:class:`CovarianceDescription`): its random effects per
    grouping factor, its residual structure, visits, subject and ``GROUP``."""
    s = fit.settings
    if fit.spec.linear:
        return CovarianceDescription((), None, s.structure, (), None, None)
    return CovarianceDescription(_random_parts(fit), fit.structures[0].residual, s.structure, tuple(s.visit),
                                 s.subject, s.group)


def describe_estimation(fit, optimizer: bool = False) -> str:
    r"""How ``fit`` was estimated, in words: one text read by ``summary()``, the report and the
    table footnotes.

    The linear model (ANCOVA, no covariance or random-effect term) is ordinary least squares:
    REML gives :math:`\hat\beta = (X^\top X)^-X^\top y` and
    :math:`\hat\sigma^2 = RSS/(n - \mathrm{rank}\,X)`, exactly OLS ("ordinary least squares
    (OLS; REML and OLS coincide for the linear model)"); ML gives the same :math:`\hat\beta`
    and :math:`\hat\sigma^2 = RSS/n`.  No iterations are worth reporting there.  Any other
    model: the method, and with ``optimizer`` the optimizer and its convergence
    ("REML, newton-raphson, converged after 5 iterations").
    """
    s = fit.settings
    if s.linear:
        if s.method == "REML":
            return "ordinary least squares (OLS; REML and OLS coincide for the linear model)"
        return "maximum likelihood (ML): OLS fixed effects, residual variance RSS/n"
    if not optimizer:
        return s.method
    state = "converged" if fit.converged else "NOT converged"
    return f"{s.method}, {fit.optimizer}, {state} after {fit.n_iter} iterations"


__all__ = ["CovarianceDescription", "RandomPart", "describe_covariance", "describe_estimation"]
