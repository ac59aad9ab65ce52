"""Split a model formula into its response, mean model and covariance term.

``"FEV1 ~ RACE + ARMCD * AVISIT + us(AVISIT | USUBJID)"`` becomes response ``FEV1``,
fixed part ``RACE + ARMCD * AVISIT`` (Wilkinson syntax, encoded by formulaic) and the
covariance term ``us`` over visits ``AVISIT`` within subjects ``USUBJID``.  The term
``STRUCT(VISIT | GROUP / SUBJECT)`` asks for a separate matrix per level of ``GROUP``
(SAS ``REPEATED / GROUP=``); spatial structures take numeric coordinates,
``sp_exp(TIME | USUBJID)`` or ``sp_exp(X, Y | USUBJID)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .covariance import STRUCTURES, get_structure
from .errors import FormulaError

_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"
_CALL = re.compile(rf"^\s*({_NAME})\s*\((.*)\)\s*$", re.S)


@dataclass(frozen=True)
class CovarianceTerm:
    """``structure(positions | group / subject)``."""

    structure: str
    positions: tuple[str, ...]
    subject: str
    group: str | None = None

    def __str__(self) -> str:
        grp = f"{self.group} / " if self.group else ""
        return f"{self.structure}({', '.join(self.positions)} | {grp}{self.subject})"


@dataclass(frozen=True)
class ModelFormula:
    """A parsed formula: ``response ~ fixed + covariance``."""

    text: str
    response: str
    fixed: str
    covariance: CovarianceTerm


def _split_top_level(text: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced ')' in formula part '{text}'")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise FormulaError(f"unbalanced '(' in formula part '{text}'")
    parts.append(text[start:])
    return parts


def _identifier(name: str, what: str, term: str) -> str:
    name = name.strip()
    if not re.fullmatch(_NAME, name):
        raise FormulaError(f"{what} in covariance term '{term.strip()}' must be a column name, got '{name}'")
    return name


def _covariance_term(name: str, args: str, term: str) -> CovarianceTerm:
    cls = get_structure(name)
    inside = _split_top_level(args, "|")
    if len(inside) != 2:
        raise FormulaError(f"covariance term '{term.strip()}' must look like {name}(VISIT | SUBJECT)")
    left, right = inside
    positions = tuple(_identifier(p, "a visit/coordinate", term) for p in left.split(","))
    if not cls.spatial and len(positions) != 1:
        raise FormulaError(
            f"'{name}' takes one visit variable, got {len(positions)} in '{term.strip()}'; "
            "only spatial structures (sp_exp) take several coordinates"
        )
    levels = right.split("/")
    if len(levels) > 2:
        raise FormulaError(f"covariance term '{term.strip()}': use {name}(VISIT | GROUP / SUBJECT)")
    subject = _identifier(levels[-1], "the subject", term)
    group = _identifier(levels[0], "the group", term) if len(levels) == 2 else None
    return CovarianceTerm(name, positions, subject, group)


def parse_formula(formula: str) -> ModelFormula:
    """Parse ``response ~ fixed terms + STRUCT(VISIT | [GROUP /] SUBJECT)``.

    Raises
    ------
    FormulaError
        No ``~``, a response that is not a column name, no or several covariance
        terms, an unknown structure, or a random-effect term.
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"formula must be a string 'response ~ terms', got {formula!r}")
    lhs, rhs = formula.split("~", 1)
    response = lhs.strip()
    if not re.fullmatch(_NAME, response):
        raise FormulaError(f"the response '{response}' must be a single column name")
    fixed, covariance = [], []
    for term in _split_top_level(rhs, "+"):
        call = _CALL.match(term)
        has_bar = "|" in term
        if call and (has_bar or call.group(1) in STRUCTURES) and call.group(1) not in ("C", "I", "Q"):
            covariance.append(_covariance_term(call.group(1), call.group(2), term))
        elif has_bar:
            raise FormulaError(
                f"term '{term.strip()}' is not a covariance term; write one of "
                f"{', '.join(STRUCTURES)} as e.g. us(AVISIT | USUBJID) "
                "(random-effect terms '(1 | SUBJECT)' are not available in MMRM formulas)"
            )
        else:
            fixed.append(term.strip())
    if not covariance:
        raise FormulaError(
            f"formula '{formula}' has no covariance term; add one such as us(AVISIT | USUBJID)"
        )
    if len(covariance) > 1:
        raise FormulaError(f"formula '{formula}' has {len(covariance)} covariance terms; give exactly one")
    fixed_text = " + ".join(t for t in fixed if t) or "1"
    return ModelFormula(formula, response, fixed_text, covariance[0])
