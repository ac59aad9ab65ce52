"""Several parameters in one run: which PARAMCDs, and each one's :class:`AnalysisConfig`.

A run names its parameters by ``param``: one PARAMCD (a single-parameter run, as always),
a list (``--param ACTOT CIBIC NPIX``, TOML ``param = ["ACTOT", "CIBIC"]``) or ``all``
(every PARAMCD of the data file, in PARAMN order when the file has PARAMN, else in the order
they first appear).  A TOML file may add ``[[parameter]]`` tables, each with ``param`` and
any key of the analysis but those of the run (:data:`RUN_KEYS`): its settings override the
file's for that parameter (``decimals``, ``covariates``, ``response``, ``covariance``,
``where``, ``title``, ``unit``, ...); without ``param`` in the run the tables name the
parameters, in their order.  Command-line options override both.
"""

from __future__ import annotations

from ..errors import DataError
from .config import FIELDS, AnalysisConfig, config_values, load_toml, make_config

#: ``param`` value that selects every parameter of the data file.
ALL = "all"
#: Keys that belong to the run, not to one parameter: one data file, one report folder.
RUN_KEYS = ("data", "adsl", "out", "overwrite", "figures", "workers", "param")


def load_parameters(path) -> list[dict]:
    """The ``[[parameter]]`` tables of a TOML file (none: an empty list), each checked for its
    keys: ``param`` (a PARAMCD) and the keys of an analysis but :data:`RUN_KEYS`."""
    tables = load_toml(path).get("parameter", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise DataError(f"config file '{path}': parameter must be an array of tables ([[parameter]])")
    known = [k for k in FIELDS if k not in RUN_KEYS]
    out = []
    for i, table in enumerate(tables, start=1):
        where = f"config file '{path}', [[parameter]] {i}"
        code = table.get("param")
        if not isinstance(code, str) or code == ALL:
            raise DataError(f"{where}: param must name one PARAMCD, got {code!r}")
        out.append({"param": code, **config_values(where, {k: v for k, v in table.items() if k != "param"},
                                                    known)})
    return out


def parameter_codes(param, tables: list[dict], data: str | None) -> list:
    """The PARAMCDs of a run, in report order: ``param`` (one, a list, or :data:`ALL`); without
    it, those of the ``[[parameter]]`` tables; None: the run names no parameter."""
    if param is None:
        return [t["param"] for t in tables] or [None]
    if not (isinstance(param, str) or (isinstance(param, (list, tuple)) and param
                                       and all(isinstance(c, str) for c in param))):
        raise DataError(f"param must be a PARAMCD, a list of them or {ALL!r}, got {param!r}")
    codes = [param] if isinstance(param, str) else list(param)
    if ALL in codes:
        if len(codes) > 1:
            raise DataError(f"param {ALL!r} selects every parameter; give it alone, got {', '.join(codes)}")
        return data_parameters(data)
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        raise DataError(f"param names {', '.join(repeated)} more than once")
    return codes


def data_parameters(data: str) -> list[str]:
    """Every PARAMCD of the data file: in PARAMN order when it has PARAMN, else in the order
    they first appear (DataError without a PARAMCD column)."""
    from ..data.io import read_table

    df = read_table(data)
    if "PARAMCD" not in df.columns:
        raise DataError(f"param {ALL!r}: {data} has no PARAMCD column")
    rows = df.loc[df["PARAMCD"].notna()]
    if "PARAMN" in rows.columns:
        rows = rows.sort_values("PARAMN", kind="stable")
    return [str(c) for c in dict.fromkeys(rows["PARAMCD"])]


def make_configs(values: dict, tables: list[dict] = (),
                 overrides: dict | None = None) -> list[AnalysisConfig]:
    """One checked config per parameter of the run (:func:`parameter_codes`): ``values`` (the
    file's), then the parameter's table, then ``overrides`` (the command line); every config
    is made (and checked) before any analysis runs."""
    overrides = dict(overrides or {})
    run = {**values, **overrides}
    if run.get("data") is None:
        raise DataError("no data file given")
    per = {t["param"]: t for t in tables}
    codes = parameter_codes(run.get("param"), tables, run["data"])
    return [make_config(**{**values, **per.get(code, {}), **overrides, "param": code}) for code in codes]
