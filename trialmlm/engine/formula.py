r"""Split a model formula into its response, mean model and covariance term.

``"FEV1 ~ RACE + ARMCD * AVISIT + us(AVISIT | USUBJID)"`` becomes response ``FEV1``,
fixed part ``RACE + ARMCD * AVISIT`` (Wilkinson syntax, encoded by formulaic) and the
covariance term ``us`` over visits ``AVISIT`` within subjects ``USUBJID``.  A column name
with spaces, dots or other characters is written in backticks anywhere in the formula:
```` `CHG w24` ~ `BASE.LINE` + TRT * `Visit No` + us(`Visit No` | `Subject ID`) ````.  The term
``STRUCT(VISIT | GROUP / SUBJECT)`` asks for a separate matrix per level of ``GROUP``
(SAS ``REPEATED / GROUP=``); spatial structures take numeric coordinates,
``sp_exp(TIME | USUBJID)`` or ``sp_exp(X, Y | USUBJID)``.

Random-effect terms ``(EXPR | FACTOR)`` may name several grouping factors, one term per
factor: ``(1 | SITE) + (1 + WEEK | USUBJID)``.  One of them is the *subject*, the
blocking factor of the residual covariance: the covariance term's subject if there is
one, else the factor with the most levels in the data (:meth:`ModelFormula.with_subject`,
chosen by :func:`trialmlm.engine.model.build_model`).  The others (``outer``) may be nested
(sites) or crossed with it.

A formula with neither kind of term, ``"CHG ~ TRTP + SITEGR1 + BASE"``, is the ordinary
linear model (ANCOVA): rows are independent with one variance :math:`\sigma^2` and there
is no subject (:attr:`ModelFormula.linear`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..covariance import STRUCTURES, get_structure
from ..errors import FormulaError
from .clda import CLDA, CldaTerm, check_other_terms, parse_term

_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*|`[^`]+`"  # a column name; any name in backticks, `CHG w24`
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

    @property
    def spatial(self) -> bool:
        """Whether the structure is spatial (its positions are numeric coordinates)."""
        return get_structure(self.structure).spatial

    @property
    def visit(self) -> str | None:
        """The visit column of a visit-indexed structure (None for a spatial one)."""
        return None if self.spatial else self.positions[0]

    @property
    def coordinates(self) -> tuple[str, ...]:
        """The coordinate columns of a spatial structure (empty for a visit-indexed one)."""
        return self.positions if self.spatial else ()

    def with_structure(self, name: str) -> CovarianceTerm:
        """The same term (visit, subject, group) with the structure ``name``; FormulaError for
        an unknown name or a visit-indexed structure over several coordinates."""
        _check_positions(name, self.positions, str(self))
        return replace(self, structure=name)


@dataclass(frozen=True)
class RandomTerm:
    """``(EXPR | SUBJECT)`` (unstructured G) or ``(EXPR || SUBJECT)`` (diagonal G);
    ``subject`` is the term's grouping factor."""

    expr: str
    subject: str
    diagonal: bool = False

    def __str__(self) -> str:
        return f"({self.expr} {'||' if self.diagonal else '|'} {self.subject})"


