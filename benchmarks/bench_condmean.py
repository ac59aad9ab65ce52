"""Benchmark: conditional mean imputation with jackknife, 500 subjects x 6 visits, 3 arms, us.

The jackknife refits the unstructured imputation MMRM 500 times (warm-started from the
full-data estimate), imputes conditional means under J2R for every dropout and analyses
each completed data set by an ANCOVA per visit.  Prints the wall time for 1 and 2 worker
processes (identical results).  Target (issue 13): under 10 s on 2 cores.
Run:  python benchmarks/bench_condmean.py [--subjects 500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import trialmlm
from trialmlm.missing import condmean

FORMULA = "CHG ~ BASE * AVISIT + TRT * AVISIT + us(AVISIT | USUBJID)"
ARMS = ("PBO", "LOW", "HIGH")


def simulate(n: int, k: int = 6, seed: int = 1) -> pd.DataFrame:
    """Three arms, MAR dropout (more likely after a high response), 3 % intermittent gaps."""
    rng = np.random.default_rng(seed)
    sigma = 0.6 ** np.abs(np.subtract.outer(range(k), range(k))) * 4 + np.eye(k)
    rows = []
    for i in range(n):
        arm = ARMS[i % 3]
        base = rng.normal(20, 3)
        mu = np.arange(1, k + 1) * -0.5 * (1 + ARMS.index(arm) / 2) + 0.3 * (base - 20)
        y = rng.multivariate_normal(mu, sigma)
        gone = False
        for j in range(k):
            if j > 0 and not gone and rng.random() < 0.06 * (1 + (y[j - 1] > mu[j - 1])):
                gone = True
            value = np.nan if gone or rng.random() < 0.03 else y[j]
            rows.append((f"S{i:03d}", arm, base, f"W{j + 1}", value))
    return pd.DataFrame(rows, columns=["USUBJID", "TRT", "BASE", "AVISIT", "CHG"])


def dropout_ice(data: pd.DataFrame) -> pd.DataFrame:
    """J2R from the first visit of each subject's terminal run of missing visits."""
    observed = data.pivot(index="USUBJID", columns="AVISIT", values="CHG").notna().to_numpy()
    last = observed.shape[1] - 1 - np.argmax(observed[:, ::-1], axis=1)
    subjects = np.asarray(sorted(data["USUBJID"].unique()))
    dropped = last < observed.shape[1] - 1
    visits = np.asarray(sorted(data["AVISIT"].unique()))
    return pd.DataFrame({"USUBJID": subjects[dropped], "AVISIT": visits[last[dropped] + 1], "strategy": "JR"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=500)
    args = parser.parse_args()
    data = simulate(args.subjects)
    fit = trialmlm.fit(FORMULA, data)
    ice = dropout_ice(data)
    print(f"{args.subjects} subjects x 6 visits, {data['CHG'].isna().mean():.1%} missing, "
          f"{len(ice)} J2R events")
    print(f"{'workers':>8} {'seconds':>9} {'full data':>10} {'jackknife':>10}")
    for workers in (1, 2):
        start = time.perf_counter()
        result = condmean(fit, ice=ice, reference="PBO", workers=workers, progress=False)
        seconds = time.perf_counter() - start
        print(f"{workers:>8} {seconds:>9.1f} {result.seconds['full_data']:>10.2f} "
              f"{result.seconds['jackknife']:>10.2f}")


if __name__ == "__main__":
    main()
