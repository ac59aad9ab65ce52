"""trialmlm/glimmix/checks.py and the warnings of trialmlm.glmm: separation named before the fit,
fewer subjects than random effects (DataError), subjects with fewer rows than random effects
(DataWarning), non-convergence (ConvergenceWarning, ``converged=False``) and quadrature that
does not stabilise (ConvergenceWarning)."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.errors import ConvergenceWarning, DataError, DataWarning, SeparationWarning
from trialmlm.glimmix import fitting, glmm, optimize
from trialmlm.glimmix.checks import separated_terms

BINARY = Path(__file__).parent / "reference" / "glmm_own" / "binary_slopes.csv"


def binary() -> pd.DataFrame:
    return pd.read_csv(BINARY)


def test_complete_separation_names_the_term():
    data = binary()
    rng = np.random.default_rng(3)
    data["SCORE"] = (2 * data["CRIT1FL"] - 1) * rng.uniform(0.5, 2.0, len(data))
    with pytest.warns(SeparationWarning, match="'SCORE' diverges"):
        fit = glmm("CRIT1FL ~ SCORE + (1 | USUBJID)", data, method="laplace")
    assert any("separation" in note for note in fit.warnings)


def test_quasi_complete_separation_names_the_level():
    data = binary()
    data.loc[data["WEEK"] == 4, "CRIT1FL"] = 0  # no responder at week 4: W4 - W0 runs to -inf
    data["VISIT"] = "W" + data["WEEK"].astype(str)
    with pytest.warns(SeparationWarning, match=r"the estimate of 'VISIT\[T.W4\]' diverges"):
        fit = glmm("CRIT1FL ~ VISIT + (1 | USUBJID)", data, method="laplace")
    assert fit.beta[list(fit.names).index("VISIT[T.W4]")] < -10  # where the iterations stopped


def test_no_separation_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        glmm("CRIT1FL ~ TRT * WEEK + (1 | USUBJID)", binary(), method="laplace")


def test_linear_program_directions():
    X = np.column_stack([np.ones(6), [1.0, 2, 3, 4, 5, 6]])
    assert separated_terms(X, np.array([0.0, 0, 0, 1, 1, 1]), ("a", "x")) == ["a", "x"]
    assert separated_terms(X, np.array([0.0, 1, 0, 1, 0, 1]), ("a", "x")) == []
    assert separated_terms(X, np.array([0.0, 0, 0.5, 1, 1, 1]), ("a", "x")) == ["a", "x"]  # quasi-complete
    assert separated_terms(X, np.array([0.0, 0, 0.5, 1, 1, 0.5]), ("a", "x")) == []  # two proportions tie it


def test_fewer_subjects_than_random_effects_is_named():
    data = binary()
    few = data[data["USUBJID"].isin(data["USUBJID"].unique()[:1])]
    with pytest.raises(DataError, match="1 subject.* for 2 random effects"):
        glmm("CRIT1FL ~ WEEK + (1 + WEEK | USUBJID)", few, method="laplace")


def test_subject_with_fewer_rows_than_random_effects_warns():
    data = binary()
    first = data["USUBJID"].iloc[0]
    data = data[(data["USUBJID"] != first) | (data["WEEK"] == data["WEEK"].min())]
    with pytest.warns(DataWarning, match=f"1 subject.*fewer rows than the 2 random effects.*{first}"):
        glmm("CRIT1FL ~ TRT * WEEK + (1 + WEEK | USUBJID)", data, method="laplace")


def test_non_convergence_is_flagged(monkeypatch):
    monkeypatch.setattr(optimize, "GRADIENT_TOLERANCE", 1e-30)
    monkeypatch.setattr(optimize, "NEWTON_STEPS", 0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        fit = glmm("CRIT1FL ~ TRT * WEEK + (1 | USUBJID)", binary(), method="laplace")
    assert not fit.converged
    assert any("not usable" in note for note in fit.warnings)


def test_quadrature_that_does_not_stabilise_warns(monkeypatch):
    monkeypatch.setattr(fitting, "STABLE", 0.0)
    monkeypatch.setattr(fitting, "AUTO_POINTS", (5, 7, 9))
    with pytest.warns(ConvergenceWarning, match="did not stabilise.*from 7 to 9 points") as caught:
        fit = glmm("CRIT1FL ~ TRT * WEEK + (1 | USUBJID)", binary())
    assert fit.settings.n_points == 9
    seven = glmm("CRIT1FL ~ TRT * WEEK + (1 | USUBJID)", binary(), n_points=7)
    change = abs(fit.loglik - seven.loglik)  # the change the warning reports, not 0
    assert f"changed by {change:.3g} " in str(caught[0].message)