@dataclass(frozen=True)
class ModelFormula:
    """A parsed formula: ``response ~ fixed [+ random terms] [+ covariance]``.

    ``random_terms`` are all random-effect terms in formula order; ``innermost`` is the
    subject factor when there is no covariance term.  ``random`` is the subject's own
    term (None if it has none), ``outer`` the terms of the other grouping factors.
    ``subject`` is None for the linear model (no term of either kind).  ``clda`` is the
    constrained treatment term ``clda(ARM, VISIT)`` of the mean model (:mod:`.clda`), if any.
    """

    text: str
    response: str
    fixed: str
    covariance: CovarianceTerm | None
    random_terms: tuple[RandomTerm, ...] = ()
    innermost: str | None = None
    clda: CldaTerm | None = None

    @property
    def subject(self) -> str | None:
        return self.covariance.subject if self.covariance else self.innermost

    @property
    def linear(self) -> bool:
        """No covariance and no random-effect term: the linear model, every row independent."""
        return self.covariance is None and not self.random_terms

    @property
    def random(self) -> RandomTerm | None:
        return next((t for t in self.random_terms if t.subject == self.subject), None)

    @property
    def outer(self) -> tuple[RandomTerm, ...]:
        return tuple(t for t in self.random_terms if t.subject != self.subject)

    def with_subject(self, factor: str) -> ModelFormula:
        """The same model with ``factor`` as the subject (only without a covariance term,
        whose subject is fixed)."""
        if self.covariance or factor not in {t.subject for t in self.random_terms}:
            raise FormulaError(f"'{factor}' cannot be the subject of '{self.text}'")
        return replace(self, innermost=factor)

    def with_structure(self, name: str) -> ModelFormula:
        """The same model with the covariance term's structure replaced by ``name``, as a value
        (nothing is parsed again): ``us(AVISIT | USUBJID)`` becomes ``toeph(AVISIT | USUBJID)``;
        ``text`` is rewritten likewise for the audit trail.  FormulaError without a covariance
        term or for an unknown name."""
        if self.covariance is None:
            raise FormulaError(f"formula '{self.text}' has no covariance term such as us(AVISIT | USUBJID) "
                               f"whose structure '{name}' could replace")
        term = self.covariance.with_structure(name)
        lhs, rhs = self.text.split("~", 1)
        terms = _split_top_level(rhs, "+")
        old = self.covariance.structure
        i = next(i for i, t in enumerate(terms)
                 if "|" in t and (call := _CALL.match(t)) and call.group(1) == old)
        terms[i] = terms[i].replace(old, name, 1)
        return replace(self, text=f"{lhs}~{'+'.join(terms)}", covariance=term)


def as_formula(formula: str | ModelFormula) -> ModelFormula:
    """``formula`` parsed (:func:`parse_formula`), or as it is if it is parsed already."""
    return formula if isinstance(formula, ModelFormula) else parse_formula(formula)


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


def _column(name: str) -> str:
    """A column name of the formula without its backticks: `CHG w24` -> CHG w24."""
    name = name.strip()
    return name[1:-1] if name.startswith("`") and name.endswith("`") else name


def _identifier(name: str, what: str, term: str) -> str:
    name = name.strip()
    if not re.fullmatch(_NAME, name):
        raise FormulaError(f"{what} in covariance term '{term.strip()}' must be a column name, got '{name}'")
    return _column(name)


def _check_positions(name: str, positions: tuple[str, ...], term: str) -> None:
    """FormulaError for an unknown structure, or a visit-indexed one over several coordinates."""
    if not get_structure(name).spatial and len(positions) != 1:
        raise FormulaError(
            f"'{name}' takes one visit variable, got {len(positions)} in '{term.strip()}'; "
            "only spatial structures (sp_exp, sp_pow, sp_gau, sp_sph) take several coordinates"
        )


def _covariance_term(name: str, args: str, term: str) -> CovarianceTerm:
    get_structure(name)
    inside = _split_top_level(args, "|")
    if len(inside) != 2:
        raise FormulaError(f"covariance term '{term.strip()}' must look like {name}(VISIT | SUBJECT)")
    left, right = inside
    positions = tuple(_identifier(p, "a visit/coordinate", term) for p in left.split(","))
    _check_positions(name, positions, term)
    levels = right.split("/")
    if len(levels) > 2:
        raise FormulaError(f"covariance term '{term.strip()}': use {name}(VISIT | GROUP / SUBJECT)")
    subject = _identifier(levels[-1], "the subject", term)
    group = _identifier(levels[0], "the group", term) if len(levels) == 2 else None
    return CovarianceTerm(name, positions, subject, group)


