"""Benchmark: random intercept + slope, 5,000 subjects with 3-10 visits at irregular times;
then subjects nested in sites (2,000 subjects in 50 sites, site and subject intercepts).

Prints trialmlm's fit time beside statsmodels MixedLM (same data, model, REML; single
factor only) and nlme::lme where ``Rscript`` is installed (``random = ~ 1 | SITE/ID`` for
the nested model), with each peer's log-likelihood difference; for the nested model also
the time of the Kenward-Roger covariance and of the three sandwich estimators (sites as
clusters).
Run:  python benchmarks/bench_random.py [--subjects 5000] [--sites 50 --nested-subjects 2000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import trialmlm

FORMULA = "Y ~ ARM * TIME + (1 + TIME | ID)"
NESTED = "Y ~ ARM * TIME + (1 | SITE) + (1 | ID)"


def simulate(n_subjects: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.array([[4.0, -0.3], [-0.3, 0.5]])
    rows = []
    for i in range(n_subjects):
        k = rng.integers(3, 11)
        t = np.concatenate([[0.0], np.cumsum(rng.uniform(0.2, 1.0, k - 1))]).round(3)
        arm = i % 2
        b = rng.multivariate_normal([0, 0], g)
        y = 10 + b[0] + (b[1] - 0.5 - 0.4 * arm) * t + rng.normal(0, 1.5, k)
        rows.append(pd.DataFrame({"ID": f"S{i:05d}", "ARM": "ACT" if arm else "PBO", "TIME": t, "Y": y}))
    return pd.concat(rows, ignore_index=True)


def simulate_nested(n_sites: int, n_subjects: int, seed: int = 11) -> pd.DataFrame:
    """``simulate`` plus a site per subject (equal-sized sites) with a N(0, 2^2) site effect."""
    data = simulate(n_subjects, seed)
    rng = np.random.default_rng(seed + 1)
    site = np.arange(n_subjects) % n_sites
    effect = rng.normal(0, 2.0, n_sites)
    subject = data["ID"].str[1:].astype(int).to_numpy()
    return data.assign(SITE=[f"C{s:03d}" for s in site[subject]], Y=data["Y"] + effect[site[subject]])


def statsmodels_fit(data: pd.DataFrame):
    import statsmodels.formula.api as smf

    t0 = time.perf_counter()
    res = smf.mixedlm("Y ~ ARM * TIME", data, groups=data["ID"], re_formula="~TIME").fit(reml=True)
    return time.perf_counter() - t0, float(res.llf)


R_SCRIPT = r"""
suppressPackageStartupMessages(library(nlme))
d <- read.csv("%s")
t <- system.time(m <- lme(Y ~ ARM * TIME, random = %s, data = d))[["elapsed"]]
cat(t, sprintf("%%.10f", as.numeric(logLik(m))), "\n")
"""


def nlme_fit(data: pd.DataFrame, random: str = "~ TIME | ID"):
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "d.csv", Path(tmp) / "b.R"
        data.to_csv(csv, index=False)
        script.write_text(R_SCRIPT % (csv, random))
        out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, timeout=3600)
    t, ll = out.stdout.split()
    return float(t), float(ll)


def compare(data: pd.DataFrame, formula: str, repeats: int, peers) -> None:
    """Median of ``repeats`` trialmlm fit times, then each peer's (seconds, loglik)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit = trialmlm.fit(formula, data)
        times.append(time.perf_counter() - t0)
    ours = float(np.median(times))
    print(f"{'tool':<22}{'seconds':>10}{'ratio':>8}{'loglik - trialmlm':>20}")
    print(f"{'trialmlm':<22}{ours:>10.3f}{1.0:>8.1f}{0.0:>20.2e}")
    for name, run in peers:
        result = run()
        if result is not None:
            t, ll = result
            print(f"{name:<22}{t:>10.3f}{t / ours:>8.1f}{ll - fit.loglik:>20.2e}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=5000)
    ap.add_argument("--sites", type=int, default=50)
    ap.add_argument("--nested-subjects", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    data = simulate(args.subjects)
    print(f"{args.subjects} subjects, {len(data)} observations, model {FORMULA} (REML)")
    compare(data, FORMULA, args.repeats, [("statsmodels MixedLM", lambda: statsmodels_fit(data)),
                                          ("nlme::lme", lambda: nlme_fit(data))])
    nested = simulate_nested(args.sites, args.nested_subjects)
    print(f"\n{args.nested_subjects} subjects in {args.sites} sites, {len(nested)} observations, "
          f"model {NESTED} (REML)")
    compare(nested, NESTED, args.repeats, [("nlme::lme", lambda: nlme_fit(nested, "~ 1 | SITE/ID"))])
    inference_times(trialmlm.fit(NESTED, nested))


def inference_times(fit) -> None:
    """Seconds for the Kenward-Roger covariance and the sandwich estimators (sites as clusters)."""
    calls = [("Kenward-Roger covariance", lambda: fit.kenward_roger_vcov())]
    calls += [(f"sandwich {k}", lambda k=k: fit.empirical_vcov(k))
              for k in ("empirical", "empirical-bias-reduced", "empirical-jackknife")]
    for name, call in calls:
        t0 = time.perf_counter()
        call()
        print(f"{name:<40}{time.perf_counter() - t0:>10.3f}")


if __name__ == "__main__":
    main()
