"""Hostile input over every entry point (issue 11, "Hardening"): each case must end in a
named error (DataError / FormulaError) that names the column or argument, never in a raw
numpy / pandas / pyarrow error; no entry point modifies its input frame.

Reference values of the rank-deficient type III tests: tests/reference/anova_rank_refs.json
(R emmeans::joint_tests, script make_anova_rank_refs.R).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import DataError, DataWarning, FormulaError, estimands, missing, plots, tables
from trialmlm.covariance import STRUCTURES
from trialmlm.covariance.unstructured import Unstructured

matplotlib.use("Agg")

REFERENCE = Path(__file__).parent / "reference"
FORMULA = "CHG ~ BASE + TRT * AVISIT + us(AVISIT | USUBJID)"


@pytest.fixture(scope="module")
def fit(demo_trial):
    return trialmlm.fit(FORMULA, demo_trial)


def _observed_rows(data: pd.DataFrame) -> list:
    return data.index[data["CHG"].notna()][:2].tolist()


# -- values the likelihood cannot take --------------------------------------------------------
@pytest.mark.parametrize("column", ["CHG", "BASE", "W"])
@pytest.mark.parametrize("value", [np.inf, -np.inf, 1e300])
def test_non_finite_or_huge_values_are_named(demo_trial, column, value):
    data = demo_trial.assign(W=1.0)
    rows = _observed_rows(data)
    data.loc[rows, column] = value
    with pytest.raises(DataError, match=rf"column '{column}' holds .*rows {rows[0]!r}.*1e\+50"):
        trialmlm.fit(FORMULA, data, weights="W")


def test_constant_response_is_refused(demo_trial):
    with pytest.raises(DataError, match="no variation in the response 'CHG'"):
        trialmlm.fit(FORMULA, demo_trial.assign(CHG=1.0))


@pytest.mark.parametrize("call", [
    lambda d: trialmlm.fit(FORMULA, d),
    lambda d: missing.patterns(d),
    lambda d: missing.dropout_table(d, arm="TRT"),
    lambda d: missing.time_to_dropout(d, arm="TRT"),
    lambda d: tables.missing_data_tables(d, "USUBJID", "AVISIT", "CHG", "TRT"),
    lambda d: plots.spaghetti(d, "USUBJID", "AVISIT", "CHG", "TRT"),
    lambda d: plots.missing_pattern_heatmap(d, "USUBJID", "AVISIT", "CHG"),
], ids=["fit", "patterns", "dropout_table", "time_to_dropout", "missing_data_tables", "spaghetti", "heatmap"])
def test_empty_frame_is_called_empty(demo_trial, call):
    with pytest.raises(DataError, match="the data frame has no rows"):
        call(demo_trial.iloc[:0])


def test_one_row_per_subject_cannot_identify_random_effects(demo_trial):
    one = demo_trial.dropna(subset=["CHG"]).groupby("USUBJID").head(1)
    message = r"every subject \('USUBJID'\) has a single row.*\(1 \+ TIME \| USUBJID\)"
    with pytest.raises(DataError, match=message):
        trialmlm.fit("CHG ~ TRT + TIME + (1 + TIME | USUBJID)", one)


# -- files --------------------------------------------------------------------------------
def test_corrupt_parquet_names_the_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not a parquet file PAR1")
    with pytest.raises(DataError, match=r"cannot read '.*broken\.parquet' as Parquet"):
        trialmlm.read(path)


def test_directory_is_not_a_missing_file(tmp_path):
    folder = tmp_path / "adqs.csv"
    folder.mkdir()
    with pytest.raises(DataError, match="is a directory, not a file"):
        trialmlm.read(folder)


# -- arguments of the inference and sensitivity functions ------------------------------------
BAD_ALPHA = [0, 1, -0.1, 1.5, "0.05", np.nan, True]


@pytest.mark.parametrize("alpha", BAD_ALPHA)
@pytest.mark.parametrize("call", [
    lambda f, a: f.coef_table(alpha=a),
    lambda f, a: f.lsmeans("TRT", by="AVISIT", alpha=a),
    lambda f, a: f.compare("TRT", by="AVISIT", alpha=a),
    lambda f, a: f.contrast({"BASE": 1.0}, alpha=a),
    lambda f, a: tables.mmrm_table(f, "TRT", "AVISIT", alpha=a),
    lambda f, a: estimands.tipping_point(f, deltas=[0.0], reference="CTRL", n_samples=2, seed=1, alpha=a),
    lambda f, a: missing.time_to_dropout(f, arm="TRT", alpha=a),
    lambda f, a: missing.completers_vs_dropouts(f.design.source, "USUBJID", "AVISIT", "CHG", alpha=a),
    lambda f, a: missing.dropout_model(f.design.source, "USUBJID", "AVISIT", "CHG", alpha=a),
], ids=["coef_table", "lsmeans", "compare", "contrast", "mmrm_table", "tipping_point", "time_to_dropout",
        "completers_vs_dropouts", "dropout_model"])
def test_alpha_outside_zero_one_is_named(fit, call, alpha):
    with pytest.raises(DataError, match="alpha must be a number strictly between 0 and 1"):
        call(fit, alpha)


def test_multiple_imputation_pooling_checks_alpha(fit):
    mi = estimands.impute(fit, n_samples=2, seed=1, arm="TRT")
    with pytest.raises(DataError, match="alpha"):
        mi.compare(alpha=1.0)


@pytest.mark.parametrize("row, message", [
    ("nan", "holds a missing or infinite weight"),
    ("inf", "holds a missing or infinite weight"),
    ("zero", "is all zero"),
    ("text", "must hold numbers"),
])
def test_bad_contrast_rows_are_named(fit, row, message):
    n = fit.n_fixed
    L = {"nan": [[np.nan] + [0.0] * (n - 1)], "inf": [[np.inf] + [0.0] * (n - 1)], "zero": [[0.0] * n],
         "text": [["a"] * n]}[row]
    with pytest.raises(DataError, match=message):
        fit.contrast(L)
    with pytest.raises(DataError, match=message):
        fit.contrast(L, joint=True)


@pytest.mark.parametrize("seed", [-1, 1.5, "x", True])
@pytest.mark.parametrize("entry", ["impute", "tipping_point", "condmean", "bmlmi"])
def test_bad_seed_is_named(fit, entry, seed):
    with pytest.raises(DataError, match="seed must be a non-negative integer"):
        if entry == "impute":
            estimands.impute(fit, n_samples=2, seed=seed, arm="TRT")
        elif entry == "condmean":
            estimands.condmean(fit, type="bootstrap", n_samples=2, seed=seed, arm="TRT")
        elif entry == "bmlmi":
            estimands.bmlmi(fit, B=2, D=2, seed=seed, arm="TRT")
        else:
            estimands.tipping_point(fit, deltas=[0.0], reference="CTRL", n_samples=2, seed=seed)


@pytest.mark.parametrize("call, message", [
    (lambda f: estimands.tipping_point(f, deltas=["a"], reference="CTRL", n_samples=2, seed=1),
     "deltas must be numbers"),
    (lambda f: estimands.tipping_point(f, deltas=[0.0, np.inf], reference="CTRL", n_samples=2, seed=1),
     "deltas must be finite"),
    (lambda f: estimands.impute(f, method="delta", delta="x", arm="TRT", n_samples=2, seed=1),
     "delta must be numbers"),
    (lambda f: estimands.impute(f, method="delta", delta={"V2": "x"}, arm="TRT", n_samples=2, seed=1),
     r"delta \(per visit\) must be numbers"),
    (lambda f: estimands.impute(f, method="delta", delta=[1, 2], arm="TRT", n_samples=2, seed=1),
     "delta must be a number or a mapping"),
    (lambda f: f.lsmeans("TRT", at={"BASE": "x"}), r"at=\{'BASE': 'x'\}: covariate 'BASE' needs one finite"),
    (lambda f: f.compare("TRT", at={"BASE": [1, 2]}), r"covariate 'BASE' needs one finite number"),
    (lambda f: f.lsmeans("TRT", at={"BASE": np.nan}), r"covariate 'BASE' needs one finite number"),
], ids=["deltas-text", "deltas-inf", "delta-text", "delta-map-text", "delta-list", "at-text", "at-list",
        "at-nan"])
def test_non_numeric_arguments_are_named(fit, call, message):
    with pytest.raises(DataError, match=message):
        call(fit)


# -- type III tests of rank-deficient designs ---------------------------------------------------
def _reference_rows(case: str) -> pd.DataFrame:
    ref = json.loads((REFERENCE / "anova_rank_refs.json").read_text())[case]
    return pd.DataFrame({k: ref[k] for k in ("term", "num_df", "den_df", "F", "p")}).set_index("term")


@pytest.mark.parametrize("case, formula, terms", [
    ("empty_cell", "CHG ~ BASE + TRT * AVISIT", ["BASE", "AVISIT", "TRT:AVISIT"]),
    ("collinear", "CHG ~ BASE + Z + TRT * AVISIT", ["BASE", "AVISIT", "TRT:AVISIT"]),
])
def test_joint_tests_of_rank_deficient_designs_match_emmeans(demo_trial, case, formula, terms):
    data = demo_trial.assign(Z=(demo_trial["TRT"] == "ACT").astype(float))
    data.loc[(data["TRT"] == "ACT") & (data["AVISIT"] == "V3"), "CHG"] = np.nan if case == "empty_cell" \
        else data["CHG"]
    with pytest.warns(DataWarning, match="has no estimable part"):
        table = trialmlm.fit(formula, data).anova(type="joint")
    ref = _reference_rows(case).loc[terms]
    got = table.loc[terms]
    np.testing.assert_array_equal(got["num_df"], ref["num_df"])
    np.testing.assert_allclose(got["den_df"], ref["den_df"], rtol=1e-3)
    np.testing.assert_allclose(got["F"], ref["F"], rtol=1e-5)
    np.testing.assert_allclose(got["p"], ref["p"], rtol=1e-4)


def test_interaction_with_a_collinear_covariate_keeps_its_df(demo_trial):
    """In the MMRM, TRT:AVISIT beside a covariate Z collinear with TRT is the same hypothesis
    as Z:AVISIT of the Z * AVISIT model: 4 df and the same F, by SAS's type 3 and by the
    joint tests; TRT itself (aliased with Z) has no type 3 hypothesis, Z no joint one."""
    data = demo_trial.assign(Z=(demo_trial["TRT"] == "ACT").astype(float))
    fit = trialmlm.fit("CHG ~ Z + TRT * AVISIT + us(AVISIT | USUBJID)", data)
    with pytest.warns(DataWarning, match="'TRT' has no estimable part"):
        sas = fit.anova()
    with pytest.warns(DataWarning, match="'Z' has no estimable part"):
        joint = fit.anova(type="joint")
    direct = trialmlm.fit("CHG ~ Z * AVISIT + us(AVISIT | USUBJID)", data).anova()
    assert sas.loc["TRT", "num_df"] == 0
    for table in (sas, joint):
        assert table.loc["TRT:AVISIT", "num_df"] == 4
        got = table.loc["TRT:AVISIT", ["den_df", "F", "p"]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, direct.loc["Z:AVISIT", ["den_df", "F", "p"]].to_numpy(dtype=float),
                                   rtol=1e-6)


# -- many visits: no cubic arrays ---------------------------------------------------------------
def test_unstructured_curvature_equals_the_contracted_hessians():
    s = Unstructured(5)
    rng = np.random.default_rng(3)
    theta, g = rng.normal(size=s.n_params), rng.normal(size=s.n_params)
    phi, jac, hess = s.theta_to_phi(theta)
    np.testing.assert_allclose(s.curvature(theta, g), np.tensordot(g, hess, axes=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s.phi_jacobian(theta)[1], jac, rtol=0, atol=0)


def test_us_fit_never_forms_the_cubic_hessians(monkeypatch):
    """The optimiser reads curvature(), O(p^2); theta_to_phi's (p, p, p) array (1275^3 doubles,
    16 GB, for 50 visits) is never built."""
    def refuse(self, theta):
        raise AssertionError(f"(p, p, p) Hessians formed for p = {self.n_params}")
    monkeypatch.setattr(Unstructured, "theta_to_phi", refuse)
    rng = np.random.default_rng(1)
    visits, n = 12, 60
    a = rng.normal(size=(visits, visits)) * 0.3
    y = rng.multivariate_normal(np.zeros(visits), a @ a.T + np.eye(visits), size=n)
    labels = [f"V{i}" for i in range(visits)]
    data = pd.DataFrame({"ID": np.repeat(np.arange(n), visits), "V": np.tile(labels, n), "Y": y.ravel()})
    fit = trialmlm.fit("Y ~ V + us(V | ID)", data)
    assert fit.converged and fit.n_covariance_parameters == 78


def test_large_log_cholesky_entries_do_not_warn():
    """An off-diagonal Cholesky entry of 1e3 once overflowed exp() in unstructured.py."""
    theta = np.zeros(STRUCTURES["us"](3).n_params)
    theta[1] = 1e3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Unstructured(3).phi_jacobian(theta)


# -- column names that are not identifiers --------------------------------------------------------
def test_backticked_column_names_everywhere(demo_trial, fit):
    renamed = demo_trial.rename(columns={"CHG": "CHG w24", "BASE": "BASE.LINE", "AVISIT": "Visit No",
                                         "USUBJID": "Subject ID", "TRT": "Arm.x"})
    quoted = trialmlm.fit("`CHG w24` ~ `BASE.LINE` + `Arm.x` * `Visit No` + us(`Visit No` | `Subject ID`)",
                          renamed)
    assert quoted.loglik == pytest.approx(fit.loglik, abs=1e-9)
    np.testing.assert_allclose(quoted.anova().to_numpy(dtype=float), fit.anova().to_numpy(dtype=float),
                               rtol=1e-8)
    ls = quoted.lsmeans("Arm.x", by="Visit No")
    np.testing.assert_allclose(ls["estimate"], fit.lsmeans("TRT", by="AVISIT")["estimate"], rtol=1e-8)
    random = trialmlm.fit("`CHG w24` ~ `Arm.x` * TIME + (1 + TIME | `Subject ID`)", renamed)
    assert random.settings.subject == "Subject ID"


def test_unquoted_name_with_a_space_is_a_formula_error(demo_trial):
    with pytest.raises(FormulaError, match="in backticks"):
        trialmlm.fit("CHG w24 ~ TRT + us(AVISIT | USUBJID)", demo_trial)


# -- Ctrl-C with worker processes ---------------------------------------------------------------------
IMPUTATION = r"""
import multiprocessing, sys, warnings, pandas as pd, trialmlm
from trialmlm import estimands
warnings.simplefilter("ignore")
fit = trialmlm.fit("CHG ~ BASE + TRT * AVISIT + us(AVISIT | USUBJID)", pd.read_csv(sys.argv[1]))
print("start", flush=True)
try:
    estimands.impute(fit, n_samples=400, seed=1, workers=2, progress=False)
