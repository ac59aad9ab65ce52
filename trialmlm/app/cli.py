"""Command line: ``trialmlm analyze``, ``trialmlm demo`` and ``trialmlm fit``.

Thin by design: arguments -> :mod:`trialmlm.app.report` / :func:`trialmlm.fit` -> files.  User
errors end with a one-line message and exit code 2, never a traceback; a model without a
usable fit (no covariance structure converged) with exit code 3, unless
``--allow-nonconvergence``.

Quick to start: this module and the parser import numpy at most; pandas, scipy, matplotlib and
the fitting code are imported by the command that runs (``trialmlm --help`` in about 0.3 s),
inside :func:`trialmlm.entry.starting`, where Ctrl-C ends the process at once with one line.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from ..covariance import STRUCTURES, get_structure
from ..data.vocabulary import command_line, from_config_file
from ..entry import EXIT_INTERRUPTED, INTERRUPTED, starting
from ..errors import ConvergenceError, TrialMLMError
from ..inference.methods import DDF_METHODS
from .config import ENDPOINTS, FIELDS, FIGURE_FORMATS, MODELS, load_config, make_config
from .report_folder import check_file, check_folder, report_folder

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"
DEMO = dict(data=str(SAMPLE_DATA / "depression_trial.csv"), param="HAMD17", response="CHG",
            subject="USUBJID", visit="AVISIT", arm="TRT01P", reference="Placebo", covariates=("BASE",),
            arm_order=("Placebo", "Drug 10 mg", "Drug 20 mg"),  # the file has no TRT01PN
            covariance="us", ddf="kenward-roger", sensitivity=True, workers=min(2, os.cpu_count() or 1),
            title="Demo: HAMD-17 change from baseline, simulated three-arm depression trial")
TRAJECTORY_DEMO = dict(data=str(SAMPLE_DATA / "long_term_trial.csv"), param="FVC", response="AVAL",
                       keep_baseline=True,  # the trajectory of AVAL starts at time 0
                       subject="USUBJID", visit="AVISIT", arm="TRT01P", reference="Placebo", model="slopes",
                       time="TIME", ddf="kenward-roger",
                       title="Demo: FVC decline, simulated two-year trial with irregular visit times")
EXAMPLE_FORMULA = "CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)"
#: Command -> the module whose import loads the libraries it needs (pandas, scipy, matplotlib).
COMMAND_MODULES = {"analyze": "trialmlm.app.report", "demo": "trialmlm.app.report", "fit": "trialmlm.api",
                   "power": "trialmlm.power.report", "simulate": "trialmlm.power.report"}


def write_fit(result, out: Path) -> list[Path]:
    """Write the SAS-style summary and the tidy tables of ``result`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "summary.txt": result.summary(),
        "fixed_effects.csv": result.coef_table().to_csv(),
        "covariance_parameters.csv": result.covariance_parameters_table().to_csv(),
    }
    if result.spec.random_effects:
        files["random_effects_covariance.csv"] = result.random_effects_covariance.to_csv()
        blups = result.random_effects(se=True)  # one table per grouping factor
        names = {f: f"random_effects_{f}.csv" if len(blups) > 1 else "random_effects.csv" for f in blups}
        files.update({names[f]: table.to_csv(index=False) for f, table in blups.items()})
    if result.spec.positions:  # a residual structure over visits or coordinates
        groups = result.group_labels if result.spec.group else [None]
        for g in groups:
            suffix = "" if g is None else f"_{g}"
            files[f"covariance_matrix{suffix}.csv"] = result.covariance_matrix(g).to_csv()
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text)
        written.append(path)
    return written


def _read_for(formula: str, path: str, param: str | None):
    """Read ``path`` with the formula's subject (and visit, ordered by AVISITN when present)."""
    from ..data.io import read
    from ..engine.formula import parse_formula  # imports formulaic and pandas (start-up time)

    parsed = parse_formula(formula)
    term = parsed.covariance
    visit = term.positions[0] if term is not None and not get_structure(term.structure).spatial else None
    return read(path, param=param, subject=parsed.subject, visit=visit)


def _analysis_arguments(p: argparse.ArgumentParser) -> None:
    """Every option of ``analyze`` and ``demo`` (the keys of the config, dashes for underscores)."""
    _role_and_model_arguments(p)
    _selection_and_table_arguments(p)
    _imputation_and_folder_arguments(p)


def _role_and_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", choices=list(ENDPOINTS),
                   help="continuous (default: MMRM) or binary (responders: GEE, logit link)")
    p.add_argument("--response", help="response column (default CHG; AVAL for --model clda); binary: a Y/N "
                                      "flag such as CRIT1FL, the column of --responder-values or the name of "
                                      "--responder's status")
    p.add_argument("--responder", help="binary: responder where this holds, e.g. \"PCHG <= -50\" "
                                       "(missing where a column it reads is missing)")
    p.add_argument("--responder-values", dest="responder_values", nargs="+", metavar="VALUE",
                   help="binary: the values of --response that are responses, e.g. CR PR")
    p.add_argument("--binary-strategy", dest="binary_strategy",  # checked by make_config
                   help="binary: intercurrent events (--ice...; default dropout): nonresponder (composite: "
                        "non-response from the event on) or observed (default: records after it left out)")
    p.add_argument("--subject", help="subject column (default USUBJID)")
    p.add_argument("--visit", help="visit column (default AVISIT; ordered by AVISITN)")
    p.add_argument("--arm", help="treatment column (default TRT01P)")
    p.add_argument("--reference", help="control arm level (default: the first arm in table order)")
    p.add_argument("--arm-order", dest="arm_order", nargs="+", metavar="LEVEL",
                   help="every arm in table order (default: by the numeric companion, e.g. TRT01PN)")
    p.add_argument("--covariates", nargs="*",
                   help="covariates: columns or factor terms, e.g. BASE \"C(SITEGR1)\"")
    p.add_argument("--class", "--class-variables", dest="class_variables", nargs="+", metavar="COLUMN",
                   help="classification factors (SAS CLASS), e.g. SITEGR1 coded 701, 703, ...: "
                        "factors with levels in numeric order, not continuous covariates")
    p.add_argument("--subgroups", nargs="+", metavar="COLUMN",
                   help="mmrm: subgroup analyses of these columns (e.g. ADSL's SEX AGEGR1 REGION1): the "
                        "differences at the last visit within each level from one model with subgroup x arm "
                        "x visit terms, the interaction tests and a forest plot (Table 8, Figure 9)")
    p.add_argument("--model", choices=list(MODELS),
                   help="mmrm (default); clda: constrained longitudinal data analysis (AVAL at baseline "
                        "and after, one baseline mean; response AVAL and --keep-baseline by default); "
                        "ancova: linear model per visit (or --at-visit); slopes: random "
                        "intercept and slope in --time; binary endpoint: gee (default) or glmm (logistic "
                        "mixed model with a random intercept per subject)")
    p.add_argument("--at-visit", dest="at_visit", help="the visit of an ANCOVA (default: every visit)")
    p.add_argument("--time", help="continuous time column of the slopes model (default TIME)")
    p.add_argument("--covariance",
                   help=f"residual structure, or several tried in order, e.g. us,toeph,ar1h,cs (default us; "
                        f"slopes: none); one of {', '.join(STRUCTURES)}, none; binary: the GEE working "
                        "correlation, independence, exchangeable (default), ar1, unstructured or mdep(m)")
    p.add_argument("--covariance-select", dest="covariance_select", nargs="+", metavar="NAME",
                   help="a criterion (aic, aicc, bic) and two or more residual structures, e.g. aicc us "
                        "toeph ar1h cs: each is fitted and the converged one with the smallest criterion is "
                        "used (not with --covariance)")
    p.add_argument("--allow-nonconvergence", dest="allow_nonconvergence", action="store_true", default=None,
                   help="write the report of a fit that did not converge (every table says so) "
                        "instead of exiting with status 3")
    p.add_argument("--method", type=str.upper, choices=["REML", "ML", "QUAD", "LAPLACE"],
                   help="REML (default) or ML; glmm: QUAD (adaptive Gauss-Hermite quadrature, default) or "
                        "LAPLACE")
    p.add_argument("--quadrature-points", dest="quadrature_points", type=int,
                   help="glmm with QUAD: points per random effect (default: 5, 7, ... until the "
                        "log-likelihood is stable to 1e-6)")
    p.add_argument("--ddf", choices=list(DDF_METHODS), help="df method (default kenward-roger)")


def _selection_and_table_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--adsl", metavar="FILE",
                   help="subject-level ADSL (CSV, Parquet, XPT, sas7bdat) merged by STUDYID/USUBJID before "
                        "the record selection, so that --population, --where, --ice-where, --arm and "
                        "--covariates can name its variables (EFFFL, EOSSTT, AGEGR1, ...); BDS values are "
                        "kept where both files have a variable; records of subjects not in ADSL are excluded "
                        "(counted)")
    p.add_argument("--param", nargs="+", metavar="PARAMCD",
                   help="PARAMCD (or PARAM) to analyse when the file holds several; several (or 'all': every "
                        "PARAMCD, in PARAMN order) write one report with a section per parameter, run in "
                        "parallel on --workers processes")
    p.add_argument("--population",
                   help="subject-level population flag to keep ('Y'): EFFFL, ITTFL, FASFL, ...")
    p.add_argument("--where", help="record selection, e.g. \"AVISITN <= 24 and SITEGR1 != '900'\"")
    p.add_argument("--analysis-flag", dest="analysis_flag", help="analysis record flag (default ANL01FL)")
    p.add_argument("--keep-dtype", dest="keep_dtype", nargs="+", metavar="DTYPE",
                   help="derived records to keep, e.g. LOCF (default: drop every DTYPE record)")
    p.add_argument("--keep-baseline", dest="keep_baseline", action="store_true", default=None,
                   help="keep the baseline records (ABLFL = 'Y') as responses")
    p.add_argument("--decimals", type=int, help="decimals of the response data (default: from the data)")
    p.add_argument("--study", help="study in the table headers (default: STUDYID)")
    p.add_argument("--population-label", dest="population_label",
                   help="population in the table headers (default: from the population flag)")
    p.add_argument("--program",
                   help="program named in the table footers (default: trialmlm VERSION analyze)")
    p.add_argument("--dropout-time", dest="dropout_time",
                   help="numeric visit time for the time-to-dropout curves (default AVISITN)")
    p.add_argument("--reason", help="discontinuation reason column (default DCSREAS if present)")
    p.add_argument("--title", help="report title")
    p.add_argument("--unit", help="unit of the response in table headers (default: from PARAM, e.g. mL)")
    p.add_argument("--alpha", type=float, help="two-sided significance level (default 0.05)")
    p.add_argument("--lsmeans-weights", dest="lsmeans_weights",
                   help="weights of the other factors' levels in the LS means: equal (default, SAS), "
                        "proportional (SAS OM), outer or cells (emmeans)")


def _imputation_and_folder_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--imputations", type=int, help="imputations per sensitivity analysis (default 100)")
    p.add_argument("--deltas", type=float, nargs="+", help="tipping-point shifts (default 0 to 2 SD)")
    p.add_argument("--seed", type=int, help="random seed of the imputations (default 2026)")
    p.add_argument("--workers", type=int, help="processes for the imputations (default 1)")
    p.add_argument("--estimands", nargs="+", metavar="STRATEGY",
                   help="estimands: MAR, JR, CR, CIR, LMCF applied to every intercurrent event, or TABLE "
                        "(the ICE file's strategies); default with an ICE source: TABLE or MAR JR")
    p.add_argument("--ice", help="ICE file: subject, first affected visit, optional strategy (CSV, XPT, ...)")
    p.add_argument("--ice-flag", dest="ice_flag", help="record flag 'Y' at and after the intercurrent event")
    p.add_argument("--ice-date", dest="ice_date",
                   help="subject-level date of the intercurrent event, e.g. TRTEDT")
    p.add_argument("--date", help="record date compared with --ice-date (default ADT)")
    p.add_argument("--ice-where", dest="ice_where",
                   help="derived ICE only for subjects with a record where this holds, "
                        "e.g. \"COMP24FL == 'N'\"")
    p.add_argument("--estimand-method", dest="estimand_method",
                   help="how each estimand is estimated: condmean (default; conditional mean + jackknife), "
                        "bootstrap, approxbayes, bmlmi (--imputations samples, --seed)")
    p.add_argument("--out", help="output folder (a previous report there is replaced as a whole)")
    p.add_argument("--figures", metavar="FORMATS",
                   help=f"figure file formats, comma-separated: {', '.join(FIGURE_FORMATS)} (default png; "
                        "e.g. png,svg)")
    p.add_argument("--overwrite", action="store_true", default=None,
                   help="replace a report of an earlier trialmlm version (a folder holding files "
                        "trialmlm did not write is never replaced)")


def _configs(args, base: dict) -> list:
    """One config per parameter (:func:`trialmlm.app.parameters.make_configs`): ``base``, the
    TOML file's keys and ``[[parameter]]`` tables, then the command-line options."""
    from .parameters import load_parameters, make_configs

    path = getattr(args, "config", None)
    from_file = load_config(path) if path else {}
    values = {**base, **from_file}
    names = [name for name in FIELDS if name != "data"]
    typed = {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}
    if getattr(args, "data", None):
        typed["data"] = args.data
    if len(typed.get("param", ())) == 1:
        typed["param"] = typed["param"][0]  # one parameter: a single-parameter run
    from_config_file(set(from_file) - set(typed))  # messages name these as the file's keys
    return make_configs(values, load_parameters(path) if path else [], typed)


def _run_parameters(configs: list, inputs: dict) -> int:
    """``analyze`` of several parameters: one report; exit status 3 when a parameter has no usable
    fit (its section says why; the others are written)."""
    from .parameter_report import run_parameters

    report = run_parameters(configs, inputs=inputs)
    for section in report.sections:
        print(section.summary)
    for code, why in report.failed.items():
        print(f"trialmlm: error: {code}: {why}", file=sys.stderr)
    print(f"wrote {len(report.files)} files to {report.out}/; open {report.index}")
    return 3 if report.failed else 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings on the command line as ``trialmlm: warning: ...`` (no source lines)."""
    print(f"trialmlm: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    with warnings.catch_warnings(), command_line():  # messages name --param, not param=
        warnings.showwarning = _one_line_warning
        return _main(argv)


def _parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="trialmlm", description="Mixed-model analyses of clinical-trial "
                                     "visit data (SAS PROC MIXED numbers) into tables and figures.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_an = sub.add_parser("analyze", help="MMRM (or responder GEE) analysis of a trial into a report folder "
                                          "(tables RTF/HTML/CSV, figures PNG or SVG, index.html)")
    p_an.add_argument("data", nargs="?", help="CSV, Parquet, SAS XPT or sas7bdat file (ADaM BDS)")
    p_an.add_argument("--config", help="TOML file with the same keys (an [analysis] table or top level); "
                                       "command-line options override it")
    p_an.add_argument("--sensitivity", action="store_true", default=None,
                      help="add MI under MAR, J2R, CR, CIR and a tipping-point analysis")
    _analysis_arguments(p_an)
    p_demo = sub.add_parser("demo", help="analyze the bundled depression trial into reports/demo")
    _analysis_arguments(p_demo)
    p_pow = sub.add_parser("power", help="size a trial: analytic sample size, simulated operating "
                                          "characteristics and power curve into a report folder")
    p_pow.add_argument("--config", required=True, help="TOML file with [design], [analysis], [simulation]")
    p_pow.add_argument("--out", default="reports/power", help="output folder (default reports/power)")
    p_pow.add_argument("--n-sim", dest="n_sim", type=int, help="simulated trials per point")
    p_pow.add_argument("--workers", type=int, help="processes (default: all cores)")
    p_pow.add_argument("--seed", type=int, help="random seed")
    p_pow.add_argument("--figures", metavar="FORMATS",
                       help=f"figure file formats, comma-separated: {', '.join(FIGURE_FORMATS)} "
                            "(default png, or [simulation] figures; e.g. png,svg)")
    p_pow.add_argument("--overwrite", action="store_true",
                       help="replace a report of an earlier trialmlm version (a folder holding files "
                            "trialmlm did not write is never replaced)")
    p_sim = sub.add_parser("simulate", help="write one trial simulated from the [design] of a TOML file "
                                            "(ADaM-like CSV or SAS XPT)")
    p_sim.add_argument("--config", required=True, help="TOML file with a [design] table")
    p_sim.add_argument("--out", required=True, help="output file, .csv or .xpt")
    p_sim.add_argument("--seed", type=int, help="random seed (default: a fresh one)")
    p_fit = sub.add_parser("fit", help="fit one model formula and write its tables")
    p_fit.add_argument("data", help="CSV, Parquet, SAS XPT or sas7bdat file, one row per subject and visit")
    p_fit.add_argument("--formula", required=True,
                       help=f"e.g. '{EXAMPLE_FORMULA}'; structures: {', '.join(STRUCTURES)}")
    p_fit.add_argument("--method", default="REML", choices=["REML", "ML"])
    p_fit.add_argument("--weights", default=None, help="column of SAS WEIGHT values")
    p_fit.add_argument("--param", default=None, help="PARAMCD to analyse when the file holds several")
    p_fit.add_argument("--out", default="reports/fit", help="output folder (default reports/fit)")
    return parser


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    try:
        # Ctrl-C while the libraries load: one line, exit code 130 (trialmlm.entry); one that arrives
        # as the guard ends comes as KeyboardInterrupt, caught below like any other
        with starting():
            __import__(COMMAND_MODULES[args.command])  # an import statement's path (seen by -X importtime)
        config_file = {"config file (--config)": getattr(args, "config", None)}
        if args.command == "simulate":
            from ..power.report import write_simulated_trial

            check_file(Path(args.out), config_file)  # before any work
            print(f"wrote {write_simulated_trial(args.config, args.out, args.seed)}")
            return 0
        if args.command == "power":
            from ..power.report import run_power

            check_folder(Path(args.out), args.overwrite, config_file)  # before any work
            out = run_power(args.config, args.out, n_sim=args.n_sim, workers=args.workers, seed=args.seed,
                            overwrite=args.overwrite, figures=args.figures)
            print(f"wrote the design report to {out}/; open {out / 'index.html'}")
            return 0
        if args.command == "fit":
            from ..api import fit

            inputs = {"data file": args.data}
            check_folder(Path(args.out), True, inputs)  # before any work; replaces only a folder it wrote
            result = fit(args.formula, _read_for(args.formula, args.data, args.param), method=args.method,
                         weights=args.weights)
            with report_folder(Path(args.out), True, inputs) as out:
                written = write_fit(result, out)
            print(result.summary())
            print(f"wrote {len(written)} files to {Path(args.out)}/")
            return 0
        from .report import run_analysis

        if args.command == "demo":
            if not Path(DEMO["data"]).exists():
                raise TrialMLMError(f"sample data not found at {DEMO['data']}; run from a source checkout")
            config = _configs(args, {**DEMO, "out": "reports/demo"})[0]
            trajectory = make_config(**{**TRAJECTORY_DEMO, "out": str(Path(config.out) / "trajectory")})
            link = ("trajectory model of the long-term trial (random intercepts and slopes)",
                    "trajectory/index.html")
            report = run_analysis(config, links=(link,))  # replaces the folder: the trajectory goes in after
            slopes = run_analysis(trajectory)
            print(f"{trajectory.formula}: wrote {len(slopes.files)} files to {slopes.out}/")
        else:
            if not args.data and not args.config:
                raise TrialMLMError("give a data file or --config FILE")
            configs = _configs(args, {})
            if len(configs) > 1:
                return _run_parameters(configs, config_file)
            config = configs[0]
            report = run_analysis(config, inputs=config_file)
    except KeyboardInterrupt:  # Ctrl-C: the report folder is left as it was (report_folder)
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    except ConvergenceError as exc:  # no usable fit: not a usage error, a result the SAP must handle
        print(f"trialmlm: error: {exc}", file=sys.stderr)
        return 3
    except TrialMLMError as exc:
        print(f"trialmlm: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError) as exc:  # unreadable files, bad option values
        print(f"trialmlm: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    formula = report.fit.settings.formula if config.covariance_select else config.formula  # the one chosen
    print(f"{formula}: {report.subjects} subjects, {report.records} observations, "
          f"{'converged' if report.fit.converged else 'NOT converged'}")
    print(f"wrote {len(report.files)} files to {report.out}/; open {report.index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
