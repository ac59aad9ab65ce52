"""Benchmark: MMRM fit time for us / toep / ar1 on a simulated 1,000 x 10 trial.

Also times the Satterthwaite and Kenward-Roger per-visit treatment differences of the
``us`` fit (from a fresh fit, so that nothing is cached).

Prints a table of median wall-clock fit times (and R mmrm / nlme::gls times side by side
where ``Rscript`` with those packages is installed), then the 100,000-subject ``us`` fit
with its peak memory.  Run:  python benchmarks/bench_mmrm.py [--large]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import trialmlm


def simulate(n_subjects: int, n_visits: int = 10, seed: int = 1) -> pd.DataFrame:
    """Two-arm trial, AR-like heterogeneous covariance, monotone dropout (~14% of visits)."""
    rng = np.random.default_rng(seed)
    visits = np.arange(1, n_visits + 1)
    sd = np.linspace(2.0, 4.0, n_visits)
    corr = 0.6 ** np.abs(np.subtract.outer(visits, visits)) * 0.7 + 0.3
    np.fill_diagonal(corr, 1.0)
    chol = np.linalg.cholesky(corr * np.outer(sd, sd))
    arm = rng.integers(0, 2, n_subjects)
    base = rng.normal(30, 5, n_subjects)
    mean = 0.2 * (base[:, None] - 30) - np.outer(arm, 0.15 * visits) - 0.1 * visits
    y = mean + rng.standard_normal((n_subjects, n_visits)) @ chol.T
    drop = np.where(rng.random(n_subjects) < 0.3, rng.integers(2, n_visits + 1, n_subjects), n_visits + 1)
    observed = visits[None, :] < drop[:, None]
    subj = np.repeat(np.arange(n_subjects), n_visits)
    frame = pd.DataFrame({
        "USUBJID": np.char.add("S", subj.astype(str)),
        "ARM": np.where(arm[subj] == 1, "ACT", "PBO"),
        "BASE": base[subj],
        "AVISIT": pd.Categorical(np.char.add("V", np.tile(visits, n_subjects).astype(str)),
                                 categories=[f"V{v}" for v in visits]),
        "Y": y.ravel(),
    })
    return frame.loc[observed.ravel()].reset_index(drop=True)


def time_fit(formula: str, data: pd.DataFrame, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit = trialmlm.fit(formula, data)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), fit.loglik


R_SCRIPT = r"""
suppressPackageStartupMessages({ok_mmrm <- requireNamespace("mmrm", quietly=TRUE); library(nlme)})
d <- read.csv("%s"); d$AVISIT <- factor(d$AVISIT, levels=paste0("V", 1:10)); d$VIS <- as.integer(d$AVISIT)
d$ARM <- factor(d$ARM); d$USUBJID <- factor(d$USUBJID)
for (s in c("us", "toep", "ar1")) {
  if (ok_mmrm) {
    f <- as.formula(sprintf("Y ~ BASE + ARM * AVISIT + %%s(AVISIT | USUBJID)", s))
    t <- system.time(m <- mmrm::mmrm(f, data=d))[["elapsed"]]
    cat(s, "mmrm", t, sprintf("%%.10f", as.numeric(logLik(m))), "\n")
  } else if (s != "toep") {
    cor <- if (s == "us") corSymm(form=~VIS|USUBJID) else corAR1(form=~VIS|USUBJID)
    w <- if (s == "us") varIdent(form=~1|AVISIT) else NULL
    t <- system.time(m <- gls(Y ~ BASE + ARM * AVISIT, data=d, correlation=cor, weights=w))[["elapsed"]]
    cat(s, "nlme::gls", t, sprintf("%%.10f", as.numeric(logLik(m))), "\n")
  }
}
"""


def r_times(data: pd.DataFrame) -> dict:
    if shutil.which("Rscript") is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        data.to_csv(csv, index=False)
        script = Path(tmp) / "b.R"
        script.write_text(R_SCRIPT % csv)
        out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, timeout=3600)
    res = {}
    for line in out.stdout.splitlines():
        s, tool, t, ll = line.split()
        res[s] = (tool, float(t), float(ll))
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--large", action="store_true", help="also fit 100,000 subjects x 10 visits (us)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    data = simulate(1000)
    print(f"simulated trial: 1000 subjects x 10 visits, {len(data)} observations")
    peers = r_times(data)
    print(f"{'structure':<10}{'trialmlm s':>12}{'peer':>12}{'peer s':>10}{'ratio':>8}{'loglik diff':>14}")
    for s in ("us", "toep", "ar1"):
        t, ll = time_fit(f"Y ~ BASE + ARM * AVISIT + {s}(AVISIT | USUBJID)", data, args.repeats)
        tool, pt, pll = peers.get(s, ("-", np.nan, np.nan))
        print(f"{s:<10}{t:>12.3f}{tool:>12}{pt:>10.2f}{pt / t:>8.1f}{ll - pll:>14.2e}")
    for ddf in ("satterthwaite", "kenward-roger"):
        times = []
        for _ in range(args.repeats):
            fresh = trialmlm.fit("Y ~ BASE + ARM * AVISIT + us(AVISIT | USUBJID)", data)
            t0 = time.perf_counter()
            fresh.compare("ARM", by="AVISIT", ddf=ddf)
            times.append(time.perf_counter() - t0)
        print(f"us: {ddf} df and SEs of the 10 per-visit differences: {np.median(times):.3f} s")
    if args.large:
        big = simulate(100_000, seed=2)
        t, _ = time_fit("Y ~ BASE + ARM * AVISIT + us(AVISIT | USUBJID)", big, 1)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"us, 100,000 subjects x 10 visits ({len(big)} obs): {t:.1f} s, peak RSS {peak:.2f} GB")


if __name__ == "__main__":
    main()
