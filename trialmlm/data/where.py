"""A small, safe record-selection language: ``where="AVISITN <= 24 and SITEGR1 in ('701', '702')"``.

The text is tokenised and parsed here (recursive descent); nothing is passed to
:func:`eval`, :meth:`pandas.DataFrame.query` or any other interpreter, so a ``where``
read from a configuration file cannot run code.

Grammar (keywords are case-insensitive, column names are not)::

    expression := term { "or" term }
    term       := factor { "and" factor }
    factor     := "not" factor | "(" expression ")" | comparison
    comparison := operand OP operand
                | operand ["not"] "in" "(" literal { "," literal } ")"
    operand    := COLUMN | literal
    literal    := 'text' | "text" | number
    OP         := == = != ^= ~= <> < <= > >=  eq ne lt le gt ge   (SAS mnemonics too)

Limits: an expression is at most :data:`MAX_LENGTH` characters long and nests parentheses
and ``not`` at most :data:`MAX_DEPTH` levels deep (a DataError says which limit was
passed), so a hostile ``where`` cannot exhaust the parser's stack.

Missing values: a comparison (``==``, ``<``, ``in``, ...) is false when either side is
missing, and its negation (``!=``, ``not in``, ``not (...)``) is true — two-valued logic,
so ``X != v`` is always ``not (X == v)``.  Blank text counts as missing (as SAS stores
a missing character value).  Unlike SAS, a missing number is not "less than every
number": ``AVAL < 5`` does not select missing AVAL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from .vocabulary import given, option

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
    | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<op>==|!=|\^=|~=|<>|<=|>=|=|<|>)
    | (?P<punct>[(),])
    | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    )""", re.X)
_OPS = {"==": "==", "=": "==", "eq": "==", "!=": "!=", "^=": "!=", "~=": "!=", "<>": "!=", "ne": "!=",
        "<": "<", "lt": "<", "<=": "<=", "le": "<=", ">": ">", "gt": ">", ">=": ">=", "ge": ">="}
_KEYWORDS = {"and", "or", "not", "in", *[k for k in _OPS if k.isalpha()]}
#: Most characters in an expression.
MAX_LENGTH = 10_000
#: Most levels of parentheses and ``not`` nested in one another.
MAX_DEPTH = 100


@dataclass(frozen=True)
class _Token:
    kind: str  # string, number, op, punct, name, keyword, end
    text: str
    value: object
    at: int


def _tokens(text: str, keyword: str = "where") -> list[_Token]:
    out, i = [], 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        m = _TOKEN.match(text, i)
        if m is None or m.end() == i:
            raise DataError(f"{given(keyword, text)}: cannot read {text[i:].strip()[:20]!r} at character "
                            f"{i + 1}")
        kind = m.lastgroup
        raw = m.group(kind)
        at = m.start(kind)
        if kind == "string":
            out.append(_Token("string", raw, raw[1:-1].replace(raw[0] * 2, raw[0]), at))
        elif kind == "number":
            out.append(_Token("number", raw, float(raw), at))
        elif kind == "name" and raw.lower() in _KEYWORDS:
            word = raw.lower()
            kind = "op" if word in _OPS else "keyword"
            out.append(_Token(kind, word, _OPS.get(word, word), at))
        elif kind == "op":
            out.append(_Token("op", raw, _OPS[raw], at))
        else:
            out.append(_Token(kind, raw, raw, at))
        i = m.end()
    out.append(_Token("end", "end of text", None, len(text)))
    return out


# -- syntax tree ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Literal:
    value: object


@dataclass(frozen=True)
class Compare:
    left: Column | Literal
    op: str
    right: Column | Literal


@dataclass(frozen=True)
class In:
    column: Column | Literal
    values: tuple
    negated: bool


@dataclass(frozen=True)
class Not:
    operand: object


@dataclass(frozen=True)
class Logical:
    op: str  # "and" / "or"
    operands: tuple


