"""Benchmark: random intercept + slope at registry size, trialmlm beside R lme4 in the same run.

``Y ~ ARM * TIME + (1 + TIME | ID)`` on N subjects x ``--visits`` visits at irregular times
(every subject its own visit pattern; ``simulate``), REML and ML.  trialmlm is timed from
the data frame to the fit (formula, design, per-subject sums, Newton-Raphson) in a child
process that reports its peak resident memory (``ru_maxrss``: Python, the data frame and
the fit; its median CPU seconds too, the measure that a machine shared with other jobs
disturbs least); R ``lme4::lmer`` (default control) on the ``lmer`` call alone (the CSV read
before), with its process's peak memory from ``/usr/bin/time`` where installed, and the
log-likelihood difference lme4 - trialmlm.  ``--busy`` runs ``python -c "while True: pass"``
beside every measurement (a loaded laptop).
Run:  python benchmarks/bench_registry_random.py [--subjects 125000 1000000] [--visits 4]
      [--repeats 3] [--methods REML ML] [--no-r N ...] [--busy]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FORMULA = "Y ~ ARM * TIME + (1 + TIME | ID)"


def simulate(n_subjects: int, visits: int, seed: int = 7) -> pd.DataFrame:
    """Two arms, visits at cumulative U(0.2, 1) times from 0, G = [[4, -0.3], [-0.3, 0.5]],
    residual SD 1.5, slope -0.5 (-0.9 on the active arm); built without a loop over subjects."""
    rng = np.random.default_rng(seed)
    b = rng.multivariate_normal([0.0, 0.0], [[4.0, -0.3], [-0.3, 0.5]], n_subjects)
    steps = rng.uniform(0.2, 1.0, (n_subjects, visits))
    steps[:, 0] = 0.0
    t = np.cumsum(steps, axis=1).round(3).ravel()
    sid = np.repeat(np.arange(n_subjects), visits)
    arm = np.arange(n_subjects) % 2
    y = 10 + b[sid, 0] + (b[sid, 1] - 0.5 - 0.4 * arm[sid]) * t + rng.normal(0, 1.5, sid.size)
    ids = pd.Categorical.from_codes(sid, [f"S{i:07d}" for i in range(n_subjects)])
    return pd.DataFrame({"ID": ids, "ARM": np.where(arm[sid] == 1, "ACT", "PBO"), "TIME": t, "Y": y})


def child(n_subjects: int, visits: int, method: str, repeats: int) -> None:
    """Time ``repeats`` fits in this process; print JSON (seconds, log-likelihood, peak RSS)."""
    from trialmlm import fit as fit_model  # the lazy import, outside the timing

    data = simulate(n_subjects, visits)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fit = fit_model(FORMULA, data, method=method)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"times": times, "cpu": cpu, "loglik": fit.loglik, "iterations": fit.n_iter,
                      "rss_data_mb": base / 1024, "rss_peak_mb": peak / 1024}))


def trialmlm_run(n_subjects: int, visits: int, method: str, repeats: int) -> dict:
    command = [sys.executable, __file__, "--child", str(n_subjects), str(visits), method, str(repeats)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
d <- read.csv("%s")
t <- system.time(m <- lmer(Y ~ ARM * TIME + (1 + TIME | ID), data = d, REML = %s))[["elapsed"]]
cat(t, sprintf("%%.10f", as.numeric(logLik(m))), "\n")
"""


def lme4_run(data: pd.DataFrame, method: str) -> dict | None:
    """``lmer`` seconds, log-likelihood and the R process's peak RSS (MB; None without /usr/bin/time)."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script, rss = Path(tmp) / "d.csv", Path(tmp) / "b.R", Path(tmp) / "rss"
        data.to_csv(csv, index=False)
        script.write_text(R_SCRIPT % (csv, "TRUE" if method == "REML" else "FALSE"))
        timer = ["/usr/bin/time", "-f", "%M", "-o", str(rss)] if Path("/usr/bin/time").exists() else []
        out = subprocess.run(timer + ["Rscript", str(script)], capture_output=True, text=True, timeout=7200)
        seconds, loglik = out.stdout.split()[-2:]
        peak = float(rss.read_text().split()[-1]) / 1024 if timer else None
    warned = "warning" in out.stderr.lower() or "converge" in out.stderr.lower()
    return {"seconds": float(seconds), "loglik": float(loglik), "rss_peak_mb": peak, "warning": warned}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, nargs="+", default=[125_000])
    ap.add_argument("--visits", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=["REML", "ML"])
    ap.add_argument("--no-r", type=int, nargs="*", default=[], help="subject counts to run without lme4")
    ap.add_argument("--busy", action="store_true", help="a competing busy process during the runs")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        n, k, method, repeats = args.child
        return child(int(n), int(k), method, int(repeats))
    sys.stdout.reconfigure(line_buffering=True)  # each line as it is measured
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        for n in args.subjects:
            data = simulate(n, args.visits)
            print(f"\n{n:,} subjects x {args.visits} visits ({len(data):,} rows), {FORMULA}"
                  f"{' (busy machine)' if busy else ''}")
            print(f"{'method':<7}{'tool':<12}{'seconds (min-max)':>22}{'peak RSS MB':>13}{'ratio':>8}"
                  f"{'loglik - trialmlm':>19}")
            for method in args.methods:
                ours = trialmlm_run(n, args.visits, method, args.repeats)
                median = float(np.median(ours["times"]))
                spread = f"{median:.3f} ({min(ours['times']):.3f}-{max(ours['times']):.3f})"
                print(f"{method:<7}{'trialmlm':<12}{spread:>22}{ours['rss_peak_mb']:>13.0f}{1.0:>8.1f}{0.0:>19.2e}"
                      f"  (CPU {float(np.median(ours['cpu'])):.3f} s; RSS with the data alone "
                      f"{ours['rss_data_mb']:.0f} MB)")
                peer = None if n in args.no_r else lme4_run(data, method)
                if peer is not None:
                    rss = f"{peer['rss_peak_mb']:.0f}" if peer["rss_peak_mb"] else "-"
                    note = " (lme4 warned)" if peer["warning"] else ""
                    print(f"{method:<7}{'lme4 lmer':<12}{peer['seconds']:>22.3f}{rss:>13}"
                          f"{peer['seconds'] / median:>8.1f}{peer['loglik'] - ours['loglik']:>19.2e}{note}")
    finally:
        if busy is not None:
            busy.terminate()
            busy.wait()


if __name__ == "__main__":
    main()
