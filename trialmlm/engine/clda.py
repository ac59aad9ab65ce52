r"""Constrained longitudinal data analysis (cLDA): the mean-model term ``clda(ARM, VISIT)``.

cLDA (Liang and Zeger 2000; Liu, Lu, Mogg, Mallick and Mehrotra 2009; Lu 2010) analyses
the baseline as one of the repeated measurements of the response (AVAL at baseline and at
every post-baseline visit, not the change) and constrains the arms to a common baseline
mean, as randomisation makes them equal.  With visits :math:`j = 0, 1, \dots, T` (0 the
baseline) and arms :math:`a` (the first level the reference),

.. math::

    E[Y_{ij}] = \mu_j + x_i^\top\beta
        + \sum_{k>0}\sum_{a \ne \mathrm{ref}} \tau_{a,k}\,1(\mathrm{arm}_i = a,\ j = k),

and the residuals of a subject's visits, the baseline included, have any covariance
structure (``us`` and the others, per ``GROUP`` if asked).  The treatment enters only
after baseline: there is no arm main effect and no arm-by-visit effect at baseline.

In a formula, ``AVAL ~ clda(TRT01P, AVISIT) + us(AVISIT | USUBJID)``: the term stands for
the visit effects :math:`\mu_j` (the parser adds the term ``AVISIT``) and the columns
``TRT01P[T.a]:AVISIT[k]``, one per non-reference arm :math:`a` and post-baseline visit
:math:`k`, holding :math:`1(\mathrm{arm} = a,\ \mathrm{visit} = k)`
(:func:`clda`, evaluated by formulaic from the :data:`TRANSFORMS` context).  This is R's
``model.matrix(~ AVISIT * ARM)`` with the arm's main effect and its baseline interaction
columns dropped (mmrm issues #183, #448, #551) and SAS's ``MODEL AVAL = AVISIT
AVISIT*TRT`` with the treatment set to the reference at baseline.  The baseline is the
first level of the visit factor, or the level named by ``clda(ARM, VISIT,
baseline="Baseline")``.  The reference arm is a choice of parameterisation only: the model
(each arm its own mean after baseline, one mean at baseline) is the same for any.

Because the columns are zero at baseline for every arm, the LS-means grid gives every arm
the same baseline mean, and the LS mean of arm *a* at visit *k* minus the baseline LS mean
is the change from baseline (:mod:`trialmlm.inference.change`).  Type 3 tests of a cLDA
model are the joint tests (:func:`trialmlm.inference.anova.term_hypotheses`).

**cLDA and the ANCOVA-type MMRM.**  *Theorem.*  If every subject's baseline is observed
(post-baseline values may be missing) and :math:`\Sigma` is unstructured (``us``, no
``GROUP``), the ML estimate of :math:`\tau_{a,k}` in cLDA equals the treatment difference at
visit :math:`k` of the ML fit of the MMRM of the post-baseline visits with visit-specific
baseline slopes, ``CHG ~ BASE * AVISIT + ARM * AVISIT + us(AVISIT | USUBJID)`` (AVAL for CHG
gives the same differences).  *Proof.*  Write :math:`y_0` for the baseline and :math:`y_p`
for the post-baseline visits.  The cLDA density factors into :math:`y_0 \sim N(\mu_0,
\sigma_{00})` and :math:`y_p \mid y_0 \sim N(\alpha_a + B y_0, \Sigma_{p\mid 0})` with
:math:`B = \Sigma_{p0}/\sigma_{00}`, :math:`\alpha_a = \mu_{a,p} - B\mu_0` and
:math:`\Sigma_{p\mid 0} = \Sigma_{pp} - \Sigma_{p0}\Sigma_{0p}/\sigma_{00}`; a subject's
observed post-baseline values given :math:`y_0` are the corresponding sub-vector of this
conditional model.  The map from :math:`(\mu, \tau, \Sigma)` to :math:`(\mu_0, \sigma_{00})`
and :math:`(\alpha, B, \Sigma_{p\mid 0})` is one-to-one onto variation-independent sets (this
needs ``us``: a free :math:`B` and an unstructured :math:`\Sigma_{p\mid 0}`), so the
likelihood is the product of the baseline's and the conditional model's, the ML estimates of
:math:`(\alpha, B, \Sigma_{p\mid 0})` are those of the ANCOVA MMRM above, and
:math:`\hat\tau_{a,k} = \hat\alpha_{a,k} - \hat\alpha_{\mathrm{ref},k}` (Liu et al. 2009,
Lu 2010).  Subjects with a baseline only inform :math:`\mu_0` and :math:`\sigma_{00}`, not
:math:`\hat\tau` (under these conditions).  What else holds, on the depression sample trial
(tests/test_clda.py): by REML the estimates are equal too when the data are complete
(:math:`< 10^{-13}`; not proven here), but with missing post-baseline values they differ in
the 5th decimal (:math:`1.2\times10^{-5}`).  What does not hold: (1) with a subject's baseline
missing, cLDA uses its post-baseline values and the ANCOVA drops the subject (differences up
to 0.38 HAMD-17 points with every 7th baseline removed); (2) with another structure the
estimates differ (toeph: up to 0.13 with complete data); (3) an ANCOVA with one baseline
slope for all visits, ``CHG ~ BASE + ARM * AVISIT``, differs (up to 0.05) unless the
:math:`B_k` are equal; (4) the model-based SEs differ: cLDA's :math:`(X^\top V^{-1}X)^{-1}`
holds :math:`B` fixed as part of :math:`\Sigma`, the ANCOVA estimates it as a fixed effect
(its SEs are 0.4 to 0.7 % larger there).

References: Liang K-Y, Zeger SL (2000), Longitudinal data analysis of continuous and
discrete responses for pre-post designs, Sankhya B 62, 134-148.  Liu GF, Lu K, Mogg R,
Mallick M, Mehrotra DV (2009), Should baseline be a covariate or dependent variable in
analyses of change from baseline in clinical trials?  Stat Med 28, 2509-2530.  Lu K (2010),
On efficiency of constrained longitudinal data analysis versus longitudinal analysis of
covariance, Biometrics 66, 891-896.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic.materializers import FactorValues

from ..errors import DataError, FormulaError

CLDA = "clda"  # the name of the term in a formula
_COLUMN = r"[A-Za-z_.][A-Za-z0-9_.]*|`[^`]+`"


@dataclass(frozen=True)
class CldaTerm:
    """``clda(arm, visit[, baseline=...])``: the arm and visit columns and the baseline visit
    (None: the first level of the visit factor)."""

    arm: str
    visit: str
    baseline: object = None

    def __str__(self) -> str:
        extra = "" if self.baseline is None else f", baseline={self.baseline!r}"
        return f"{CLDA}({self.arm}, {self.visit}{extra})"

    def baseline_level(self, visit_levels: list) -> object:
        """The baseline visit among ``visit_levels`` (the fitted levels in visit order)."""
        if self.baseline is None:
            return visit_levels[0]
        if self.baseline not in visit_levels:
            raise DataError(f"{self}: baseline {self.baseline!r} is not a level of '{self.visit}' "
                            f"(levels: {', '.join(map(str, visit_levels))})")
        return self.baseline


def _unquoted(name: str) -> str:
    return name[1:-1] if name.startswith("`") else name


def parse_term(text: str, arguments: list[str]) -> CldaTerm:
    """The :class:`CldaTerm` of the formula term ``text`` with the top-level ``arguments``
    (``ARM``, ``VISIT`` and optionally ``baseline=<literal>``); FormulaError otherwise."""
    usage = f"write {CLDA}(ARM, VISIT) or {CLDA}(ARM, VISIT, baseline=\"Baseline\")"
    args = [a.strip() for a in arguments]
    if len(args) not in (2, 3) or not all(re.fullmatch(_COLUMN, a) for a in args[:2]):
        raise FormulaError(f"term '{text.strip()}': {usage}")
    baseline = None
    if len(args) == 3:
        key, _, value = args[2].partition("=")
        try:
            baseline = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            baseline = None
        if key.strip() != "baseline" or baseline is None:
            raise FormulaError(f"term '{text.strip()}': {usage} (a quoted visit label)")
    return CldaTerm(_unquoted(args[0]), _unquoted(args[1]), baseline)


def check_other_terms(term: CldaTerm, fixed_terms: list[str]) -> None:
    """FormulaError if another mean-model term uses the arm: an arm main effect or arm-by-visit
    interaction would free the baseline means that cLDA constrains to be equal."""
    pattern = re.compile(rf"(?<![\w.`]){re.escape(term.arm)}(?![\w.`])|`{re.escape(term.arm)}`")
    for text in fixed_terms:
        if not text.startswith(f"{CLDA}(") and pattern.search(text):
            raise FormulaError(
                f"the mean-model term '{text}' uses the arm '{term.arm}' of {term}; cLDA has no arm effect "
                f"at baseline, the term {term} holds every arm effect (drop '{text}')")


def _factor_codes(values: pd.Series, role: str) -> tuple[np.ndarray, list]:
    if not isinstance(values.dtype, pd.CategoricalDtype):
        raise DataError(f"{CLDA}(): the {role} '{values.name}' must be a factor (a text or categorical "
                        f"column), it has dtype {values.dtype}")
    return np.asarray(values.cat.codes), list(values.cat.categories)


def clda(arm: pd.Series, visit: pd.Series, baseline=None) -> FactorValues:
    r"""The treatment-by-visit columns of cLDA: for each non-reference level *a* of ``arm``
    (the reference is the first level) and each level *k* of ``visit`` other than the
    baseline (``baseline``, default the first level), the column ``ARM[T.a]:VISIT[k]``
    :math:`= 1(\mathrm{arm} = a,\ \mathrm{visit} = k)`.  Levels are the factors' categories
    (the fitted levels, also on an LS-means grid), so the columns are the same on any rows.

    Raises
    ------
    DataError
        A numeric arm or visit column, an arm with one level, a ``baseline`` that is not a
        level of the visit.
    """
    a_codes, arms = _factor_codes(arm, "arm")
    v_codes, visits = _factor_codes(visit, "visit")
    term = CldaTerm(str(arm.name), str(visit.name), baseline)
    base = visits.index(term.baseline_level(visits))
    if len(arms) < 2:
        raise DataError(f"{term}: the arm '{arm.name}' has one level ({arms[0]!r}); cLDA compares arms")
    columns = {f"{arm.name}[T.{a}]:{visit.name}[{k}]": ((a_codes == i) & (v_codes == j)).astype(float)
               for i, a in enumerate(arms) if i > 0
               for j, k in enumerate(visits) if j != base}
    return FactorValues(columns, kind="numerical", spans_intercept=False, format="{field}", encoded=False)


def constrained(encoding) -> bool:
    """Whether the mean-model encoding (:class:`trialmlm.engine.design.FixedEncoding`) has a
    ``clda`` term."""
    return any(str(f.expr).startswith(f"{CLDA}(") for term in encoding.spec.term_slices for f in term.factors)


#: The evaluation context of the mean model's formulaic specs (``context=`` of ``model_matrix``).
TRANSFORMS = {CLDA: clda}
