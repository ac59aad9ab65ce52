"""Benchmark: conditional mean imputation (jackknife, bootstrap) and bootstrapped ML multiple
imputation, 500 subjects x 6 visits, 3 arms (or 2: ``--arms 2``), us.

The jackknife refits the unstructured imputation MMRM 500 times (warm-started from the
full-data estimate), imputes conditional means under J2R for every dropout and analyses
each completed data set by an ANCOVA per visit; the bootstrap does the same for B bootstrap
samples; BMLMI refits B bootstrap samples and imputes each D times by random draws.  Prints
the wall time for 1 and 2 worker processes (identical results) and the CPU time (this process
and its workers: the wall time on an idle core, a fair figure on a shared machine).  Targets (issue 13), on 2
cores: jackknife under 10 s, BMLMI with B = 100, D = 4 under 20 s.  With ``--rbmi`` (and
``Rscript`` with rbmi installed) also times rbmi's draws + impute of the same data (mmrm's
default optimizer, one core; rbmi's ``ancova`` analyses two arms only, so its analysis, a small
share of the time, is not timed).  ``--repeat r`` runs everything r times (trialmlm and rbmi in
turn, so both see the same load) and prints the median; ``--methods`` picks the rows.
Issue 25's target: ``--arms 2 --subjects 200 --methods jackknife --rbmi``: the jackknife at
least 10 times faster than rbmi's; ``--subjects 500 --methods jackknife``: under 5 s on 2 workers.
Run:  python benchmarks/bench_condmean.py [--subjects 500] [--arms 3] [--methods ...] [--repeat 1] [--rbmi]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import trialmlm
from trialmlm.estimands import bmlmi, condmean, ice_table

FORMULA = "CHG ~ BASE * AVISIT + TRT * AVISIT + us(AVISIT | USUBJID)"
ARMS = ("PBO", "LOW", "HIGH")


def simulate(n: int, k: int = 6, seed: int = 1, arms: tuple = ARMS, effect: float = 0.5,
             dropout: float = 0.06) -> pd.DataFrame:
    """Arm i's mean falls by 0.5 (1 + ``effect`` i) a visit; MAR dropout (``dropout`` a visit,
    doubled after a high response); 3 % intermittent gaps.  Also the trial of bench_tipping.py."""
    rng = np.random.default_rng(seed)
    sigma = 0.6 ** np.abs(np.subtract.outer(range(k), range(k))) * 4 + np.eye(k)
    rows = []
    for i in range(n):
        arm = arms[i % len(arms)]
        base = rng.normal(20, 3)
        mu = np.arange(1, k + 1) * -0.5 * (1 + effect * arms.index(arm)) + 0.3 * (base - 20)
        y = rng.multivariate_normal(mu, sigma)
        gone = False
        for j in range(k):
            if j > 0 and not gone and rng.random() < dropout * (1 + (y[j - 1] > mu[j - 1])):
                gone = True
            value = np.nan if gone or rng.random() < 0.03 else y[j]
            rows.append((f"S{i:03d}", arm, base, f"W{j + 1}", value))
    return pd.DataFrame(rows, columns=["USUBJID", "TRT", "BASE", "AVISIT", "CHG"])


R_SCRIPT = r"""
suppressPackageStartupMessages(library(rbmi))
d <- read.csv("%s", colClasses = c(USUBJID = "character", AVISIT = "character", TRT = "character"))
d$USUBJID <- factor(d$USUBJID); d$AVISIT <- factor(d$AVISIT)
d$TRT <- factor(d$TRT, levels = c(%s))
ice <- read.csv("%s", colClasses = "character")
vars <- set_vars(outcome = "CHG", visit = "AVISIT", subjid = "USUBJID", group = "TRT",
                 covariates = c("BASE*AVISIT", "TRT*AVISIT"), strategy = "strategy")
