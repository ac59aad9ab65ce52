"""Options named in the caller's words: ``param=`` in Python, ``--param`` on the command line.

A message of the data layer names an option through :func:`option` or :func:`given`; the
command line (:func:`trialmlm.app.cli.main`) runs inside :func:`command_line`, so the same
message reads ``choose one with --param`` there and ``choose one with param=`` from
:func:`trialmlm.read`.  The message text is written once; only the option's spelling
follows the caller (:data:`CLI_OPTIONS` maps each keyword to its option).  An option the
command line read from its configuration file (:func:`from_config_file`) is named as the
file's key: ``ice_where = "EOSSTT ==" (config file)``.

The setting is a :class:`contextvars.ContextVar`: it holds for the thread (or task) that
entered :func:`command_line` and ends with it.
"""

from __future__ import annotations

import contextvars
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

#: Keyword of :func:`trialmlm.read` -> option of ``trialmlm analyze``.
CLI_OPTIONS = {
    "param": "--param",
    "population": "--population",
    "where": "--where",
    "ice_where": "--ice-where",
    "responder": "--responder",
    "analysis_flag": "--analysis-flag",
    "keep_dtype": "--keep-dtype",
    "keep_baseline": "--keep-baseline",
    "arm_order": "--arm-order",
    "class_variables": "--class",
    "adsl": "--adsl",
}

_ON_COMMAND_LINE = contextvars.ContextVar("trialmlm_command_line", default=False)
_FROM_FILE: contextvars.ContextVar[frozenset] = contextvars.ContextVar("trialmlm_config_file_keys",
                                                                     default=frozenset())
_PLAIN = re.compile(r"[A-Za-z0-9_.,:+=@%/-]+")


@contextmanager
def command_line() -> Iterator[None]:
    """Within the block, :func:`option` and :func:`given` spell options as typed on the
    command line (``--param``)."""
    token, keys = _ON_COMMAND_LINE.set(True), _FROM_FILE.set(frozenset())
    try:
        yield
    finally:
        _FROM_FILE.reset(keys)
        _ON_COMMAND_LINE.reset(token)


def from_config_file(keys) -> None:
    """Until the :func:`command_line` block ends, the options ``keys`` are those the command
    line read from its configuration file (``--config``): :func:`option` and :func:`given`
    spell them as the file's keys."""
    _FROM_FILE.set(frozenset(keys) if on_command_line() else frozenset())


def on_command_line() -> bool:
    """True inside :func:`command_line`."""
    return _ON_COMMAND_LINE.get()


def shell_word(text: str) -> str:
    """``text`` as one shell word: as it is when plain, else in double quotes (single quotes
    when it holds a character a double-quoted word would expand)."""
    if _PLAIN.fullmatch(text):
        return text
    if not any(c in text for c in '"$`\\!'):
        return f'"{text}"'
    return "'" + text.replace("'", "'\"'\"'") + "'"


def option(keyword: str) -> str:
    """The option ``keyword`` of :func:`trialmlm.read` as the caller writes it: ``"param="``,
    or ``"--param"`` on the command line."""
    if keyword in _FROM_FILE.get():
        return f"{keyword} (config file)"
    return CLI_OPTIONS[keyword] if on_command_line() else f"{keyword}="


def given(keyword: str, value) -> str:
    """The option with its value as the caller writes it: ``population='FASFL'`` or
    ``--population FASFL``; a list value gives ``arm_order=['A', 'B']`` or ``--arm-order A B``
    (command-line values quoted for the shell by :func:`shell_word`); read from the
    configuration file: ``population = "FASFL" (config file)`` (TOML values)."""
    if keyword in _FROM_FILE.get():
        listed = isinstance(value, Sequence) and not isinstance(value, str)
        return f"{keyword} = {json.dumps(list(value) if listed else value)} (config file)"
    if not on_command_line():
        shown = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
        return f"{keyword}={shown!r}"
    values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    return " ".join([CLI_OPTIONS[keyword]] + [shell_word(str(v)) for v in values])
