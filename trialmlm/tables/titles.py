"""Page titles and footnotes of a regulatory output: study, population, page x of y, data
source, program and run date (SAS ``TITLE`` / ``FOOTNOTE`` lines; ICH E3 tables carry them).

A :class:`Titles` is given to the renderers (:func:`~trialmlm.tables.to_rtf`,
:func:`~trialmlm.tables.rtf_document`, :func:`~trialmlm.tables.write_html`,
:func:`~trialmlm.tables.html_document`), which lay it out on every page:

.. code-block:: text

    Study: CDISCPILOT01                                               Page 1 of 2
    Efficacy population
    <extra header lines>
                          ... table, table footnotes ...
    <extra footer lines>
    Source: adadas.xpt; program: trialmlm 0.1.0 analyze      Run: 2024-05-01 14:03

"Page x of y" exists only in RTF (Word / LibreOffice fields); HTML has no pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class Titles:
    """Header and footer lines of every page of an RTF / HTML output.

    Attributes
    ----------
    study : study identifier (e.g. ``STUDYID``), shown as ``Study: ...``.
    population : analysis population label, shown as given (e.g. ``"Efficacy population"``).
    source : the data source (e.g. the input file name).
    program : what produced the output (e.g. ``"trialmlm 0.1.0 analyze"``).
    run_at : run date and time: a ``datetime`` (shown ``YYYY-MM-DD HH:MM``), a ``date``
        (``YYYY-MM-DD``) or text shown as given.
    header : further title lines, under study and population.
    footer : further footnote lines, above source, program and run date.

    Fields left ``None`` are not shown.
    """

    study: str | None = None
    population: str | None = None
    source: str | None = None
    program: str | None = None
    run_at: datetime | date | str | None = None
    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("header", "footer"):
            lines = getattr(self, name)
            object.__setattr__(self, name, (str(lines),) if isinstance(lines, str)
                               else tuple(str(x) for x in lines))

    @property
    def header_lines(self) -> tuple[str, ...]:
        """Title lines, top to bottom (the first carries "Page x of y" on its right in RTF)."""
        first = (f"Study: {self.study}",) if self.study is not None else ()
        population = (str(self.population),) if self.population is not None else ()
        return first + population + self.header

    @property
    def footer_lines(self) -> tuple[str, ...]:
        """Footnote lines, top to bottom; the last is source and program (if given)."""
        parts = [f"Source: {self.source}" if self.source is not None else None,
                 f"program: {self.program}" if self.program is not None else None]
        last = "; ".join(p for p in parts if p)
        return self.footer + ((last[0].upper() + last[1:],) if last else ())

    @property
    def run_text(self) -> str:
        """``Run: ...`` (right of the last footer line), or empty."""
        if self.run_at is None:
            return ""
        if isinstance(self.run_at, datetime):
            return f"Run: {self.run_at:%Y-%m-%d %H:%M}"
        if isinstance(self.run_at, date):
            return f"Run: {self.run_at:%Y-%m-%d}"
        return f"Run: {self.run_at}"
