"""What every part of a report shares: the :class:`Context` (config, records, fits), the
:class:`Engine` that reads, prepares and fits one endpoint, and the :class:`AnalysisKind`
interface each part of the report implements (:mod:`trialmlm.app.report`)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from ..data.adam import derived_text
from ..data.classes import grouping_name, quiet_codes, warn_codes
from ..data.io import read
from ..errors import DataError
from ..tables.formats import decimals_for
from .config import AnalysisConfig


def read_records(config: AnalysisConfig, response: str | None) -> pd.DataFrame:
    """The analysis records: :func:`trialmlm.read` with the config's selection (``response``
    checked to be a numeric column; None: not checked); every column the analysis names
    must be in the file.  A covariate written as a bare column
    that looks like codes of an ADaM grouping variable (:mod:`trialmlm.data.classes`) gets a
    one-line DataWarning naming ``--class`` (read's own warning names the Python keyword)."""
    with quiet_codes():
        df = read(config.data, response=response, subject=config.subject, visit=config.visit,
                  arm=config.arm, **config.selection.read_keywords)
    needed = {f"covariate {c}": c for c in config.covariate_columns}
    needed |= {f"subgroup {c}": c for c in config.subgroups}
    if config.kind.trend:
        needed["time"] = config.time
    missing = [f"{what} '{col}'" for what, col in needed.items() if col not in df.columns]
    if missing:
        raise DataError(f"{config.data}: no column for {', '.join(missing)}; "
                        f"columns: {', '.join(df.columns)}")
    bare = [c for c in config.covariates if c in df.columns and grouping_name(c)]
    warn_codes(df, bare, "--class {column} (TOML class = ['{column}']) or --covariates 'C({column})'",
               what="covariate")
    return df


@dataclass(frozen=True)
class Engine:
    """How the report handles one endpoint (``ModelKind.endpoint``): ``read(config)`` the
    records; ``prepare(config, records, counts)`` -> ``(records, counts, intercurrent)``
    (the intercurrent-event handling of the model, None when it has none);
    ``fit(config, records)`` -> ``[(visit, fit)]``; ``failure(fit)``: why a fit is not usable
    ("" when it is); ``n_obs(fit)``: the records it used."""

    read: Callable
    prepare: Callable
    fit: Callable
    failure: Callable
    n_obs: Callable


def response_label(df: pd.DataFrame, config: AnalysisConfig) -> str:
    names = {"CHG": "change from baseline", "AVAL": "value", "PCHG": "percent change from baseline"}
    if "PARAM" in df.columns and df["PARAM"].nunique() == 1:
        what = names.get(config.response, config.response)
        if config.kind.endpoint == "binary":
            what = "responders"
        return f"{df['PARAM'].iloc[0]}, {what}"
    return config.response


def response_unit(df: pd.DataFrame, config: AnalysisConfig) -> str | None:
    if config.unit is not None or "PARAM" not in df.columns or df["PARAM"].nunique() != 1:
        return config.unit
    found = re.search(r"\(([^()]+)\)\s*$", str(df["PARAM"].iloc[0]))
    return found.group(1) if found else None



@dataclass(frozen=True)
class Context:
    """What every analysis kind of the report reads: the config, the records and the fit(s).

    ``data``: the records read (arms in table order, reference first); ``observed``: its
    observed-case records, which the data tables and figures describe; ``analysed``: the
    records the model used; ``fits``: ``[(visit, fit)]`` (visit None: one fit of all visits).
    """

    config: AnalysisConfig
    data: pd.DataFrame = field(repr=False)
    observed: pd.DataFrame = field(repr=False)
    analysed: pd.DataFrame = field(repr=False)
    counts: object
    by_arm: pd.DataFrame = field(repr=False)
    levels: list
    fits: list = field(repr=False)
    derived: dict
    titles: object
    engine: Engine = field(repr=False)
    intercurrent: object = None
    progress: bool | None = None

    @property
    def kind(self):
        """The model kind (:data:`trialmlm.app.config.MODEL_KINDS`)."""
        return self.config.kind

    @property
    def reference(self):
        return self.levels[0]

    @property
    def fit(self):
        """The (first) fit."""
        return self.fits[0][1]

    @property
    def labels(self) -> dict:
        return self.data.attrs.get("labels", {})

    @functools.cached_property
    def label(self) -> str:
        return response_label(self.data, self.config)

    @functools.cached_property
    def unit(self) -> str | None:
        return response_unit(self.data, self.config)

    @functools.cached_property
    def decimals(self):
        return decimals_for(self.data[self.config.response], self.config.data_decimals()).data

    @property
    def axis(self) -> str:
        """The x axis of the trajectories: the time of a trend model, else the visit."""
        return self.config.time if self.kind.trend else self.config.visit

    def note(self, what: str) -> tuple[str, ...]:
        """The footnote of a data table (``what="table"``) or figure caption when the analysis
        used derived records; an empty tuple when it used none.  E.g. "The analysis used 168
        LOCF-derived records (DTYPE = LOCF); this table describes the 537 observed records
        (DTYPE blank) of 236 subjects." """
        if not self.derived:
            return ()
        return (f"The analysis used {derived_text(self.derived)}; this {what} describes the "
                f"{len(self.observed)} observed records (DTYPE blank) of "
                f"{self.observed[self.config.subject].nunique()} subjects.",)



class AnalysisKind:
    """One part of the report: it contributes tables, figures, entries of
    ``analysis_results.json`` and rows of the model table of ``index.html``.

    A kind is made from the :class:`Context` when :meth:`applies` to the config; expensive
    results (imputations, estimands) are ``cached_property`` so that tables, figures and JSON
    share them.  Table and figure names start with their number (``t5_``, ``f3_``): the report
    lists them in that order, each kind's own in the order it gives them.
    """

    def __init__(self, ctx: Context):
        self.ctx = ctx

    #: The endpoints (``ModelKind.endpoint``) this part of the report serves.
    endpoints: tuple[str, ...] = ("continuous", "binary")
    #: The engines (``ModelKind.engine``) it serves; None: every engine of its endpoints.
    engines: tuple[str, ...] | None = None

    @classmethod
    def applies(cls, config: AnalysisConfig) -> bool:
        engine = cls.engines is None or config.kind.engine in cls.engines
        return config.kind.endpoint in cls.endpoints and engine

    def tables(self) -> dict:
        """Name -> :class:`trialmlm.tables.Table`."""
        return {}

    def figures(self) -> dict:
        """Name -> a function that draws the figure and returns its Axes."""
        return {}

    def results(self) -> dict:
        """Entries of ``analysis_results.json``
        (:func:`trialmlm.app.analysis_results.analysis_document`)."""
        return {}

    def rows(self) -> list[tuple[str, str]]:
        """(what, text) rows of the model table of ``index.html``."""
        return []
