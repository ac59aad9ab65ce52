"""Benchmark: delta-adjusted tipping point, 20 deltas x 100 imputations, 300 subjects x 6 visits.

Each imputation refits the unstructured MMRM to a bootstrap sample, imputes, and fits the
MMRM to the completed data once per delta (2,000 analysis fits in all).  Prints the wall
time for 1 and 2 worker processes and the tipping delta (identical for both: every
imputation has its own seed).  Target: under 60 s on 2 cores.
Run:  python benchmarks/bench_tipping.py [--imputations 100] [--deltas 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_condmean import simulate  # the same simulator, two arms

import trialmlm
from trialmlm.estimands import tipping_point

FORMULA = "CHG ~ BASE + TRT * AVISIT + us(AVISIT | USUBJID)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imputations", type=int, default=100)
    parser.add_argument("--deltas", type=int, default=20)
    args = parser.parse_args()
    data = simulate(300, arms=("PBO", "ACT"), effect=1.0, dropout=0.08)
    fit = trialmlm.fit(FORMULA, data)
    deltas = np.linspace(0, 4, args.deltas)
    missing = data["CHG"].isna().mean()
    print(f"{data['USUBJID'].nunique()} subjects x 6 visits, {missing:.1%} missing; "
          f"{args.deltas} deltas x {args.imputations} imputations = "
          f"{args.deltas * args.imputations} analyses")
    print(f"{'workers':>8} {'seconds':>9} {'ms/analysis':>12} {'tipping delta':>14}")
    for workers in (1, 2):
        start = time.perf_counter()
        tp = tipping_point(fit, deltas, reference="PBO", n_imputations=args.imputations, seed=2026,
                           workers=workers, progress=False)
        seconds = time.perf_counter() - start
        per = 1000 * seconds / (args.deltas * args.imputations)
        tip = "none" if tp.tipping_delta is None else f"{tp.tipping_delta:.3f}"
        print(f"{workers:>8} {seconds:>9.1f} {per:>12.1f} {tip:>14}")


if __name__ == "__main__":
    main()
