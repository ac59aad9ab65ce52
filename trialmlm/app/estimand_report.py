r"""The estimand analyses of a report (ICH E9(R1)): :func:`run_estimands`.

The intercurrent events (ICE) of the analysed subjects come from one source
(:func:`trialmlm.estimands.ice_table` rules):

* an ICE file (``ice``: CSV, XPT, sas7bdat or Parquet with the subject column, the first
  affected visit in the visit column and, optionally, ``strategy``);
* a record flag of the analysis data (``ice_flag``, ``"Y"`` at and after the event);
* a subject-level event date (``ice_date``) against the record date (``date``, ADT);
* otherwise dropout: the visit after a subject's last observed response;

the last three for the subjects with a record where ``ice_where`` holds (e.g.
``"COMP24FL == 'N'"``: treatment end dates of completers are not intercurrent events).

Each estimand named in ``estimands`` applies one strategy (MAR, JR, CR, CIR, LMCF) to every
subject with an ICE, from its ICE visit, or ``TABLE``: the ICE file's own per-subject
strategies.  Each is estimated by ``estimand_method`` (:data:`METHODS`: conditional mean
with jackknife or bootstrap, approximate Bayes or bootstrapped ML multiple imputation; the
number of samples or imputations is ``imputations``, the seed ``seed``) from the primary
MMRM (the imputation model, refitted without the observed values after non-MAR events) and
analysed by an ANCOVA at each visit on the report's covariates (R rbmi's default analysis).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..data.io import read_table
from ..data.where import parse_where
from ..errors import DataError
from ..estimands import Ancova, CondMean, ImputationModel, ice_table
from ..estimands.feasibility import check_jackknife_subjects, check_observed_left, excluded_values
from ..estimands.ice import ICE_STRATEGIES, STRATEGY_COLUMN, subject_events
from ..estimands.methods import method
from ..missing.patterns import observation_matrix

#: ``estimands`` entry -> the ICE handling in words.
HANDLING = {
    "MAR": "Hypothetical: missing at random after the ICE (MAR)",
    "JR": "Jump to reference after the ICE (JR)",
    "CR": "Copy reference (CR)",
    "CIR": "Copy increments in reference after the ICE (CIR)",
    "LMCF": "Last mean carried forward after the ICE (LMCF)",
    "TABLE": "Per subject, as in the ICE file",
}
#: ``estimand_method`` -> its description (the footnote of Table 7a); ``{n}`` is ``imputations``.
METHODS = {
    "condmean": "conditional mean imputation, jackknife standard errors and normal confidence intervals "
                "(Wolbers et al. 2022; R rbmi method_condmean(type = \"jackknife\"))",
    "bootstrap": "conditional mean imputation, {n} bootstrap samples stratified by arm, percentile "
                 "confidence intervals and p-values (R rbmi method_condmean(type = \"bootstrap\"))",
    "approxbayes": "approximate Bayesian multiple imputation ({n} imputations, each from a bootstrap refit), "
                   "Rubin's rules with Barnard-Rubin df (R rbmi method_approxbayes)",
    "bmlmi": "bootstrapped maximum-likelihood multiple imputation ({n} bootstrap samples x 2 imputations), "
             "von Hippel-Bartlett pooling (R rbmi method_bmlmi(B, D = 2))",
}


@dataclass(frozen=True)
class Estimand:
    """One estimand of the report: its ``name`` (an ``estimands`` entry), the ICE handling in
    words and the result (``compare``, ``lsmeans``, ``ice_summary``)."""

    name: str
    handling: str
    result: object = field(repr=False)


@dataclass(frozen=True)
class Estimands:
    """Every estimand of a report, with the ICE table they share and where it came from."""

    ice: pd.DataFrame = field(repr=False)
    source: str
    method: str
    estimands: tuple[Estimand, ...]


def ice_rows(config, data: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The ICE table of the analysed subjects and its source in words."""
    keys = dict(subject=config.subject, visit=config.visit, response=config.response)
    if config.ice_flag is not None:
        rows, source = ice_table(data, **keys, flag=config.ice_flag), f"record flag {config.ice_flag} = 'Y'"
    elif config.ice_date is not None:
        rows = ice_table(data, **keys, event_date=config.ice_date, date=config.date)
        source = f"first visit after {config.ice_date} ({config.date} after the ICE date)"
    if config.ice is None:
        if config.ice_flag is None and config.ice_date is None:
            rows, source = ice_table(data, **keys), "dropout (first visit after the last observed response)"
        if config.ice_where is not None:
            selected = parse_where(config.ice_where, "ice_where").mask(data)
            eligible = data.loc[selected, config.subject].unique()
            rows = rows.loc[rows[config.subject].isin(eligible)]
            source += f", for subjects with a record where {config.ice_where}"
        return rows.drop(columns=STRATEGY_COLUMN), source  # the estimands give the strategies
    rows = read_table(config.ice)
    missing = [c for c in (config.subject, config.visit) if c not in rows.columns]
    if missing:
        raise DataError(f"ICE file '{config.ice}' has no column {', '.join(map(repr, missing))} (it "
                        f"needs the subject '{config.subject}' and the first affected visit "
                        f"'{config.visit}')")
    columns = [config.subject, config.visit] + ([STRATEGY_COLUMN] if STRATEGY_COLUMN in rows.columns else [])
    rows = rows[columns]
    analysed = set(data[config.subject])
    outside = ~rows[config.subject].isin(analysed)
    if outside.any():
        raise DataError(f"ICE file '{config.ice}': subject {rows[config.subject][outside].iloc[0]!r} is not "
                        "among the analysed subjects (population and record selection applied)")
    return rows, f"ICE file {Path(config.ice).name}"