ref <- c(%s)
run <- function(method) system.time(impute(draws(d, ice, vars, method, quiet = TRUE), references = ref))
set.seed(1)
t <- run(method_%s)
cat(t[["elapsed"]], t[["user.self"]] + t[["sys.self"]] + t[["user.child"]] + t[["sys.child"]], "\n")
"""


def rbmi_seconds(data: pd.DataFrame, ice: pd.DataFrame, method: str,
                 arms: tuple = ARMS) -> tuple[float, float] | None:
    """Wall and CPU seconds of rbmi's draws + impute with ``method_<method>`` (None without R or on
    an R error); the first of ``arms`` is every arm's reference."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, ice_csv, script = Path(tmp) / "d.csv", Path(tmp) / "ice.csv", Path(tmp) / "b.R"
        data.to_csv(csv, index=False)
        ice.to_csv(ice_csv, index=False)
        levels = ", ".join(f'"{a}"' for a in arms)
        references = ", ".join(f'{a} = "{arms[0]}"' for a in arms)
        script.write_text(R_SCRIPT % (csv, levels, ice_csv, references, method))
        out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, timeout=7200)
    return tuple(map(float, out.stdout.split()[-2:])) if out.returncode == 0 else None


METHODS = {  # name (holds a --methods word): (our call with fit, ICE table, workers; rbmi's method_<...>)
    "condmean jackknife": (
        lambda fit, ice, w: condmean(fit, ice=ice, reference="PBO", workers=w, progress=False),
        'condmean(type = "jackknife")'),
    "condmean bootstrap B=100": (
        lambda fit, ice, w: condmean(fit, ice=ice, reference="PBO", type="bootstrap", n_samples=100, seed=1,
                                     workers=w, progress=False),
        'condmean(type = "bootstrap", n_samples = 100)'),
    "bmlmi B=100 D=4": (
        lambda fit, ice, w: bmlmi(fit, ice=ice, reference="PBO", B=100, D=4, seed=1, workers=w,
                                  progress=False),
        "bmlmi(B = 100, D = 4)"),
}


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the worker processes): on a shared
    machine, the wall time the run would take alone on one core."""
    return time.process_time() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime \
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--arms", type=int, choices=(2, 3), default=3)
    parser.add_argument("--methods", nargs="+", choices=("jackknife", "bootstrap", "bmlmi"),
                        default=["jackknife", "bootstrap", "bmlmi"])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each row; the median is printed")
    parser.add_argument("--rbmi", action="store_true", help="also time rbmi (minutes)")
    args = parser.parse_args()
    arms = ("PBO", "ACT") if args.arms == 2 else ARMS
    data = simulate(args.subjects, arms=arms)
    fit = trialmlm.fit(FORMULA, data)
    ice = ice_table(data, strategy="JR")  # J2R from the visit after each dropout's last observation
    print(f"{args.subjects} subjects x 6 visits, {len(arms)} arms, {data['CHG'].isna().mean():.1%} missing, "
          f"{len(ice)} J2R events; load average {os.getloadavg()[0]:.2f}")
    print(f"{'method':<26} {'workers':>8} {'seconds':>9} {'full data':>10} {'resampling':>11} {'CPU s':>7}")
    for name, (run, r_method) in METHODS.items():
        if not any(m in name for m in args.methods):
            continue
        times = {1: [], 2: []}
        r_times = []
        for _ in range(args.repeat):
            for workers in (1, 2):
                start, cpu = time.perf_counter(), cpu_seconds()
                result = run(fit, ice, workers)
                times[workers].append((time.perf_counter() - start, *result.seconds.values(),
                                       cpu_seconds() - cpu))
            if args.rbmi:
                r_times.append(rbmi_seconds(data, ice, r_method, arms))
        for workers, rows in times.items():
            seconds, full, resampling, cpu = np.median(rows, axis=0)
            print(f"{name:<26} {workers:>8} {seconds:>9.2f} {full:>10.2f} {resampling:>11.2f} {cpu:>7.1f}")
        if args.rbmi and None in r_times:
            print(f"{'  rbmi ' + r_method:<26} {1:>8} {'no R':>9}")
        elif args.rbmi:
            r_wall, r_cpu = np.median(r_times, axis=0)
            print(f"{'  rbmi ' + r_method:<26} {1:>8} {r_wall:>9.2f} {'':>10} {'':>11} {r_cpu:>7.1f}")
            ours = np.median(times[1], axis=0)
            print(f"{'  rbmi / trialmlm (1 worker)':<26} {'':>8} {r_wall / ours[0]:>9.1f} {'':>10} {'':>11} "
                  f"{r_cpu / ours[3]:>7.1f}")
        print(f"  load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