class _Parser:
    def __init__(self, text: str, keyword: str = "where"):
        self.text, self.keyword = text, keyword
        self.tokens = _tokens(text, keyword)
        self.i = 0
        self.depth = 0  # parentheses and "not" open around the current token

    @property
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def error(self, expected: str):
        tok = self.peek
        raise DataError(f"{given(self.keyword, self.text)}: expected {expected} at character {tok.at + 1}, "
                        f"found {tok.text!r}")

    def take(self, kind: str, text: str | None = None) -> _Token:
        tok = self.peek
        if tok.kind != kind or (text is not None and tok.text != text):
            self.error(repr(text) if text else kind)
        self.i += 1
        return tok

    def accept(self, kind: str, text: str) -> bool:
        if self.peek.kind == kind and self.peek.text == text:
            self.i += 1
            return True
        return False

    def parse(self):
        node = self.expression()
        if self.peek.kind != "end":
            self.error("'and', 'or' or the end")
        return node

    def expression(self):
        parts = [self.term()]
        while self.accept("keyword", "or"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Logical("or", tuple(parts))

    def term(self):
        parts = [self.factor()]
        while self.accept("keyword", "and"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else Logical("and", tuple(parts))

    def factor(self):
        if self.peek.text in ("not", "("):
            return self.nested()
        return self.comparison()

    def nested(self):
        """``not factor`` or ``( expression )``, one level deeper (at most :data:`MAX_DEPTH`)."""
        at = self.peek.at
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise DataError(f"{option(self.keyword).rstrip('=')}: nested more than {MAX_DEPTH} levels deep "
                            f"(parentheses and 'not') at character {at + 1}")
        if self.accept("keyword", "not"):
            node = Not(self.factor())
        else:
            self.take("punct", "(")
            node = self.expression()
            self.take("punct", ")")
        self.depth -= 1
        return node

    def operand(self):
        tok = self.peek
        if tok.kind == "name":
            self.i += 1
            return Column(tok.text)
        if tok.kind in ("string", "number"):
            self.i += 1
            return Literal(tok.value)
        self.error("a column name, a quoted text or a number")

    def comparison(self):
        left = self.operand()
        negated = self.accept("keyword", "not")
        if negated or self.peek.text == "in":
            self.take("keyword", "in")
            self.take("punct", "(")
            values = [self.literal()]
            while self.accept("punct", ","):
                values.append(self.literal())
            self.take("punct", ")")
            return In(left, tuple(values), negated)
        if self.peek.kind != "op":
            self.error("a comparison (==, !=, <, <=, >, >=, in)")
        op = self.take("op").value
        return Compare(left, op, self.operand())

    def literal(self):
        tok = self.peek
        if tok.kind not in ("string", "number"):
            self.error("a quoted text or a number")
        self.i += 1
        return tok.value


@dataclass(frozen=True)
class Where:
    """A parsed selection; :meth:`mask` evaluates it on a DataFrame.  ``keyword``: the
    option that gave the text (``where``, ``ice_where``, ``responder``), named in messages as
    the caller typed it (:func:`trialmlm.data.vocabulary.given`)."""

    text: str
    tree: object
    keyword: str = "where"

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names the expression reads, in order of appearance."""
        out: list[str] = []

        def walk(node):
            if isinstance(node, Column):
                if node.name not in out:
                    out.append(node.name)
            elif isinstance(node, Compare):
                walk(node.left), walk(node.right)
            elif isinstance(node, In):
                walk(node.column)
            elif isinstance(node, Not):
                walk(node.operand)
            elif isinstance(node, Logical):
                for part in node.operands:
                    walk(part)
        walk(self.tree)
        return tuple(out)

    def mask(self, data: pd.DataFrame) -> np.ndarray:
        """Boolean array: rows of ``data`` that satisfy the expression.

        Raises DataError naming an unknown column (with a case-insensitive suggestion),
        or a number compared with text.
        """
        unknown = [c for c in self.columns if c not in data.columns]
        if unknown:
            name = unknown[0]
            close = [c for c in data.columns if str(c).lower() == name.lower()]
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise DataError(f"{given(self.keyword, self.text)} names column '{name}', which is not in the "
                            f"data{hint}")
        return np.asarray(self._eval(self.tree, data), dtype=bool)

    def _values(self, node, data: pd.DataFrame):
        """(values, missing mask, is_numeric) of an operand."""
        if isinstance(node, Literal):
            v = node.value
            return v, np.zeros(len(data), dtype=bool), isinstance(v, float)
        col = data[node.name]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if numeric:
            values = col.to_numpy(dtype=float, na_value=np.nan)
            return values, np.isnan(values), True
        text = col.astype(object)
        blank = text.map(lambda s: isinstance(s, str) and not s.strip()).to_numpy(bool)
        missing = text.isna().to_numpy() | blank
        return text.map(lambda s: s if isinstance(s, str) else str(s)).to_numpy(object), missing, False

    def _check_types(self, node, numeric: bool, other_numeric: bool, what) -> None:
        if numeric != other_numeric:
            kinds = {True: "numeric", False: "text"}
            side = f"column '{node.name}'" if isinstance(node, Column) else "the literal"
            raise DataError(f"{given(self.keyword, self.text)}: {side} is {kinds[numeric]} but is compared "
                            f"with {what} ({kinds[other_numeric]}); quote text values, leave numbers "
                            "unquoted")

    def _eval(self, node, data: pd.DataFrame) -> np.ndarray:
        if isinstance(node, Logical):
            parts = [self._eval(p, data) for p in node.operands]
            return np.logical_and.reduce(parts) if node.op == "and" else np.logical_or.reduce(parts)
        if isinstance(node, Not):
            return ~self._eval(node.operand, data)
        if isinstance(node, In):
            values, missing, numeric = self._values(node.column, data)
            for v in node.values:
                self._check_types(node.column, numeric, isinstance(v, float), repr(v))
            hit = np.isin(values, np.array(node.values, dtype=float if numeric else object)) & ~missing
            return ~hit if node.negated else hit
        left, lmiss, lnum = self._values(node.left, data)
        right, rmiss, rnum = self._values(node.right, data)
        if isinstance(node.left, Literal) and isinstance(node.right, Literal):
            raise DataError(f"{given(self.keyword, self.text)}: a comparison must name a column")
        what = (f"column '{node.right.name}'" if isinstance(node.right, Column) else repr(node.right.value))
        self._check_types(node.left, lnum, rnum, what)
        op = "==" if node.op == "!=" else node.op
        with np.errstate(invalid="ignore"):
            result = {"==": np.equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
                      ">=": np.greater_equal}[op](left, right)
        result = np.asarray(result, dtype=bool) & ~lmiss & ~rmiss
        return ~result if node.op == "!=" else result


def parse_where(text: str, keyword: str = "where") -> Where:
    """Parse a selection expression (see the module docstring); DataError with the
    position of the first token that does not fit the grammar, or naming the length or
    depth limit passed.  ``keyword``: the option that gave ``text`` (``where``, ``ice_where``,
    ``responder``; :data:`trialmlm.data.vocabulary.CLI_OPTIONS`), named in every message
    about it, here and in :meth:`Where.mask`, as the caller typed it."""
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{option(keyword).rstrip('=')} must be a non-empty text, got {text!r}")
    if len(text) > MAX_LENGTH:
        raise DataError(f"{option(keyword).rstrip('=')}: longer than {MAX_LENGTH:,} characters "
                        f"({len(text):,}: {text[:40]!r}...)")
    return Where(text, _Parser(text, keyword).parse(), keyword)