except KeyboardInterrupt:
    print("interrupted; workers alive:", len(multiprocessing.active_children()), flush=True)
    sys.exit(3)
print("finished", flush=True)
"""
SIMULATION = r"""
import multiprocessing, sys
from trialmlm.power import Analysis, TrialDesign, simulate_power
design = TrialDesign(40, ["a", "b", "c", "d"], {"P": [0] * 4, "A": [1] * 4}, covariance=[[1, .5, .5, .5],
                     [.5, 1, .5, .5], [.5, .5, 1, .5], [.5, .5, .5, 1]], dropout=[1, .9, .8, .7])
analysis = Analysis("AVAL ~ TRT01P * AVISIT + us(AVISIT | USUBJID)", "A", "P", ddf="kenward-roger")
print("start", flush=True)
try:
    simulate_power(design, analysis, n_sim=5000, seed=1, workers=2, progress=False)
except KeyboardInterrupt:
    print("interrupted; workers alive:", len(multiprocessing.active_children()), flush=True)
    sys.exit(3)
print("finished", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
@pytest.mark.parametrize("child_code", [IMPUTATION, SIMULATION], ids=["impute", "simulate_power"])
def test_ctrl_c_stops_the_workers_at_once(child_code):
    root = Path(__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    child = subprocess.Popen([sys.executable, "-c", child_code, str(REFERENCE / "demo_trial.csv")], cwd=root,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "start"
    time.sleep(1.5)
    child.send_signal(signal.SIGINT)
    # behaviour, not speed: the call returned with KeyboardInterrupt and no worker is left;
    # the timeout only says "does not hang" (the work left, 5000 fits or simulations, takes minutes)
    out, err = child.communicate(timeout=60)
    assert (child.returncode, out.strip()) == (3, "interrupted; workers alive: 0"), err


# -- no entry point modifies its input -----------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda d: trialmlm.fit(FORMULA, d),
    lambda d: trialmlm.fit("CHG ~ TRT * TIME + (1 + TIME | USUBJID)", d),
    lambda d: trialmlm.fit(FORMULA, d).lsmeans("TRT", by="AVISIT"),
    lambda d: trialmlm.fit(FORMULA, d).compare("TRT", by="AVISIT"),
    lambda d: trialmlm.fit(FORMULA, d).anova(),
    lambda d: trialmlm.fit(FORMULA, d).predict(d),
    lambda d: missing.patterns(d, arm="TRT"),
    lambda d: missing.dropout_table(d, arm="TRT"),
    lambda d: missing.time_to_dropout(d, arm="TRT"),
    lambda d: missing.completers_vs_dropouts(d, "USUBJID", "AVISIT", "CHG", arm="TRT"),
    lambda d: missing.dropout_model(d, "USUBJID", "AVISIT", "CHG", arm="TRT"),
    lambda d: missing.little_mcar_test(d, "USUBJID", "AVISIT", "CHG"),
    lambda d: estimands.impute(trialmlm.fit(FORMULA, d), n_samples=2, seed=1, arm="TRT"),
    lambda d: estimands.ice_table(d, strategy="JR"),
    lambda d: estimands.condmean(trialmlm.fit(FORMULA, d), ice=estimands.ice_table(d, strategy="JR"),
                               reference="CTRL"),
    lambda d: estimands.bmlmi(trialmlm.fit(FORMULA, d), ice=estimands.ice_table(d, strategy="JR"),
                            reference="CTRL", B=2, D=2, seed=1),
    lambda d: tables.summary_statistics(d, "TRT", "AVISIT", "CHG"),
    lambda d: tables.missing_data_tables(d, "USUBJID", "AVISIT", "CHG", "TRT"),
    lambda d: plots.spaghetti(d, "USUBJID", "AVISIT", "CHG", "TRT"),
    lambda d: plots.observed_means(d, "AVISIT", "CHG", "TRT"),
    lambda d: plots.missing_pattern_heatmap(d, "USUBJID", "AVISIT", "CHG"),
], ids=["fit", "fit-random", "lsmeans", "compare", "anova", "predict", "patterns", "dropout_table",
        "time_to_dropout", "completers_vs_dropouts", "dropout_model", "little_mcar_test", "impute",
        "ice_table", "condmean", "bmlmi", "summary_statistics", "missing_data_tables", "spaghetti",
        "observed_means", "heatmap"])
def test_no_entry_point_modifies_its_input(demo_trial, call):
    data = demo_trial.copy()
    data["AVISIT"] = pd.Categorical(data["AVISIT"], categories=["V1", "V2", "V3", "V4", "V5"])
    before = copy.deepcopy(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call(data)
    matplotlib.pyplot.close("all")
    pd.testing.assert_frame_equal(data, before)
    assert data.attrs == before.attrs


# -- GEE and marginal effects (issue 22) ---------------------------------------------------
def _responders(demo_trial):
    return demo_trial.assign(RESP=(demo_trial["CHG"] < demo_trial["CHG"].median()).astype(float))


def _gee(data, formula="RESP ~ BASE + TRT * AVISIT"):
    return trialmlm.gee(formula, data, family="binomial", working="exchangeable", subject="USUBJID",
                        visit="AVISIT")


def test_gee_and_marginal_effects_leave_the_input_alone(demo_trial):
    data = _responders(demo_trial)
    before = data.copy(deep=True)
    fit = _gee(data)
    trialmlm.marginal_effects(fit, "TRT", by="AVISIT", method="influence")
    pd.testing.assert_frame_equal(data, before)


def test_gee_names_an_unknown_column_and_an_empty_frame(demo_trial):
    data = _responders(demo_trial)
    with pytest.raises((DataError, FormulaError), match="NOPE"):
        _gee(data, "RESP ~ NOPE + TRT * AVISIT")
    with pytest.raises(DataError):
        _gee(data.iloc[:0])


def test_marginal_effects_names_a_treatment_not_in_the_model(demo_trial):
    fit = _gee(_responders(demo_trial))
    with pytest.raises(DataError, match="NOPE"):
        trialmlm.marginal_effects(fit, "NOPE", by="AVISIT", method="influence")
