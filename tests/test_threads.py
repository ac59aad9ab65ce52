"""trialmlm.engine.threads: the hot paths run on one BLAS thread and give the caller's setting back."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.linalg  # noqa: F401  both BLAS libraries loaded before the fixture reads them
from threadpoolctl import threadpool_info, threadpool_limits

import trialmlm
from trialmlm.engine.threads import ENVIRONMENT, HOT_PATH_THREADS, blas_threads, configured_threads
from trialmlm.errors import DataError

FORMULA = "CHG ~ BASE + SEX + TRT * AVISIT + us(AVISIT | USUBJID)"


def blas() -> list[int]:
    """The number of threads of every BLAS library loaded."""
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture
def caller_threads():
    """The caller runs BLAS on two threads (as many as the library allows here)."""
    with threadpool_limits(2, user_api="blas"):
        yield blas()


def test_limit_inside_and_the_callers_setting_after(caller_threads):
    with blas_threads():
        assert blas() == [HOT_PATH_THREADS] * len(caller_threads)
        with blas_threads():  # nested: the same limit
            assert blas() == [HOT_PATH_THREADS] * len(caller_threads)
        assert blas() == [HOT_PATH_THREADS] * len(caller_threads)
    assert blas() == caller_threads


def test_restored_after_an_error(caller_threads):
    with pytest.raises(np.linalg.LinAlgError), blas_threads():
        np.linalg.cholesky(-np.eye(2))
    assert blas() == caller_threads


def test_threads_of_one_process_share_the_limit(caller_threads):
    """A thread that leaves while another is still inside does not give the caller's threads back."""
    def other():
        with blas_threads():
            seen["other"] = blas()

    seen = {}
    with blas_threads():
        worker = threading.Thread(target=other)
        worker.start()
        worker.join()
        assert blas() == seen["other"] == [HOT_PATH_THREADS] * len(caller_threads)
    assert blas() == caller_threads


def test_environment_changes_the_rule(monkeypatch, caller_threads):
    monkeypatch.setenv(ENVIRONMENT, "caller")
    assert configured_threads() is None
    with blas_threads():
        assert blas() == caller_threads
    monkeypatch.setenv(ENVIRONMENT, " 2 ")
    assert configured_threads() == 2
    with blas_threads():
        assert blas() == caller_threads  # two threads, as the caller set
    monkeypatch.delenv(ENVIRONMENT)
    assert configured_threads() == HOT_PATH_THREADS


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_environment_bad_value(monkeypatch, value):
    monkeypatch.setenv(ENVIRONMENT, value)
    with pytest.raises(DataError, match=f"{ENVIRONMENT}='{value}'.*'caller'"):
        configured_threads()


def spy(monkeypatch, module, name: str, record: dict):
    """Record the BLAS threads while ``module.name`` runs."""
    inner = getattr(module, name)

    def wrapped(*args, **kwargs):
        record[name] = blas()
        return inner(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)


def test_entry_points_limit_the_hot_paths_and_restore(monkeypatch, caller_threads, demo_trial):
    """fit (moments and likelihood), refit, Kenward-Roger, the sandwich and its df, the GEE
    scoring: one thread inside, the caller's two after; the numbers those of an unlimited run."""
    from trialmlm.engine import estimate, model
    from trialmlm.genmod import scoring
    from trialmlm.inference import cache

    monkeypatch.setenv(ENVIRONMENT, "caller")
    free = trialmlm.fit(FORMULA, demo_trial)
    free_kr = free.compare("TRT", by="AVISIT", ddf="kenward-roger")
    free_cr2 = free.compare("TRT", by="AVISIT", vcov="empirical-bias-reduced", ddf="satterthwaite")
    monkeypatch.delenv(ENVIRONMENT)

    seen = {}
    spy(monkeypatch, model, "build_batches", seen)
    spy(monkeypatch, estimate, "maximise", seen)
    spy(monkeypatch, cache, "kenward_roger_covariance", seen)
    spy(monkeypatch, cache, "empirical_covariance", seen)
    spy(monkeypatch, cache, "empirical_df_terms", seen)
    spy(monkeypatch, scoring, "_scoring", seen)
    fit = trialmlm.fit(FORMULA, demo_trial)
    assert blas() == caller_threads
    kr = fit.compare("TRT", by="AVISIT", ddf="kenward-roger")
    cr2 = fit.compare("TRT", by="AVISIT", vcov="empirical-bias-reduced", ddf="satterthwaite")
    assert blas() == caller_threads
    seen.pop("build_batches")
    fit.refit(data=demo_trial.assign(CHG=demo_trial["CHG"] + 1.0))
    assert "build_batches" in seen and blas() == caller_threads
    trial = pd.read_csv(Path(__file__).parent / "reference" / "gee" / "trial.csv")
    trialmlm.gee("RESP ~ BASE + ARM * AVISIT", trial, working="exchangeable", subject="USUBJID",
                 visit="AVISIT")
    assert blas() == caller_threads
    assert seen == dict.fromkeys(seen, [HOT_PATH_THREADS] * len(caller_threads))
    assert set(seen) == {"build_batches", "maximise", "kenward_roger_covariance", "empirical_covariance",
                         "empirical_df_terms", "_scoring"}
    np.testing.assert_allclose(fit.beta, free.beta, rtol=1e-10)
    for ours, theirs in ((kr, free_kr), (cr2, free_cr2)):
        cols = ["estimate", "se", "df"]
        np.testing.assert_allclose(ours[cols].to_numpy(float), theirs[cols].to_numpy(float), rtol=1e-10)
