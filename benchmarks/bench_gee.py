"""Benchmark: GEE binomial, exchangeable, 100,000 subjects x 6 visits (issue 22: < 2 s).

Compares trialmlm.gee with statsmodels GEE (if installed) and R geepack geeglm (if Rscript
and geepack are installed) on the same simulated data; prints a table.  Run:
``python benchmarks/bench_gee.py [n_subjects]``.
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


def timed(run) -> tuple[float, np.ndarray | None]:
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def run_trialmlm(data):
    return trialmlm.gee("RESP ~ BASE + ARM * AVISIT", data, working="exchangeable", subject="USUBJID",
                        visit="AVISIT").beta


def run_statsmodels(data):
    import statsmodels.api as sm
    import statsmodels.formula.api as smf
    model = smf.gee("RESP ~ BASE + ARM * AVISIT", "USUBJID", data, time=data["WAVE"] - 1,
                    family=sm.families.Binomial(), cov_struct=sm.cov_struct.Exchangeable())
    return np.asarray(model.fit().params)


def run_geepack(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        data.to_csv(path, index=False)
        script = (f"suppressMessages(library(geepack)); d <- read.csv('{path}'); t0 <- Sys.time(); "
                  "f <- geeglm(RESP ~ BASE + ARM * AVISIT, id = USUBJID, waves = WAVE, data = d, "
                  "family = binomial, corstr = 'exchangeable'); "
                  "cat(as.numeric(difftime(Sys.time(), t0, units = 'secs')))")
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().split()[-1])


def main(n: int = 100_000) -> None:
    data = simulate(n)
    run_trialmlm(data.iloc[:600])  # imports (scipy, formulaic) outside the timing
    rows = [("trialmlm.gee", *timed(lambda: run_trialmlm(data)))]
    try:
        import statsmodels  # noqa: F401
        rows.append(("statsmodels GEE", *timed(lambda: run_statsmodels(data))))
    except ImportError:
        rows.append(("statsmodels GEE", np.nan, None))
    if shutil.which("Rscript"):
        try:
            rows.append(("geepack geeglm (fit only)", run_geepack(data), None))
        except subprocess.CalledProcessError:
            rows.append(("geepack geeglm (fit only)", np.nan, None))
    print(f"GEE binomial exchangeable: {data['USUBJID'].nunique()} subjects, {len(data)} rows")
    print(f"{'engine':<28}{'seconds':>10}{'vs trialmlm':>14}")
    for name, seconds, _ in rows:
        print(f"{name:<28}{seconds:>10.2f}{seconds / rows[0][1]:>14.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
