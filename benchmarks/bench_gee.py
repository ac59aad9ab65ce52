"""Benchmark: GEE binomial, exchangeable, 100,000 / 10,000 / 1,000 subjects x 6 visits
(issue 22: 100,000 subjects in under 2 s, >= 10x geepack and statsmodels).

The same simulated data (a random 10% of visits missing) and the same model,
``RESP ~ BASE + ARM * AVISIT``, binomial, logit, exchangeable working correlation, in
trialmlm.gee (``moments="geepack"``, geepack's moment estimators, so that the three fit the
same estimator), statsmodels GEE (if installed) and R geepack ``geeglm`` (if ``Rscript``
and geepack are installed).  Times: trialmlm and statsmodels from the data frame to the
estimates (formula, design, fit); geepack the ``geeglm`` call in R, data already read.
The parameterisations differ (trialmlm codes factors as SAS does, the last level the
reference; R and patsy the first), so the estimates are compared by the fitted
probabilities they give, max |difference| to trialmlm's, and the correlation alpha.
Run: ``python benchmarks/bench_gee.py [n_subjects ...]``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import trialmlm

FORMULA = "RESP ~ BASE + ARM * AVISIT"


def simulate(n: int, visits: int = 6, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["A", "B", "C"], n)
    u = rng.normal(0, 1, n)
    base = rng.normal(0, 1, n)
    rows = np.repeat(np.arange(n), visits)
    visit = np.tile(np.arange(1, visits + 1), n)
    eta = -0.5 + 0.2 * base[rows] + np.select([arm[rows] == "B", arm[rows] == "C"], [0.3, 0.6], 0) * visit / 6
    y = (rng.random(rows.size) < 1 / (1 + np.exp(-(eta + 0.7 * u[rows])))).astype(float)
    keep = rng.random(rows.size) > 0.1
    return pd.DataFrame({"USUBJID": rows, "ARM": arm[rows], "BASE": base[rows],
                         "AVISIT": [f"V{v}" for v in visit],
                         "WAVE": visit, "RESP": y})[keep].reset_index(drop=True)


def run_trialmlm(data: pd.DataFrame) -> tuple[float, np.ndarray, float]:
    start = time.perf_counter()
    fit = trialmlm.gee(FORMULA, data, working="exchangeable", subject="USUBJID", visit="AVISIT",
                       moments="geepack")
    seconds = time.perf_counter() - start
    return seconds, fit.fitted.reindex(data.index).to_numpy(), float(fit.estimate.alpha[0])


def run_statsmodels(data: pd.DataFrame) -> tuple[float, np.ndarray, float]:
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    start = time.perf_counter()
    model = smf.gee(FORMULA, "USUBJID", data, time=data["WAVE"] - 1, family=sm.families.Binomial(),
                    cov_struct=sm.cov_struct.Exchangeable())
    result = model.fit()
    seconds = time.perf_counter() - start
    return seconds, np.asarray(result.fittedvalues), float(model.cov_struct.dep_params)


def run_geepack(data: pd.DataFrame) -> tuple[float, np.ndarray, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "d.csv", Path(tmp) / "fitted.csv"
        data.to_csv(path, index=False)
        script = (f"suppressMessages(library(geepack)); d <- read.csv('{path}'); t0 <- Sys.time(); "
                  f"f <- geeglm({FORMULA}, id = USUBJID, waves = WAVE, data = d, "
                  "family = binomial, corstr = 'exchangeable'); "
                  "s <- as.numeric(difftime(Sys.time(), t0, units = 'secs')); "
                  f"write.csv(data.frame(mu = fitted(f)), '{out}', row.names = FALSE); "
                  "cat(s, unlist(f$geese$alpha))")
        printed = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
        seconds, alpha = map(float, printed.stdout.split()[-2:])
        return seconds, pd.read_csv(out)["mu"].to_numpy(), alpha


def available() -> list[tuple[str, object]]:
    engines: list[tuple[str, object]] = [("trialmlm.gee", run_trialmlm)]
    try:
        import statsmodels  # noqa: F401
        engines.append(("statsmodels GEE", run_statsmodels))
    except ImportError:
        print("statsmodels is not installed: not compared")
    if shutil.which("Rscript") and subprocess.run(["Rscript", "-e", "library(geepack)"],
                                                  capture_output=True).returncode == 0:
        engines.append(("geepack geeglm (fit only)", run_geepack))
    else:
        print("Rscript with geepack is not installed: not compared")
    return engines


def main(sizes: list[int]) -> None:
    engines = available()
    run_trialmlm(simulate(200))  # imports (scipy, formulaic) outside the timing
    print(f"{'subjects':>9}{'rows':>9}  {'engine':<27}{'seconds':>9}{'x trialmlm':>11}"
          f"{'max |d mu|':>12}{'alpha':>10}")
    for n in sizes:
        data = simulate(n)
        results = [(name, *run(data)) for name, run in engines]
        ours = results[0]
        for name, seconds, mu, alpha in results:
            print(f"{n:>9,}{len(data):>9,}  {name:<27}{seconds:>9.2f}{seconds / ours[1]:>11.1f}"
                  f"{np.max(np.abs(mu - ours[2])):>12.1e}{alpha:>10.5f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000, 10_000, 1_000])
