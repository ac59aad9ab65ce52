"""Benchmark: the BCVA ``us`` MMRM on an idle and on a busy machine, beside R mmrm.

mmrm's ``bcva_data`` (1,000 subjects x 10 visits, 8,605 observations; written to a CSV by
``Rscript``), ``BCVA_CHG ~ ARMCD * AVISIT + us(AVISIT | USUBJID)``, REML.  Two conditions:
*idle* (the machine as it is) and *busy* (one ``python -c "while True: pass"`` started here
and killed after).  They alternate, repeat by repeat, so that both see the same load from
other jobs.  In each: trialmlm with the BLAS threads uncontrolled
(``TRIALMLM_BLAS_THREADS=caller``: OpenBLAS's default, one thread per core; trialmlm
before :mod:`trialmlm.engine.threads`), trialmlm with its rule (one thread in the hot
paths), and R mmrm (default control) in an R process started once, which fits on request.
Medians over ``--repeats`` of the wall-clock time of the ``fit`` / ``mmrm`` call (data
already read), and the load averages (``uptime``) at the start and at the end.  Without
``Rscript`` and mmrm the trialmlm part runs on the simulated trial of bench_mmrm.py.

Run:  python benchmarks/bench_busy.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import trialmlm
from trialmlm.engine.threads import CALLER, ENVIRONMENT

FORMULA = "BCVA_CHG ~ ARMCD * AVISIT + us(AVISIT | USUBJID)"
BUSY = [sys.executable, "-c", "while True: pass"]
MACHINES = ("idle", "busy")
TOOLS = ("before", "after", "mmrm")

R_DATA = r"""
suppressPackageStartupMessages(library(mmrm))
write.csv(mmrm::bcva_data, "%s", row.names = FALSE)
"""
R_SERVER = r"""
suppressPackageStartupMessages(library(mmrm))
d <- mmrm::bcva_data
requests <- file("stdin", open = "r")
while (length(readLines(requests, n = 1)) > 0) {
  t <- system.time(m <- mmrm(BCVA_CHG ~ ARMCD * AVISIT + us(AVISIT | USUBJID), data = d))[["elapsed"]]
  cat(t, sprintf("%.10f", as.numeric(logLik(m))), "\n")
  flush(stdout())
}
"""


def has_mmrm() -> bool:
    if shutil.which("Rscript") is None:
        return False
    return subprocess.run(["Rscript", "-e", "library(mmrm)"], capture_output=True).returncode == 0


def read_data(with_r: bool) -> pd.DataFrame:
    """``bcva_data`` from R mmrm, else bench_mmrm.py's simulated trial under the same names."""
    if not with_r:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_mmrm import simulate

        return simulate(1000).rename(columns={"Y": "BCVA_CHG", "ARM": "ARMCD"})
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "bcva.csv"
        subprocess.run(["Rscript", "-e", R_DATA % csv.as_posix()], check=True, capture_output=True)
        data = pd.read_csv(csv)
    data["AVISIT"] = pd.Categorical(data["AVISIT"], categories=sorted(data["AVISIT"].unique()))
    return data


def load() -> str:
    """The load averages as ``uptime`` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def time_fit(data: pd.DataFrame, threads: str | None) -> tuple[float, float]:
    """Seconds of one ``trialmlm.fit`` and its log-likelihood; ``threads`` the value of
    ``TRIALMLM_BLAS_THREADS`` (None: unset, trialmlm's rule)."""
    if threads is None:
        os.environ.pop(ENVIRONMENT, None)
    else:
        os.environ[ENVIRONMENT] = threads
    t0 = time.perf_counter()
    fit = trialmlm.fit(FORMULA, data)
    return time.perf_counter() - t0, fit.loglik


class RFits:
    """An R process with mmrm and the data loaded; :meth:`fit` times one ``mmrm`` call there."""

    def __init__(self):
        self.process = subprocess.Popen(["Rscript", "-e", R_SERVER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def fit(self) -> tuple[float, float]:
        """Seconds of one R mmrm fit (default control) and its log-likelihood."""
        self.process.stdin.write("fit\n")
        self.process.stdin.flush()
        seconds, loglik = self.process.stdout.readline().split()
        return float(seconds), float(loglik)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def one_repeat(data: pd.DataFrame, r: RFits | None, times: dict, logliks: dict) -> None:
    """trialmlm before and after and R mmrm once each, idle then busy."""
    for machine in MACHINES:
        busy = subprocess.Popen(BUSY) if machine == "busy" else None
        try:
            if busy is not None:
                time.sleep(0.5)  # the busy loop running
            for label, threads in (("before", CALLER), ("after", None)):
                seconds, logliks[label] = time_fit(data, threads)
                times[machine, label].append(seconds)
            if r is not None:
                seconds, logliks["mmrm"] = r.fit()
                times[machine, "mmrm"].append(seconds)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5, help="fits per tool and condition")
    args = ap.parse_args()
    with_r = has_mmrm()
    data = read_data(with_r)
    print(f"{'bcva_data' if with_r else 'simulated trial'}: {data['USUBJID'].nunique()} subjects, "
          f"{len(data)} observations; {FORMULA}")
    time_fit(data, None)  # imports and first touches of memory, not timed
    r = RFits() if with_r else None
    times = {(m, t): [] for m in MACHINES for t in TOOLS}
    logliks = {"mmrm": np.nan}
    start = load()
    try:
        for _ in range(args.repeats):
            one_repeat(data, r, times, logliks)
    finally:
        os.environ.pop(ENVIRONMENT, None)
        if r is not None:
            r.close()
    print(f"load averages (1, 5, 15 min): {start} at the start, {load()} at the end")
    med = {key: float(np.median(t)) if t else np.nan for key, t in times.items()}
    print(f"{'machine':<8}{'before s':>10}{'after s':>10}{'mmrm s':>9}{'mmrm/before':>13}{'mmrm/after':>12}")
    for m in MACHINES:
        print(f"{m:<8}{med[m, 'before']:>10.3f}{med[m, 'after']:>10.3f}{med[m, 'mmrm']:>9.2f}"
              f"{med[m, 'mmrm'] / med[m, 'before']:>13.1f}{med[m, 'mmrm'] / med[m, 'after']:>12.1f}")
    for label in TOOLS:
        print(f"busy / idle, {label}: {med['busy', label] / med['idle', label]:.2f}")
    print(f"log-likelihood: trialmlm after - before {logliks['after'] - logliks['before']:.1e}, "
          f"trialmlm - mmrm {logliks['after'] - logliks['mmrm']:.2e}")


if __name__ == "__main__":
    main()