def estimand_names(config, ice: pd.DataFrame) -> tuple[str, ...]:
    """``config.estimands``, or the default: TABLE when the ICE file has strategies, else MAR and JR."""
    if config.estimands:
        return config.estimands
    return ("TABLE",) if STRATEGY_COLUMN in ice.columns else ("MAR", "JR")


def run_estimands(fit, config, data: pd.DataFrame, reference, progress: bool | None = None) -> Estimands:
    """Every estimand of ``config`` from the primary MMRM ``fit`` of the analysed ``data``."""
    ice, source = ice_rows(config, data)
    names = estimand_names(config, ice)
    if "TABLE" in names and STRATEGY_COLUMN not in ice.columns:
        raise DataError(f"estimand TABLE uses the ICE file's '{STRATEGY_COLUMN}' column, but "
                        + (f"'{config.ice}' has none" if config.ice else "there is no ICE file (--ice)"))
    ice = _as_visit_labels(ice, config.visit, fit.design.position_labels)
    out = [Estimand(name, HANDLING[name],
                    _estimate(fit, _with_strategy(ice, name), config, reference, progress)) for name in names]
    return Estimands(ice, source, config.estimand_method, tuple(out))


def _as_visit_labels(ice: pd.DataFrame, visit: str, labels) -> pd.DataFrame:
    """``ice`` with its visits as the analysis' visit ``labels`` (an ICE file's visits are read as text)."""
    by_text = {str(v): v for v in labels}
    return ice.assign(**{visit: [by_text.get(str(v), v) for v in ice[visit]]})


def _with_strategy(ice: pd.DataFrame, name: str) -> pd.DataFrame:
    """The ICE rows of estimand ``name``: the file's own strategies (TABLE) or ``name`` for every row."""
    return ice if name == "TABLE" else ice.assign(**{STRATEGY_COLUMN: name})


def check_before_fit(config, data: pd.DataFrame) -> None:
    """What makes an estimand of ``config`` impossible with the analysed ``data``, checked before
    the primary MMRM is fitted (:mod:`trialmlm.estimands.feasibility`): too few subjects in an arm
    for the jackknife (``estimand_method`` condmean), and for each estimand an ICE table that
    leaves the imputation model no observed value (overall or in one arm).  The rest (visits and
    subjects of an ICE file, strategies) is checked where the estimands run."""
    if _imputation_method(config) == CondMean("jackknife"):
        per_arm = data.groupby(config.arm, observed=True)[config.subject].nunique()
        check_jackknife_subjects(per_arm.to_dict(), config.arm)
    ice, _ = ice_rows(config, data)
    observed, visits, arms = observation_matrix(data, config.subject, config.visit, config.response,
                                                config.arm)
    ice = _as_visit_labels(ice, config.visit, visits)
    for name in estimand_names(config, ice):
        if name == "TABLE" and STRATEGY_COLUMN not in ice.columns:
            continue  # run_estimands names the missing column
        labels, ice_visit, n_mar = subject_events(_with_strategy(ice, name), config.subject, config.visit,
                                                  observed.index, visits)
        seen = observed.to_numpy()
        check_observed_left(seen, excluded_values(seen, n_mar), labels, ice_visit, arms.cat.codes.to_numpy(),
                            list(arms.cat.categories), config.arm, visits)


#: ``estimand_method`` -> the name of its method in :data:`trialmlm.estimands.METHODS` and the
#: method's arguments given ``n`` (the config's ``imputations``).
METHOD_ARGUMENTS = {
    "condmean": ("condmean", lambda n: ()),
    "bootstrap": ("condmean", lambda n: ("bootstrap", n)),
    "approxbayes": ("approxbayes", lambda n: (n,)),
    "bmlmi": ("bmlmi", lambda n: (n, 2)),
}


def _imputation_method(config):
    """The method value of ``config.estimand_method`` (:data:`METHOD_ARGUMENTS`)."""
    name, arguments = METHOD_ARGUMENTS[config.estimand_method]
    return method(name, *arguments(config.imputations))


def _estimate(fit, ice: pd.DataFrame, config, reference, progress):
    """One estimand by ``config.estimand_method`` through the estimand pipeline, every method
    with the same ANCOVA per visit (the numbers of :func:`trialmlm.estimands.condmean`,
    :func:`~trialmlm.estimands.impute` and :func:`~trialmlm.estimands.bmlmi`)."""
    imputation_method = _imputation_method(config)
    seed = None if imputation_method.n_samples is None else config.seed  # the jackknife draws nothing
    model = ImputationModel(fit, ice=ice, arm=config.arm, reference=reference)
    draws = model.draws(imputation_method, seed, config.workers, progress)
    return draws.impute().analyse(Ancova(list(config.covariates))).pool()


def check_estimands(values) -> None:
    """DataError for an ``estimands`` entry that is neither a strategy nor TABLE."""
    known = [*ICE_STRATEGIES, "TABLE"]
    bad = [v for v in values if v not in known]
    if bad:
        raise DataError(f"estimands: {bad[0]!r} is not one of {', '.join(known)}")
