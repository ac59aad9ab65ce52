"""Regulatory-style tables: build a tidy DataFrame, format it, render to RTF / HTML / CSV.

Each builder returns a :class:`Table` — a frozen title, column headers (with units), body
rows as formatted strings and footnotes — whose ``data`` attribute is the tidy DataFrame
(snake_case columns) the strings were formatted from.  Renderers: :func:`to_rtf`,
:func:`to_html` / :func:`write_html`, :func:`to_csv` (the tidy data); :class:`Titles`
adds the page titles and footnotes (study, population, page x of y, source, program, run
date).  A column may carry a spanning header label (:attr:`Table.spans`, grouped by
:func:`span_groups`): one header cell over the columns that share it, in RTF and HTML alike.
Number formats: :mod:`trialmlm.tables.formats`.

======================================  ===============================================
:func:`summary_table`                   n, mean, SD, median, min, max by visit and arm
:func:`mmrm_table`                      LS means and differences from the reference arm
:func:`change_table`                    cLDA: LS means of the change from baseline
:func:`type3_table`                     type III tests of fixed effects
:func:`covariance_table`                covariance parameters and fit statistics
:func:`covariance_selection_table`      candidates of a covariance selection by AIC, AICC or BIC
:func:`missing_data_tables`             patterns, dropout by visit, time to dropout
:func:`sensitivity_table`               primary MMRM, MI analyses, tipping point per contrast
:func:`records_table`                   records read, excluded by reason, analysed
:func:`estimand_table`                  each estimand's ICE handling and differences
:func:`ice_table_counts`                intercurrent events by estimand and arm
:func:`stack_tables`                    tables of the same shape as one (e.g. by visit)
:func:`responder_table`                 responders n/N (%) with Wilson CIs by visit and arm
:func:`probability_table`               GEE response probabilities and odds ratios by visit
:func:`marginal_effects_table`          risk difference, risk ratio, odds ratio by visit
:func:`gee_parameter_table`             GEE parameters in SAS GENMOD's layout
:func:`intercurrent_table`              records affected by intercurrent events
======================================  ===============================================
"""

from .data import (
    dropout_by_visit_table,
    km_dropout_table,
    missing_data_tables,
    pattern_table,
    summary_statistics,
    summary_table,
)
from .estimand_tables import estimand_results, estimand_table, ice_counts, ice_table_counts
from .fit_tables import (
    change_table,
    covariance_selection_table,
    covariance_table,
    mmrm_results,
    mmrm_table,
    model_footnotes,
    sensitivity_results,
    sensitivity_table,
    type3_table,
)
from .formats import Decimals, decimals_for, fmt_ci, fmt_estimate_se, fmt_number, fmt_p
from .records import records_table
from .render import html_document, rtf_document, rtf_escape, to_csv, to_html, to_rtf, write_html
from .responder_tables import (
    gee_parameter_table,
    intercurrent_table,
    marginal_effects_table,
    probability_table,
    responder_table,
)
from .stack import stack_tables
from .table import Table, span_groups
from .titles import Titles

__all__ = [
    "Decimals", "Table", "Titles", "change_table", "covariance_selection_table", "covariance_table",
    "decimals_for",
    "dropout_by_visit_table",
    "estimand_results", "estimand_table", "fmt_ci", "fmt_estimate_se", "fmt_number", "fmt_p",
    "html_document", "ice_counts", "ice_table_counts", "km_dropout_table", "missing_data_tables",
    "mmrm_results", "mmrm_table", "model_footnotes", "pattern_table", "records_table", "rtf_document",
    "rtf_escape", "sensitivity_results", "responder_table", "probability_table", "marginal_effects_table",
    "gee_parameter_table", "intercurrent_table", "sensitivity_table", "span_groups", "stack_tables",
    "summary_statistics",
    "summary_table", "to_csv", "to_html", "to_rtf", "type3_table", "write_html",
]
