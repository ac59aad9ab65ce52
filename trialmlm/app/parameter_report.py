"""One report of several parameters (:mod:`trialmlm.app.parameters`): a section per parameter.

Each parameter is analysed as a single-parameter run would analyse it
(:func:`trialmlm.app.report.analyse`), as one task of :func:`trialmlm.runner.run_tasks`: in this
process, on the local pool (``workers`` processes) or on any
:class:`concurrent.futures.Executor`, one BLAS thread per task.  A task returns its
:class:`ParameterSection` (tables, figure files, the ``index.html`` section, the
``analysis_results.json`` entry), so nothing but the report folder is written, and only
by this process.

Numbering: section *k* (the parameter's place in the run) numbers its tables and figures
``Table k.N`` / ``Figure k.N`` (``Table 2.5a``: Table 5a of the second parameter), and its
files carry the PARAMCD (``HAMD17_t2_mmrm.rtf``).  A parameter without a usable fit (no
covariance structure converged, and no ``allow_nonconvergence``) has a section with the
reason and no tables; the others are written (:attr:`ParametersReport.failed`; the command
line exits with status 3).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConvergenceError
from ..runner import run_tasks
from .analysis_results import settings_entry
from .config import AnalysisConfig
from .report import (
    analyse,
    figure_caption,
    figure_files,
    input_files,
    render_index,
    results_of,
    section_view,
    write_combined,
    write_figures,
    write_results,
    write_tables,
)
from .report_folder import check_folder, report_folder

NUMBER = re.compile(r"^(Table|Figure) (\d+[a-z]?)\. ")


@dataclass(frozen=True)
class ParameterSection:
    """What one parameter contributes to the report (picklable: a task's result).

    ``view``: the ``index.html`` section (:func:`trialmlm.app.report.section_view`);
    ``tables``: file name -> Table; ``figures``: file name -> {format: contents};
    ``document``: its entry of ``analysis_results.json``; ``summary``: one line for the
    command line; ``error``: why it has no usable fit (None when it has one).
    """

    param: str
    view: dict = field(repr=False)
    tables: dict = field(repr=False)
    figures: dict = field(repr=False)
    document: dict = field(repr=False)
    titles: object = field(repr=False)
    summary: str
    error: str | None = None


@dataclass(frozen=True)
class ParametersReport:
    """What :func:`run_parameters` produced: the sections in report order and the files."""

    out: Path
    sections: tuple[ParameterSection, ...]
    files: tuple[Path, ...]

    @property
    def index(self) -> Path:
        return self.out / "index.html"

    @property
    def failed(self) -> dict:
        """PARAMCD -> why it has no usable fit, for the parameters without one."""
        return {s.param: s.error for s in self.sections if s.error is not None}


def numbered(title: str, section: int) -> str:
    """``"Table 2. ..."`` as ``"Table {section}.2. ..."`` (tables and figures; other titles as
    they are)."""
    return NUMBER.sub(lambda m: f"{m.group(1)} {section}.{m.group(2)}. ", title, count=1)


def parameter_section(serial: bool, task: tuple[int, AnalysisConfig]) -> ParameterSection:
    """Analyse one parameter (``task``: its section number and config) into its section.  Off
    the serial path the imputations of a parameter run in its own process (``workers=1``;
    their results do not depend on the processes, :mod:`trialmlm.runner`)."""
    number, config = task
    run = config
    if not serial:
        run = dataclasses.replace(config, sensitivity_analysis=dataclasses.replace(
            config.sensitivity_analysis, workers=1))
    code = config.param
    try:
        a = analyse(run, progress=False if not serial else None)
    except ConvergenceError as exc:
        view = dict(heading=config.title or code, anchor=code, error=str(exc), model=[], tables=[],
                    figures=[], header=f"PARAMCD {code}: {config.formula}.")
        document = {"settings": settings_entry(config.flat()), "error": str(exc)}
        return ParameterSection(code, view, {}, {}, document, None, f"{code}: no usable fit", str(exc))
    ctx, prefix = a.ctx, f"{code}_"
    tables = {prefix + name: dataclasses.replace(t, title=numbered(t.title, number))
              for name, t in a.tables.items()}
    figures = {prefix + name: files for name, files in figure_files(a.drawings, config.figures).items()}
    captions = []
    for name in a.drawings:
        title, caption = figure_caption(name, ctx)
        captions.append((prefix + name, numbered(title, number), caption))
    view = {**section_view(a, tables, captions), "heading": config.title or f"{code}: {ctx.label}",
            "anchor": code}
    document = results_of(a)
    document["settings"]["workers"] = config.workers  # the run's processes, not the task's
    state = "converged" if ctx.fit.converged else "NOT converged"
    counts = ctx.counts
    summary = f"{code}: {config.formula}: {counts.subjects} subjects, {counts.records} observations, {state}"
    return ParameterSection(code, view, tables, figures, document, ctx.titles, summary)


def run_parameters(configs: list[AnalysisConfig], progress: bool | None = None, links: tuple = (),
                   inputs: dict | None = None, executor=None) -> ParametersReport:
    """Analyse each parameter (``configs``: one per parameter, :func:`trialmlm.app.parameters.make_configs`;
    the run's ``out``, ``overwrite``, ``figures`` and ``workers`` are the first's) and write one
    report folder: ``index.html`` with a table of contents and a section per parameter, each
    parameter's tables (RTF, HTML, CSV) and figures under its PARAMCD, every table in
    ``tables.rtf`` (header lines of the first parameter with tables) and one
    ``analysis_results.json`` keyed by PARAMCD (schema
    :data:`trialmlm.app.analysis_results.PARAMETERS_SCHEMA`).

    The parameters run as tasks of :func:`trialmlm.runner.run_tasks`: on ``executor`` (any
    :class:`concurrent.futures.Executor`), else on a local pool of ``workers`` processes
    (``workers=1``: in this process).  ``links`` and ``inputs`` as for
    :func:`trialmlm.app.report.run_analysis`.
    """
    first = configs[0]
    final = Path(first.out)
    inputs = {**{f"{role} of {c.param}": path for c in configs for role, path in input_files(c).items()},
              **(inputs or {})}
    check_folder(final, first.overwrite, inputs)  # before any work
    serial = executor is None and first.workers == 1
    sections = run_tasks(parameter_section, serial, list(enumerate(configs, start=1)), workers=first.workers,
                         progress=progress, desc="parameters", executor=executor, chunk_size=1)
    with report_folder(final, first.overwrite, inputs) as out:
        files = []
        for s in sections:
            files += write_tables(out, s.tables, s.titles) + write_figures(out, s.figures)
        made = [t for s in sections for t in s.tables.values()]
        if made:
            files.append(write_combined(out, made, next(s.titles for s in sections if s.tables)))
        files += write_results(out, [s.document for s in sections])
        title = f"{len(sections)} parameters: {', '.join(s.param for s in sections)}"
        files.append(render_index(out / "index.html", title, [s.view for s in sections], links,
                                  first.figures))
        names = [p.relative_to(out) for p in files]
    return ParametersReport(final, tuple(sections), tuple(final / n for n in names))
