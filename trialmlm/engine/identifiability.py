"""Checks that the covariance structure can be estimated from the data at hand.

Raised before any optimisation, with the group, visit or pair named, so that an
impossible model fails with an explanation instead of a singular matrix.
"""

from __future__ import annotations

import numpy as np

from ..covariance import CovarianceStructure
from ..errors import DataError, FormulaError
from .design import Design
from .formula import CovarianceTerm
from .specification import ModelSpec

# Residual structures that already contain a between-subject (constant) covariance, so
# that adding random effects makes the model non-identifiable.
CONFOUNDED_WITH_RANDOM = ("us", "cs", "csh", "toep", "toeph")


def check_combination(spec: ModelSpec, structure: type[CovarianceStructure]) -> None:
    """Raise FormulaError for random effects combined with a residual structure that
    already spans them (e.g. a random intercept with ``us`` or ``cs``), and for random
    effects of other grouping factors than the subject with a per-group residual matrix."""
    if spec.nested and spec.group:
        outer = " + ".join(str(t) for t in spec.random_terms if t.subject in spec.outer)
        raise FormulaError(
            f"random effects {outer} of other grouping factors than the subject '{spec.subject}' with a "
            f"per-group residual matrix ({spec.covariance}) are not supported; use one residual matrix "
            "for all subjects"
        )
    if spec.subject_random and structure.name in CONFOUNDED_WITH_RANDOM:
        raise FormulaError(
            f"random effects {spec.subject_term} together with {structure.name}(...) residuals cannot be "
            f"identified: {structure.name} already contains a covariance common to all visits. Use a "
            "residual structure without one (ar1, ar1h, ad, adh, sp_exp, sp_pow, sp_gau, sp_sph) or drop "
            "the random effects"
        )


def check_estimable(design: Design, structure: type[CovarianceStructure], term: CovarianceTerm | None,
                    n_params: int) -> None:
    """Raise DataError where ``structure`` cannot be estimated from ``design``.

    * fewer distinct visits (or coordinate points) than the structure needs;
    * heterogeneous structures: a visit without data in some group;
    * ``us``: a pair of visits never observed together in some group, or a group with
      no more subjects than visits (the residual cross-products are then singular);
    * more covariance and fixed-effect parameters than observations.
    """
    labels = design.position_labels
    if design.n_obs - design.n_fixed <= n_params:
        raise DataError(
            f"the model has {n_params} covariance parameters and {design.n_fixed} fixed effects "
            f"but only {design.n_obs} observations"
        )
    if term is None:
        return
    where = ", ".join(term.positions)
    if len(labels) < structure.min_positions:
        raise DataError(
            f"{term.structure} needs at least {structure.min_positions} distinct values of '{where}' "
            f"with data; found {len(labels)} ({', '.join(map(str, labels))})"
        )
    if structure.spatial:
        return
    n_pos = len(labels)
    co_observed, subjects = design.co_observation()
    for g, glabel in enumerate(design.group_labels):
        gname = f" in group {term.group}={glabel!r}" if term.group else ""
        together = co_observed[g]
        if structure.heterogeneous:
            empty = np.flatnonzero(np.diag(together) == 0)
            if empty.size:
                raise DataError(f"visit {labels[empty[0]]!r} of '{where}' has no observation{gname}; "
                                f"its variance under {term.structure} cannot be estimated")
        if structure.name == "us":
            n_g = int(subjects[g])
            if n_g <= n_pos:
                raise DataError(
                    f"us over {n_pos} visits needs more than {n_pos} subjects{gname or ''}; "
                    f"there are {n_g} (use a structured covariance such as toeph or ar1h)"
                )
            a, b = np.nonzero(together == 0)
            if a.size:
                raise DataError(
                    f"visits {labels[a[0]]!r} and {labels[b[0]]!r} of '{where}' are never observed in the "
                    f"same subject{gname}; their covariance under us cannot be estimated"
                )


def check_levels(design: Design, spec: ModelSpec, structure: type[CovarianceStructure]) -> None:
    r"""Raise DataError for random effects that cannot be told apart: the subject's, when
    every subject has one row (its :math:`ZGZ^\top + \sigma^2` is one number per subject);
    an outer grouping factor's, with one level only, or one subject per level (and one level
    per subject) while the subject has random effects or a residual structure with a common
    covariance."""
    if spec.subject_random and np.bincount(design.subject).max() == 1:
        raise DataError(f"every subject ('{spec.subject}') has a single row in the data used, so the "
                        f"random effects {spec.subject_term} cannot be told apart from the residual "
                        "variance; drop the random-effect term or use data with repeated rows")
    confounded = spec.subject_random or structure.name in CONFOUNDED_WITH_RANDOM
    for level in design.outer:
        if level.labels.size < 2:
            raise DataError(f"grouping factor '{level.factor}' has a single level ({level.labels[0]!r}) "
                            "in the data used; its variance cannot be estimated")
        pairs = np.unique(design.subject * level.labels.size + level.codes)
        one_to_one = pairs.size == level.labels.size == design.subject_labels.size
        if one_to_one and confounded:
            raise DataError(
                f"every level of '{level.factor}' holds exactly one subject ('{spec.subject}'), so its "
                f"random effects cannot be told apart from the subject's; drop ({level.factor} ...) or "
                "the subject's random effects"
            )