def _random_term(term: str) -> RandomTerm:
    inside = term.strip()[1:-1]
    diagonal = "||" in inside
    parts = inside.split("||") if diagonal else _split_top_level(inside, "|")
    if len(parts) != 2 or not parts[0].strip():
        raise FormulaError(f"random-effect term '{term.strip()}' must look like (1 + TIME | SUBJECT)")
    subject = parts[1].strip()
    if not re.fullmatch(_NAME, subject):
        raise FormulaError(
            f"random-effect term '{term.strip()}': the grouping factor must be one column; write "
            "one term per factor, e.g. (1 | SITE) + (1 | USUBJID) for subjects (labelled uniquely "
            f"across sites) within sites, instead of '{subject}'"
        )
    return RandomTerm(parts[0].strip(), _column(subject), diagonal)


def parse_formula(formula: str) -> ModelFormula:
    """Parse ``response ~ fixed terms [+ (EXPR | FACTOR) ...] [+ STRUCT(VISIT | [GROUP /] SUBJECT)]``.

    Without a covariance term the subject is provisionally the last random term's factor
    (see the module docstring).  Without either kind of term the formula is the linear
    model ``response ~ fixed terms`` (ANCOVA), with no subject.

    A term ``clda(ARM, VISIT[, baseline=...])`` (cLDA, :mod:`trialmlm.engine.clda`) is kept in
    the mean model with the term ``VISIT`` added before it.

    Raises
    ------
    FormulaError
        No ``~``, a response that is not a column name, several covariance terms, several
        random terms for one factor, an unknown structure, a malformed ``clda`` term, more
        than one, or another mean-model term that uses its arm.
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"formula must be a string 'response ~ terms', got {formula!r}")
    lhs, rhs = formula.split("~", 1)
    response = lhs.strip()
    if not re.fullmatch(_NAME, response):
        raise FormulaError(f"the response '{response}' must be a single column name (in backticks if it "
                           "holds spaces or other characters: `CHG w24`)")
    response = _column(response)
    fixed, covariance, random, constrained = [], [], [], []
    for term in _split_top_level(rhs, "+"):
        call = _CALL.match(term)
        has_bar = "|" in term
        stripped = term.strip()
        if call and call.group(1) == CLDA and not has_bar:
            arguments = _split_top_level(call.group(2), ",")
            constrained.append(parse_term(term, arguments))
            fixed += [arguments[1].strip(), stripped]
        elif call and (has_bar or call.group(1) in STRUCTURES) and call.group(1) not in ("C", "I", "Q"):
            covariance.append(_covariance_term(call.group(1), call.group(2), term))
        elif has_bar and stripped.startswith("(") and stripped.endswith(")"):
            random.append(_random_term(stripped))
        elif has_bar:
            raise FormulaError(
                f"term '{stripped}' is neither a covariance term such as us(AVISIT | USUBJID) "
                "nor a random-effect term such as (1 + TIME | USUBJID)"
            )
        else:
            fixed.append(stripped)
    if len(covariance) > 1:
        raise FormulaError(f"formula '{formula}' has {len(covariance)} covariance terms; give exactly one")
    factors = [r.subject for r in random]
    repeated = sorted({f for f in factors if factors.count(f) > 1})
    if repeated:
        raise FormulaError(
            f"formula '{formula}' has several random-effect terms for '{repeated[0]}'; write one term "
            f"per grouping factor, e.g. (1 + TIME | {repeated[0]}) or (1 + TIME || {repeated[0]})"
        )
    if len(constrained) > 1:
        raise FormulaError(f"formula '{formula}' has {len(constrained)} {CLDA}() terms; give one")
    if constrained:
        check_other_terms(constrained[0], fixed)
    cov = covariance[0] if covariance else None
    fixed_text = " + ".join(t for t in fixed if t) or "1"
    innermost = None if cov or not factors else factors[-1]
    return ModelFormula(formula, response, fixed_text, cov, tuple(random), innermost,
                        constrained[0] if constrained else None)
