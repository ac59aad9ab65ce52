"""Benchmark: GLMM by Laplace, trialmlm.glmm against lme4 glmer timed in the same run (issue 23).

(a) a simulated binary trial, 1,000 subjects x 6 visits, ``RESP ~ ARM * WEEK + (1 + WEEK | USUBJID)``,
    Bernoulli logit, Laplace (target: >= 10x faster than glmer Laplace);
(b) MixedModels.jl's ``contra`` example: mlmRev's Contraception (tests/reference/glmm/contraception.csv),
    ``use ~ 1 + age + age^2 + urban + livch + (1 | urban:district)``, Bernoulli logit, Laplace
    (MixedModels.jl publishes 0.12-0.19 s; target within 2x of that).

Times: trialmlm from the data frame to the results (formula, design, fit, standard errors);
glmer the ``glmer`` call in R with lme4's default control, data already read (BLAS one thread
in both: ``threadpool_limits(1)``, as the other benchmarks).  The two fits are compared by
the log-likelihood (lme4's Laplace ``logLik`` is the full one).  glmer is skipped, with a
message, when ``Rscript`` or lme4 is missing.  Run: ``python benchmarks/glmm_speed.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from trialmlm.glimmix import glmm

CONTRACEPTION = Path(__file__).parents[1] / "tests" / "reference" / "glmm" / "contraception.csv"
TRIAL = "RESP ~ ARM * WEEK + (1 + WEEK | USUBJID)"


def simulate_trial(n: int = 1000, visits: int = 6, seed: int = 1) -> pd.DataFrame:
    """Two arms, weeks 0..10 in 6 visits, random intercept SD 1.2 and slope SD 0.15 per week."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(["PBO", "TRT"], n)
    b = rng.multivariate_normal([0, 0], [[1.44, -0.03], [-0.03, 0.0225]], n)
    rows = np.repeat(np.arange(n), visits)
    week = np.tile(np.linspace(0, 10, visits), n)
    eta = -0.4 + (0.03 + 0.08 * (arm[rows] == "TRT")) * week + b[rows, 0] + b[rows, 1] * week
    y = (rng.random(rows.size) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"USUBJID": rows, "ARM": arm[rows], "WEEK": week, "RESP": y})


def contraception() -> pd.DataFrame:
    data = pd.read_csv(CONTRACEPTION)
    urban_district = data["urban"] + ":" + data["district"].astype(str)
    return data.assign(age2=data["age"] ** 2, urban_district=urban_district)


def cases() -> list[tuple[str, pd.DataFrame, str, str]]:
    """(label, data, trialmlm formula, glmer formula)."""
    return [("(a) trial 1,000 x 6, RI + slope", simulate_trial(), TRIAL, TRIAL),
            ("(b) contra, (1 | urban:district)", contraception(),
             "use ~ age + age2 + urban + livch + (1 | urban_district)",
             "use ~ 1 + age + I(age^2) + urban + livch + (1 | urban:district)")]


def run_trialmlm(formula: str, data: pd.DataFrame) -> tuple[float, float]:
    with threadpool_limits(1):
        start = time.perf_counter()
        fit = glmm(formula, data, method="laplace")
        return time.perf_counter() - start, fit.loglik


def run_glmer(formula: str, data: pd.DataFrame) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        data.to_csv(path, index=False)
        script = (f"suppressMessages(library(lme4)); d <- read.csv('{path}'); "
                  "for (v in intersect(c('urban', 'livch', 'ARM'), names(d))) d[[v]] <- factor(d[[v]]); "
                  f"t0 <- Sys.time(); f <- glmer({formula}, data = d, family = binomial); "
                  "s <- as.numeric(difftime(Sys.time(), t0, units = 'secs')); cat(s, logLik(f))")
        one_thread = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        printed = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True,
                                 env=one_thread)
        seconds, loglik = map(float, printed.stdout.split()[-2:])
        return seconds, loglik


def has_lme4() -> bool:
    if shutil.which("Rscript") and subprocess.run(["Rscript", "-e", "library(lme4)"],
                                                  capture_output=True).returncode == 0:
        return True
    print("Rscript with lme4 is not installed: glmer not timed")
    return False


def main() -> None:
    r = has_lme4()
    runs = cases()
    run_trialmlm(runs[1][2], runs[1][1])  # imports and first calls outside the timing
    print(f"{'case':<36}{'rows':>7}  {'trialmlm s':>11}{'glmer s':>9}{'glmer / trialmlm':>18}"
          f"{'loglik trialmlm':>17}{'- glmer':>10}")
    for case, data, ours, theirs in runs:
        seconds, loglik = min((run_trialmlm(ours, data) for _ in range(3)), key=lambda t: t[0])
        other = run_glmer(theirs, data) if r else (np.nan, np.nan)
        print(f"{case:<36}{len(data):>7,}  {seconds:>11.3f}{other[0]:>9.3f}{other[0] / seconds:>18.1f}"
              f"{loglik:>17.4f}{loglik - other[1]:>10.1e}")


if __name__ == "__main__":
    main()
