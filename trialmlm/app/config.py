"""The choices of one analysis: :class:`AnalysisConfig`, read from a TOML file
(:func:`load_config`) or the command line, checked by :func:`make_config` before any work.

Every field has one name: the TOML key, the ``trialmlm analyze`` option (with dashes) and,
for the record selection, the keyword of :func:`trialmlm.read`.  Values are checked for
their type first (a TOML ``alpha = "0.05"`` or ``sensitivity = "false"`` is an error
naming the key, not a traceback after the analysis ran), then for their meaning.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from pathlib import Path

from ..covariance import STRUCTURES
from ..errors import DataError
from ..inference.methods import DDF_METHODS


@dataclass(frozen=True)
class ModelKind:
    """What one kind of model (``model=``) is: its formula, its defaults and what the report
    makes of it.  Chosen once by name from :data:`MODEL_KINDS`; every consumer (config checks,
    the report's analysis kinds) asks the kind instead of comparing ``model`` strings.

    ``estimates``: the words of Table 2 (``{time}``: the time column); ``trend``: the
    estimates are slopes in the continuous time (the time is the x axis); ``by_visit``: LS
    means at each visit; ``per_visit``: one fit per visit (or ``at_visit``); ``structures``:
    the default residual structures, ``extra_structures`` the names allowed besides
    :data:`trialmlm.covariance.STRUCTURES`, ``covariance``: whether it takes one at all;
    ``imputation_model``: multiple imputation and estimands can build on it; ``mar_based``:
    it handles missing values itself (derived records such as LOCF are warned about);
    ``ddf``: the default df method; ``figures``: the model figures of the report
    (:data:`trialmlm.app.report.MODEL_FIGURES`); ``endpoint``: the endpoint it analyses
    ("continuous" or "binary"; :data:`ENDPOINTS`); ``handles_ice``: intercurrent events are
    handled by the model's own strategy (``binary_strategy``), not by estimands;
    ``engine``: how the report reads and fits it (:data:`trialmlm.app.report.ENGINES`);
    ``methods``: the estimation methods it takes (``method``), the first the default;
    ``ddf_methods``: the df methods it takes (``ddf``); ``covariance_selection``: its residual
    structure can be chosen by an information criterion (``covariance_select``); ``defaults``:
    ``(key, value)`` pairs that replace the config's defaults for this kind (cLDA: response AVAL,
    baseline kept); ``change``: the report adds the LS means of the change from baseline
    (Table 2b, cLDA).
    """

    name: str
    estimates: str
    trend: bool = False
    by_visit: bool = False
    per_visit: bool = False
    structures: tuple[str, ...] = ("none",)
    extra_structures: tuple[str, ...] = ()
    covariance: bool = True
    imputation_model: bool = False
    mar_based: bool = True
    ddf: str | None = None
    figures: tuple[str, ...] = ()
    endpoint: str = "continuous"
    handles_ice: bool = False
    engine: str = "linear"
    methods: tuple[str, ...] = ("REML", "ML")
    ddf_methods: tuple[str, ...] = DDF_METHODS
    covariance_selection: bool = False
    defaults: tuple[tuple[str, object], ...] = ()
    change: bool = False

    def check_structures(self, names: tuple[str, ...]) -> None:
        """DataError naming the first of ``names`` that is not a residual structure of this kind."""
        allowed = list(STRUCTURES) + list(self.extra_structures)
        bad = [c for c in names if c not in allowed]
        if bad:
            raise DataError(f"covariance {bad[0]!r} is not one of {', '.join(allowed)}")

    def formula(self, config: AnalysisConfig, structure: str) -> str:
        """The model formula of ``config`` with the residual ``structure``."""
        raise NotImplementedError


class MMRM(ModelKind):
    def formula(self, config: AnalysisConfig, structure: str) -> str:
        fixed = " + ".join([*config.covariates, f"{config.arm} * {config.visit}"])
        return f"{config.response} ~ {fixed} + {structure}({config.visit} | {config.subject})"


class CLDA(ModelKind):
    """cLDA: the baseline as a repeated measurement of the response, one baseline mean for all
    arms, the treatment after baseline only (:mod:`trialmlm.engine.clda`)."""

    def formula(self, config: AnalysisConfig, structure: str) -> str:
        fixed = " + ".join([*config.covariates, f"clda({config.arm}, {config.visit})"])
        return f"{config.response} ~ {fixed} + {structure}({config.visit} | {config.subject})"


class ANCOVA(ModelKind):
    def formula(self, config: AnalysisConfig, structure: str) -> str:
        return f"{config.response} ~ " + " + ".join([*config.covariates, config.arm])


class Slopes(ModelKind):
    def formula(self, config: AnalysisConfig, structure: str) -> str:
        fixed = " + ".join([*config.covariates, f"{config.arm} * {config.time}"])
        residual = ""
        if structure != "none":
            over = config.time if STRUCTURES[structure].spatial else config.visit
            residual = f" + {structure}({over} | {config.subject})"
        return f"{config.response} ~ {fixed} + (1 + {config.time} | {config.subject}){residual}"


class GEE(ModelKind):
    """A marginal logistic model fitted by GEE; ``covariance`` names the working correlation."""

    def check_structures(self, names: tuple[str, ...]) -> None:
        from ..genmod.working import get_working

        for name in names:
            get_working(name)

    def formula(self, config: AnalysisConfig, structure: str) -> str:
        fixed = " + ".join([*config.covariates, f"{config.arm} * {config.visit}"])
        return f"{config.response} ~ {fixed}"


class GLMM(ModelKind):
    """A logistic GLMM (:func:`trialmlm.glmm`) with a random intercept per subject."""

    def formula(self, config: AnalysisConfig, structure: str) -> str:
        fixed = " + ".join([*config.covariates, f"{config.arm} * {config.visit}"])
        return f"{config.response} ~ {fixed} + (1 | {config.subject})"


#: Every model of ``trialmlm analyze``, by its ``model`` name.
MODEL_KINDS = {kind.name: kind for kind in (
    MMRM("mmrm", "MMRM least-squares means", by_visit=True, structures=("us",), imputation_model=True,
         figures=("lsmeans", "differences"), covariance_selection=True),
    CLDA("clda", "cLDA least-squares means", by_visit=True, structures=("us",),
         figures=("lsmeans", "differences"), defaults=(("response", "AVAL"), ("keep_baseline", True)),
         change=True),
    ANCOVA("ancova", "ANCOVA least-squares means", per_visit=True, covariance=False, mar_based=False,
           ddf="residual"),  # every df method gives n - rank(X) for the linear model
    Slopes("slopes", "rate of change per unit {time}", trend=True, extra_structures=("none",),
           figures=("trajectories", "shrinkage"), covariance_selection=True),
    GEE("gee", "response probabilities", by_visit=True, structures=("exchangeable",), mar_based=False,
        endpoint="binary", handles_ice=True, engine="gee", methods=()),
    GLMM("glmm", "response probabilities", by_visit=True, covariance=False, endpoint="binary",
         handles_ice=True, engine="glmm", methods=("QUAD", "LAPLACE"), ddf="containment",
         ddf_methods=("containment", "between-within", "residual", "none")),
)}
MODELS = tuple(MODEL_KINDS)
#: ``endpoint`` -> its default model.
ENDPOINTS = {"continuous": "mmrm", "binary": "gee"}
#: The file formats a report's figures can be written in (``figures``).
FIGURE_FORMATS = ("png", "svg")


def models_with(what: str) -> str:
    """``model='mmrm'`` (or ``model='a' or 'b'``): the kinds that have the flag ``what``."""
    names = [name for name, kind in MODEL_KINDS.items() if getattr(kind, what)]
    return "model=" + " or ".join(f"'{n}'" for n in names)


#: AnalysisConfig fields passed to :func:`trialmlm.read` under the same names.
SELECTION = ("param", "population", "where", "analysis_flag", "keep_dtype", "keep_baseline", "arm_order",
             "reference", "class_variables", "adsl")
#: TOML keys that are another spelling of a field: ``class`` is SAS's word (``--class``).
ALIASES = {"class": "class_variables"}


@dataclass(frozen=True)
class DataSelection:
    """Which records and columns: the data file (and the ADSL merged into it), the roles of
    its columns and the record selection of :func:`trialmlm.read` (:data:`SELECTION`, same
    names)."""

    data: str
    adsl: str | None = None
    response: str = "CHG"
    subject: str = "USUBJID"
    visit: str = "AVISIT"
    arm: str = "TRT01P"
    reference: str | None = None
    arm_order: tuple[str, ...] | None = None
    param: str | None = None
    population: str | None = None
    where: str | None = None
    analysis_flag: str | None = "ANL01FL"
    keep_dtype: tuple[str, ...] = ()
    keep_baseline: bool = False
    class_variables: tuple[str, ...] = ()
    reason: str | None = None
    dropout_time: str | None = None

    @property
    def read_keywords(self) -> dict:
        """The record-selection keywords of :func:`trialmlm.read`."""
        return {k: getattr(self, k) for k in SELECTION}


@dataclass(frozen=True)
class ModelSettings:
    """The model: its kind (:data:`MODEL_KINDS`), covariates, time, the ANCOVA's visit, the
    residual structures to try and the estimation method."""

    model: str = "mmrm"
    covariates: tuple[str, ...] = ()
    subgroups: tuple[str, ...] = ()
    time: str = "TIME"
    at_visit: str | None = None
    covariance: tuple[str, ...] | None = None
    covariance_select: tuple[str, ...] | None = None
    allow_nonconvergence: bool = False
    method: str = "REML"
    quadrature_points: int | None = None


@dataclass(frozen=True)
class InferenceSettings:
    """Degrees of freedom, the significance level and the LS-means weights
    (:data:`trialmlm.inference.grid.WEIGHTS`)."""

    ddf: str = "kenward-roger"
    alpha: float = 0.05
    lsmeans_weights: str = "equal"


@dataclass(frozen=True)
class SensitivitySettings:
    """Multiple imputation: whether the sensitivity analyses run, the number of imputations
    (also the samples of the estimand methods), tipping-point deltas, seed and processes."""

    sensitivity: bool = False
    imputations: int = 100
    deltas: tuple[float, ...] | None = None
    seed: int = 2026
    workers: int = 1


@dataclass(frozen=True)
class EstimandSettings:
    """The estimands, the source of the intercurrent events and the estimation method."""

    estimands: tuple[str, ...] = ()
    ice: str | None = None
    ice_flag: str | None = None
    ice_date: str | None = None
    ice_where: str | None = None
    date: str = "ADT"
    estimand_method: str = "condmean"


@dataclass(frozen=True)
class EndpointSettings:
    """The endpoint (:data:`ENDPOINTS`) and, for a binary one, how a record's responder status
    is derived (:func:`trialmlm.data.responders.responder_status`: the ``response`` flag, its
    ``responder_values``, or the ``responder`` expression, stored as ``response``) and how
    intercurrent events are handled (:data:`trialmlm.app.binary_strategies.BINARY_STRATEGIES`)."""

    endpoint: str = "continuous"
    responder: str | None = None
    responder_values: tuple[str, ...] | None = None
    binary_strategy: str = "observed"


@dataclass(frozen=True)
class OutputSettings:
    """The report folder and what its tables say: decimals, header and footer lines, title, unit;
    the file formats of its figures (:data:`FIGURE_FORMATS`)."""

    out: str = "reports/analysis"
    overwrite: bool = False
    figures: tuple[str, ...] = ("png",)
    decimals: int | dict | None = None
    study: str | None = None
    population_label: str | None = None
    program: str | None = None
    title: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class AnalysisConfig:
    """Every choice of one analysis, in sections that mirror the parts of a TOML file: data
    selection (:class:`DataSelection`), model (:class:`ModelSettings`), inference,
    sensitivity, estimands and output.  Every key keeps one flat name: the TOML key, the
    ``trialmlm analyze`` option and the attribute (``config.alpha`` is
    ``config.inference.alpha``); :meth:`from_flat` builds a config of them (:data:`FIELDS`).

    ``model``: a :data:`MODEL_KINDS` name: "mmrm", "clda" (baseline as a repeated measurement,
    response AVAL and ``keep_baseline`` by default), "ancova", "slopes" (random intercept and
    slope in the continuous ``time``), "gee", "glmm".
    ``covariance``: residual structure; default ``us`` for the MMRM and none (independent
    residuals) for slopes, where a spatial structure runs over ``time`` and the others over
    ``visit``.  ``reason`` and ``dropout_time`` default to DCSREAS and AVISITN when the
    data have them; ``unit`` (in the table headers) to the parenthesised end of PARAM,
    e.g. "mL" of "Forced Vital Capacity (mL)".
    ``deltas``: shifts of the tipping point, applied after dropout in every arm but the
    reference (default: round steps from 0 to 2 SDs of the response at the last visit,
    towards the null: :func:`trialmlm.estimands.tipping_point`).
    Estimands (:mod:`trialmlm.app.estimand_report`): ``estimands`` (strategies MAR, JR, CR, CIR,
    LMCF applied to every subject's intercurrent event, or TABLE: the ICE file's own);
    the events from ``ice`` (a file), ``ice_flag`` (a record flag, "Y" at and after the
    event) or ``ice_date`` (a subject-level date against the record ``date``), else
    dropout, for the subjects with a record where ``ice_where`` holds (all without it);
    giving a source without ``estimands`` runs TABLE (a file with ``strategy``)
    or MAR and JR.  ``estimand_method``: how each is estimated.

    Binary endpoint (:class:`EndpointSettings`, ``endpoint="binary"``; model ``gee``):
    ``response`` is a Y/N flag (CRIT1FL), or a column whose ``responder_values`` are
    responses (AVALC), or, with ``responder`` (an expression such as ``"PCHG <= -50"``),
    the name of the derived status (default RESPONDER); ``covariance`` is the GEE working
    correlation (default exchangeable); the ICE sources feed ``binary_strategy``
    (``nonresponder``: composite, ``observed``: observed case; without a source the event
    is dropout).

    Record selection (:func:`trialmlm.read`, same names): ``param``, ``population``,
    ``where``, ``analysis_flag``, ``keep_dtype``, ``keep_baseline``; ``arm_order`` (every
    level; default the numeric companion TRTPN / TRT01PN, reference arm first);
    ``class_variables`` (SAS CLASS: columns made factors, numeric codes in numeric order;
    ``--class`` on the command line, ``class`` or ``class_variables`` in TOML).
    ``covariates``: terms of the mean model, columns or ``C(SITEGR1)``.
    ``subgroups``: columns (e.g. ADSL's SEX, AGEGR1) of the subgroup analyses of the MMRM
    (:func:`trialmlm.subgroups`: Table 8 and Figure 9).
    ``covariance``: one structure, or several tried in order (the first that converges
    with a positive-definite Hessian is used).  ``covariance_select``: a criterion (aic, aicc,
    bic) and two or more structures, e.g. ``["aicc", "us", "toeph", "ar1h", "cs"]``: each is
    fitted and the usable one with the smallest criterion is used
    (:func:`trialmlm.select_covariance`); not with ``covariance``.  ``lsmeans_weights``: how
    the LS means weight the levels of the other factors, "equal" (default, SAS), "proportional"
    (SAS OM), "outer" or "cells" (emmeans; docs/inference.md).  ``allow_nonconvergence``: write the
    report of a fit that did not converge (every table then says so) instead of stopping.
    ``decimals``: data decimals of the response (an integer, or a table PARAMCD ->
    integer in TOML); default the data's precision when every value has at most 2
    decimals, else 1.  ``at_visit``: the visit of an ANCOVA (``model="ancova"``); without
    it, one ANCOVA per visit.  ``study``, ``population_label``, ``program``: the header
    and footer lines of every table (defaults: STUDYID, the population flag's name,
    "trialmlm VERSION analyze").  ``overwrite``: replace an ``out`` folder written by an
    earlier trialmlm version (a previous report is always replaced as a whole; a folder
    holding files that trialmlm did not write never is: :mod:`trialmlm.app.report_folder`).
    ``figures``: the formats each figure is written in, ``png`` (default) and/or ``svg``
    (``--figures png,svg``; a list or a comma-separated text in TOML).
    """

    selection: DataSelection
    modelling: ModelSettings = ModelSettings()
    inference: InferenceSettings = InferenceSettings()
    sensitivity_analysis: SensitivitySettings = SensitivitySettings()
    estimand_analysis: EstimandSettings = EstimandSettings()
    endpoint_analysis: EndpointSettings = EndpointSettings()
    output: OutputSettings = OutputSettings()

    @classmethod
    def from_flat(cls, **values) -> AnalysisConfig:
        """The config of flat keyword arguments (the TOML keys), each given to its section."""
        return cls(**{attr: section(**{k: v for k, v in values.items() if _OWNER.get(k) == attr})
                      for attr, section in SECTIONS})

    def __getattr__(self, name: str):
        """Every key by its flat name (``config.alpha`` is ``config.inference.alpha``)."""
        section = _OWNER.get(name)
        if section is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return getattr(getattr(self, section), name)

    def flat(self) -> dict:
        """Every key and its value, section by section (the ``settings`` of analysis_results.json)."""
        return {k: v for attr, _ in SECTIONS for k, v in dataclasses.asdict(getattr(self, attr)).items()}

    @property
    def kind(self) -> ModelKind:
        """The model's kind (:data:`MODEL_KINDS`)."""
        return MODEL_KINDS[self.model]

    @property
    def structures(self) -> tuple[str, ...]:
        """The residual structures to try, in order, or the candidates of ``covariance_select``
        (default: the model kind's)."""
        if self.covariance_select:
            return self.covariance_select[1:]
        return self.covariance or self.kind.structures

    def formula_with(self, structure: str) -> str:
        """The model formula with the residual ``structure``."""
        return self.kind.formula(self, structure)

    @property
    def ice_sources(self) -> list[str]:
        """The ICE sources given: ``ice``, ``ice_flag``, ``ice_date`` (none: dropout)."""
        return [name for name in ("ice", "ice_flag", "ice_date") if getattr(self, name) is not None]

    @property
    def has_estimands(self) -> bool:
        """Whether the report has estimand analyses: ``estimands``, or an ICE source or
        ``ice_where`` for a model kind that does not handle the events itself."""
        events = bool(self.ice_sources or self.ice_where is not None)
        return bool(self.estimands) or (events and not self.kind.handles_ice)

    @property
    def covariate_columns(self) -> tuple[str, ...]:
        """The columns the ``covariates`` name: ``SITEGR1`` for ``C(SITEGR1)``, both columns of
        ``BASE:AGE``; in order, each once."""
        from ..engine.design import formula_variables

        columns = [c for term in self.covariates for c in formula_variables(term)]
        return tuple(dict.fromkeys(columns))

    @property
    def formula(self) -> str:
        """The model formula with the first structure."""
        return self.formula_with(self.structures[0])

    def data_decimals(self) -> int | None:
        """``decimals`` for this analysis' parameter (None: from the data)."""
        if isinstance(self.decimals, dict):
            return self.decimals.get(self.param) if self.param is not None else None
        return self.decimals



#: The sections of :class:`AnalysisConfig`: (attribute, dataclass), in the order of the docs.
SECTIONS = (("selection", DataSelection), ("modelling", ModelSettings), ("inference", InferenceSettings),
            ("sensitivity_analysis", SensitivitySettings), ("estimand_analysis", EstimandSettings),
            ("endpoint_analysis", EndpointSettings), ("output", OutputSettings))
#: Flat key (TOML key, option, field of a section) -> the attribute of its section.
_OWNER = {f.name: attr for attr, section in SECTIONS for f in dataclasses.fields(section)}
#: Every key of a config: the TOML keys, the ``trialmlm analyze`` options (dashes for underscores).
FIELDS = tuple(_OWNER)


def load_toml(path) -> dict:
    """A TOML file as a dict; DataError naming a missing file or the syntax error."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise DataError(f"config file '{path}' does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"config file '{path}' is not valid TOML: {exc}") from None


def known_keys(where: str, values: dict, known) -> dict:
    """``values`` as a dict; DataError ``"{where}: unknown key(s) ...; known: ..."`` for any
    key not in ``known``."""
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise DataError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return dict(values)


def load_config(path) -> dict:
    """The ``[analysis]`` table (or the top level, without the ``[[parameter]]`` tables of
    :mod:`trialmlm.app.parameters`) of a TOML file, as keyword arguments (:data:`ALIASES`
    under their field's name)."""
    raw = load_toml(path)
    top = {k: v for k, v in raw.items() if k != "parameter"}
    return config_values(f"config file '{path}'", raw.get("analysis", top), list(FIELDS))


def config_values(where: str, values: dict, known: list[str]) -> dict:
    """``values`` with :data:`ALIASES` under their field's name; DataError ``"{where}: ..."`` for
    a key not in ``known`` (nor an alias of one) or a field given under both names."""
    values = known_keys(where, values, known + [a for a, name in ALIASES.items() if name in known])
    for alias, name in ALIASES.items():
        if alias in values:
            if name in values:
                raise DataError(f"{where}: give {alias} or {name}, not both")
            values[name] = values.pop(alias)
    return values


def _text(value) -> bool:
    return isinstance(value, str)


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _texts(value) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _label(value) -> bool:  # an arm level: text or a number
    return isinstance(value, str) or _number(value)


#: Field -> (check, what the field must be); every field of AnalysisConfig is listed.
KINDS = {
    **{name: (_text, "a text") for name in (
        "data", "adsl", "out", "response", "subject", "visit", "arm", "model", "time", "method", "ddf",
        "param", "population", "where", "analysis_flag", "reason", "dropout_time", "title", "unit",
        "at_visit", "study", "population_label", "program", "ice", "ice_flag", "ice_date", "date",
        "estimand_method", "ice_where", "endpoint", "responder", "binary_strategy", "lsmeans_weights")},
    "responder_values": (lambda v: _label(v) or (isinstance(v, (list, tuple)) and all(map(_label, v))),
                         "a value or a list of values"),
    "reference": (_label, "an arm level (a text or a number)"),
    "arm_order": (lambda v: isinstance(v, (list, tuple)) and all(_label(x) for x in v),
                  "a list of arm levels"),
    "covariates": (lambda v: _text(v) or _texts(v), "a column name or a list of column names"),
    "covariance": (lambda v: _text(v) or _texts(v), "a structure name, a comma-separated text or a list"),
    "covariance_select": (lambda v: _text(v) or _texts(v),
                          "a criterion and structures: a comma-separated text or a list"),
    "keep_dtype": (lambda v: _text(v) or _texts(v), "a DTYPE value or a list of them"),
    "class_variables": (lambda v: _text(v) or _texts(v), "a column name or a list of column names"),
    "subgroups": (lambda v: _text(v) or _texts(v), "a column name or a list of column names"),
    "estimands": (lambda v: _text(v) or _texts(v), "a strategy, a comma-separated text or a list"),
    "figures": (lambda v: _text(v) or _texts(v), "a format, a comma-separated text or a list"),
    "deltas": (lambda v: isinstance(v, (list, tuple)) and all(_number(x) for x in v), "a list of numbers"),
    "decimals": (lambda v: _integer(v) or (isinstance(v, dict) and all(map(_integer, v.values()))),
                 "an integer, or a table PARAMCD = integer"),
    **{name: (lambda v: isinstance(v, bool), "true or false") for name in (
        "sensitivity", "keep_baseline", "allow_nonconvergence", "overwrite")},
    "alpha": (_number, "a number between 0 and 1"),
    **{name: (_integer, "an integer") for name in ("imputations", "seed", "workers", "quadrature_points")},
}


def _check_kinds(values: dict) -> None:
    """DataError naming the first value of the wrong type (before any work is done)."""
    for name, value in values.items():
        check, what = KINDS[name]
        if not check(value):
            raise DataError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")


def _names(value) -> tuple[str, ...]:
    """Names from a list, or from a comma-separated text ("us,toeph,ar1h")."""
    if isinstance(value, str):
        value = value.split(",")
    return tuple(str(v).strip() for v in value if str(v).strip())


def _coerce(values: dict) -> dict:
    """Lists as tuples; one covariate or DTYPE as a one-element tuple; "us,toeph" split."""
    out = dict(values)
    for key in ("covariates", "keep_dtype", "class_variables", "subgroups"):  # one name, or a list of names
        if key in out:
            out[key] = (out[key],) if isinstance(out[key], str) else tuple(out[key])
    for key in ("deltas", "arm_order"):
        if key in out:
            out[key] = tuple(out[key])
    if "responder_values" in out:
        values = out["responder_values"]
        out["responder_values"] = tuple(map(str, [values] if _label(values) else values))
    if out.get("endpoint") in ENDPOINTS:
        out.setdefault("model", ENDPOINTS[out["endpoint"]])
    if "responder" in out:
        out.setdefault("response", "RESPONDER")
    for key in ("covariance", "covariance_select", "estimands", "figures"):
        if key in out:
            out[key] = _names(out[key])
    if "figures" in out:  # "png,png" is one file
        out["figures"] = tuple(dict.fromkeys(out["figures"]))
    kind = MODEL_KINDS.get(out.get("model", "mmrm"))
    for key, value in kind.defaults if kind is not None else ():
        out.setdefault(key, value)
    if kind is not None and kind.ddf is not None:
        out.setdefault("ddf", kind.ddf)
    if kind is not None and kind.methods:
        out.setdefault("method", kind.methods[0])
    if isinstance(out.get("method"), str):
        out["method"] = out["method"].upper()
    return out


def _check_model(config: AnalysisConfig) -> None:
    """The model, its covariance structures and the options that only some models take."""
    if config.model not in MODELS:
        raise DataError(f"model must be one of {', '.join(MODELS)}, got {config.model!r}")
    kind = config.kind
    if not kind.covariance and config.covariance:
        raise DataError(f"model='{kind.name}' has no covariance structure; leave covariance out")
    kind.check_structures(config.covariance or ())
    _check_endpoint(config)
    if len(config.covariance or ()) > 1 and "none" in config.covariance:
        raise DataError("covariance 'none' (no residual structure) cannot be part of a fallback list")
    _check_selection(config)
    if config.at_visit is not None and not kind.per_visit:
        raise DataError(f"at_visit is the visit of an ANCOVA; it needs {models_with('per_visit')}")
    if config.subgroups and kind.name != "mmrm":
        raise DataError("subgroups (--subgroups) are analysed in the MMRM with subgroup x arm x visit terms; "
                        "they need model='mmrm'")
    if config.sensitivity and not kind.imputation_model:
        raise DataError("the sensitivity analyses (multiple imputation) need "
                        f"{models_with('imputation_model')}")
    _check_estimands(config)
    if config.ddf not in kind.ddf_methods:
        raise DataError(f"ddf of model='{kind.name}' must be one of {', '.join(kind.ddf_methods)}, "
                        f"got {config.ddf!r}")
    if kind.methods and config.method not in kind.methods:
        raise DataError(f"method of model='{kind.name}' must be {' or '.join(map(repr, kind.methods))}, "
                        f"got {config.method!r}")
    if config.quadrature_points is not None and config.method != "QUAD":
        raise DataError("quadrature_points (--quadrature-points) is the number of adaptive Gauss-Hermite "
                        "points of model='glmm' with method='QUAD'")


def _check_selection(config: AnalysisConfig) -> None:
    """``covariance_select``: a criterion and two or more structures of a model kind that takes
    it, not with ``covariance``; ``lsmeans_weights``: one of the grid's weightings."""
    from ..engine.fallback import check_criterion
    from ..inference.grid import WEIGHTS

    if config.lsmeans_weights not in WEIGHTS:
        raise DataError(f"lsmeans_weights must be one of {', '.join(WEIGHTS)}, "
                        f"got {config.lsmeans_weights!r}")
    if config.lsmeans_weights != "equal" and config.endpoint != "continuous":
        raise DataError("lsmeans_weights weights the LS means of a continuous endpoint's model")
    if config.covariance_select is None:
        return
    if config.covariance is not None:
        raise DataError("give covariance (one structure or a fallback list, --covariance) or "
                        "covariance_select (a criterion and candidates, --covariance-select), not both")
    if not config.kind.covariance_selection:
        raise DataError("covariance_select chooses the residual structure of "
                        f"{models_with('covariance_selection')}")
    criterion, *candidates = config.covariance_select or ("",)
    check_criterion(criterion)
    if len(candidates) < 2 or "none" in candidates:
        raise DataError(f"covariance_select needs a criterion and two or more structures, e.g. aicc us toeph "
                        f"ar1h cs; got {' '.join(config.covariance_select)}")
    config.kind.check_structures(tuple(candidates))


def _check_endpoint(config: AnalysisConfig) -> None:
    """The endpoint, its model and the responder definition."""
    from .binary_strategies import BINARY_STRATEGIES

    if config.endpoint not in ENDPOINTS:
        raise DataError(f"endpoint must be one of {', '.join(ENDPOINTS)}, got {config.endpoint!r}")
    if config.kind.endpoint != config.endpoint:
        raise DataError(f"model='{config.model}' analyses a {config.kind.endpoint} endpoint, not a "
                        f"{config.endpoint} one; leave model out (default {ENDPOINTS[config.endpoint]})")
    binary = {k: getattr(config, k) for k in ("responder", "responder_values")}
    given = [k for k, v in binary.items() if v is not None]
    if given and config.endpoint != "binary":
        raise DataError(f"{given[0]} defines a responder; it needs endpoint='binary' (--endpoint binary)")
    if len(given) > 1:
        raise DataError("give responder (an expression) or responder_values (values of the response column), "
                        "not both")
    if config.responder is not None:
        from ..data.responders import parse_responder

        parse_responder(config.responder)  # a syntax error before any work
    if config.binary_strategy not in BINARY_STRATEGIES:
        raise DataError(f"binary_strategy must be one of {', '.join(BINARY_STRATEGIES)}, "
                        f"got {config.binary_strategy!r}")


def _check_estimands(config: AnalysisConfig) -> None:
    """Estimand names, one ICE source, the method; estimands need the MMRM."""
    from ..data.where import parse_where
    from .estimand_report import METHODS, check_estimands

    check_estimands(config.estimands)
    if len(config.ice_sources) > 1:
        raise DataError(f"give one source of intercurrent events, not {' and '.join(config.ice_sources)}")
    if config.ice_where is not None and config.ice is not None:
        raise DataError("ice_where selects the subjects of a derived ICE (dropout, ice_flag, ice_date); an "
                        "ICE file lists its subjects itself")
    if config.ice_where is not None:
        parse_where(config.ice_where, "ice_where")  # a syntax error before any work
    if config.has_estimands and not config.kind.imputation_model:
        raise DataError("the estimand analyses (imputation from the MMRM) need "
                        f"{models_with('imputation_model')}")
    if config.estimand_method not in METHODS:
        raise DataError(f"estimand_method must be one of {', '.join(METHODS)}, "
                        f"got {config.estimand_method!r}")


def _check_ranges(config: AnalysisConfig) -> None:
    """Numbers within their ranges: decimals, alpha, imputations, workers, seed."""
    decimals = config.decimals.values() if isinstance(config.decimals, dict) else [config.decimals]
    if any(d is not None and not 0 <= d <= 6 for d in decimals):
        raise DataError(f"decimals must be an integer from 0 to 6 (or a table PARAMCD = integer), "
                        f"got {config.decimals!r}")
    if not 0 < config.alpha < 1:
        raise DataError(f"alpha must be between 0 and 1, got {config.alpha}")
    for name, least in (("imputations", 1), ("workers", 1), ("seed", 0), ("quadrature_points", 1)):
        if getattr(config, name) is not None and getattr(config, name) < least:
            raise DataError(f"{name} must be at least {least}, got {getattr(config, name)}")
    uses = _imputations_used_by(config)
    if uses and config.imputations < 2:
        raise DataError(f"imputations (--imputations) must be at least 2 for {uses}, got "
                        f"{config.imputations}")


def figure_formats(value) -> tuple[str, ...]:
    """The figure file formats given as a list or a comma-separated text (``"png,svg"``),
    repeats dropped; DataError unless there is at least one and each is one of
    :data:`FIGURE_FORMATS`."""
    if not (_text(value) or _texts(value)):
        raise DataError(f"must be a format, a comma-separated text or a list, got {value!r}")
    formats = tuple(dict.fromkeys(_names(value)))
    if not formats or any(f not in FIGURE_FORMATS for f in formats):
        raise DataError(f"must be {' and/or '.join(FIGURE_FORMATS)}, e.g. --figures png,svg; got "
                        f"{','.join(formats) or 'nothing'}")
    return formats


def _check_figures(config: AnalysisConfig) -> None:
    """``figures``: at least one format, each of :data:`FIGURE_FORMATS` (:func:`figure_formats`)."""
    try:
        figure_formats(config.figures)
    except DataError as exc:
        raise DataError(f"figures (--figures) {exc}") from None


def _imputations_used_by(config: AnalysisConfig) -> str | None:
    """What uses ``imputations`` in this analysis, in words (None: nothing; the jackknife of
    estimand_method condmean has no samples to count)."""
    if config.has_estimands and config.estimand_method != "condmean":
        return f"estimand_method {config.estimand_method} (--estimand-method)"
    if config.sensitivity:
        return "the sensitivity analyses (--sensitivity)"
    return None


def make_config(**values) -> AnalysisConfig:
    """Check the values (types first, then meaning) and build the config; DataError naming
    the bad value."""
    values = {k: v for k, v in values.items() if v is not None}
    unknown = sorted(set(values) - set(KINDS))
    if unknown:
        raise DataError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(KINDS))}")
    if "data" not in values:
        raise DataError("no data file given")
    _check_kinds(values)
    config = AnalysisConfig.from_flat(**_coerce(values))
    _check_model(config)
    _check_ranges(config)
    _check_figures(config)
    return config
