"""Benchmark: one MMRM fit at registry scale, in memory and from a Parquet dataset via Dask.

The model is ``Y ~ BASE + ARM * AVISIT + us(AVISIT | USUBJID)`` on the two-arm, 10-visit
trial of ``bench_mmrm.py`` (~15 % of the visits lost to monotone dropout).

* In memory: 10^4, 10^5, 10^6 subjects (``bench_mmrm.simulate``, string subject ids).
  Each size is simulated, written to Parquet and fitted in a fresh process that reads it,
  so that the peak resident memory (``ru_maxrss``) is that of the data plus the fit.
* From Parquet: ``--parquet N`` subjects written as files of ``--per-file`` subjects each
  (integer subject ids, the same model), fitted with ``trialmlm.fit(formula, path)`` on a
  Dask ``LocalCluster`` of 2 single-threaded worker processes.
* Peers (``--peers``): R mmrm (``Rscript``) and statsmodels MixedLM, each at the sizes given
  by ``--mmrm-sizes`` / ``--statsmodels-sizes``.  MixedLM has no unstructured residual
  covariance: it fits a random intercept (``(1 | USUBJID)``, compound symmetry), which
  trialmlm fits as well for the comparison.

Run:  python benchmarks/bench_scale.py [--sizes 10000 100000 1000000] [--parquet 10000000]
      [--peers]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FORMULA = "Y ~ BASE + ARM * AVISIT + us(AVISIT | USUBJID)"
HERE = Path(__file__).resolve().parent


def _child(kind: str, path: str, extra: str = "") -> dict:
    """Run this script as ``--child KIND PATH`` in a fresh process; its JSON line back."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, __file__, "--child", kind, path, extra], capture_output=True,
                         text=True, timeout=7200, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def child(kind: str, path: str, extra: str) -> dict:
    """The measurements of one run (in a fresh process)."""
    import trialmlm

    if kind == "simulate":
        sys.path.insert(0, str(HERE))
        from bench_mmrm import simulate

        simulate(int(extra), seed=2).to_parquet(path)
        return {}
    if kind == "memory":
        data = pd.read_parquet(path)
        data = data.astype({"USUBJID": object, "ARM": object})  # as read from CSV: Python strings
        loaded = _peak_gb()
        t0, c0 = time.perf_counter(), time.process_time()
        fit = trialmlm.fit(FORMULA, data)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {"rows": len(data), "data_gb": data.memory_usage(deep=True).sum() / 1024**3,
                "loaded_gb": loaded, "peak_gb": _peak_gb(), "fit_s": wall, "cpu_s": cpu, "loglik": fit.loglik}
    if kind == "dask":
        import distributed

        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      memory_limit="5GB", dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            t0 = time.perf_counter()
            fit = trialmlm.fit(FORMULA, path)
            wall = time.perf_counter() - t0
            workers = client.run(_peak_gb)
        return {"rows": fit.n_obs, "subjects": fit.n_subjects, "fit_s": wall, "driver_peak_gb": _peak_gb(),
                "worker_peak_gb": max(workers.values()), "loglik": fit.loglik}
    if kind == "statsmodels":
        import statsmodels.formula.api as smf

        data = pd.read_parquet(path)
        t0 = time.perf_counter()
        res = smf.mixedlm("Y ~ BASE + ARM * AVISIT", data, groups=data["USUBJID"]).fit(reml=True)
        wall = time.perf_counter() - t0
        ours = trialmlm.fit("Y ~ BASE + ARM * AVISIT + (1 | USUBJID)", data)
        return {"fit_s": wall, "loglik": float(res.llf), "trialmlm_loglik": ours.loglik}
    raise ValueError(kind)


def write_dataset(n_subjects: int, per_file: int, root: Path, n_visits: int = 10) -> int:
    """The trial of ``bench_mmrm.simulate`` as Parquet files of ``per_file`` whole subjects
    (integer subject ids); returns the number of rows written."""
    visits = np.arange(1, n_visits + 1)
    sd = np.linspace(2.0, 4.0, n_visits)
    corr = 0.6 ** np.abs(np.subtract.outer(visits, visits)) * 0.7 + 0.3
    np.fill_diagonal(corr, 1.0)
    chol = np.linalg.cholesky(corr * np.outer(sd, sd))
    avisit = pd.Categorical.from_codes(np.tile(visits - 1, per_file), categories=[f"V{v}" for v in visits])
    rows = 0
    for f, lo in enumerate(range(0, n_subjects, per_file)):
        n = min(per_file, n_subjects - lo)
        rng = np.random.default_rng(1000 + f)
        arm = rng.integers(0, 2, n)
        base = rng.normal(30, 5, n)
        mean = 0.2 * (base[:, None] - 30) - np.outer(arm, 0.15 * visits) - 0.1 * visits
        y = mean + rng.standard_normal((n, n_visits)) @ chol.T
        drop = np.where(rng.random(n) < 0.3, rng.integers(2, n_visits + 1, n), n_visits + 1)
        keep = (visits[None, :] < drop[:, None]).ravel()
        subj = np.repeat(np.arange(lo, lo + n), n_visits)
        frame = pd.DataFrame({"USUBJID": subj, "ARM": np.where(np.repeat(arm, n_visits) == 1, "ACT", "PBO"),
                              "BASE": np.repeat(base, n_visits), "AVISIT": avisit[:n * n_visits],
                              "Y": y.ravel()}).loc[keep]
        frame.to_parquet(root / f"part-{f:04d}.parquet", index=False)
        rows += len(frame)
    return rows


R_SCRIPT = r"""
suppressPackageStartupMessages(library(mmrm))
d <- read.csv("%s")
d$AVISIT <- factor(d$AVISIT, levels = paste0("V", 1:10)); d$ARM <- factor(d$ARM)
d$USUBJID <- factor(d$USUBJID)
t <- system.time(m <- mmrm(Y ~ BASE + ARM * AVISIT + us(AVISIT | USUBJID), data = d))[["elapsed"]]
cat(t, sprintf("%%.10f", as.numeric(logLik(m))), "\n")
"""


def r_mmrm(path: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        pd.read_parquet(path).to_csv(csv, index=False)
        script = Path(tmp) / "b.R"
        script.write_text(R_SCRIPT % csv)
        t0 = time.perf_counter()
        out = subprocess.run(["/usr/bin/time", "-v", "Rscript", str(script)], capture_output=True, text=True,
                             timeout=3600)
        total = time.perf_counter() - t0
    seconds, loglik = out.stdout.split()
    peak = next(int(line.split()[-1]) for line in out.stderr.splitlines() if "Maximum resident" in line)
    return {"fit_s": float(seconds), "total_s": total, "loglik": float(loglik), "peak_gb": peak / 1024**2}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--parquet", type=int, default=0, help="subjects of the Parquet / Dask run (0: none)")
    ap.add_argument("--per-file", type=int, default=250_000)
    ap.add_argument("--peers", action="store_true")
    ap.add_argument("--mmrm-sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--statsmodels-sizes", type=int, nargs="*", default=[10_000])
    ap.add_argument("--child", nargs=3)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        files = {}
        for n in sorted(set(args.sizes + (args.mmrm_sizes + args.statsmodels_sizes if args.peers else []))):
            files[n] = str(tmp / f"sim{n}.parquet")
            _child("simulate", files[n], str(n))
        print(f"{'subjects':>10}{'rows':>12}{'fit s':>8}{'cpu s':>8}{'rows/s':>12}{'data GB':>9}"
              f"{'peak GB':>9}")
        for n in args.sizes:
            r = _child("memory", files[n])
            print(f"{n:>10,}{r['rows']:>12,}{r['fit_s']:>8.1f}{r['cpu_s']:>8.1f}"
                  f"{r['rows'] / r['fit_s']:>12,.0f}{r['data_gb']:>9.2f}{r['peak_gb']:>9.2f}"
                  f"   loglik {r['loglik']:.6f}")
        if args.parquet:
            root = tmp / "dataset"
            root.mkdir()
            t0 = time.perf_counter()
            rows = write_dataset(args.parquet, args.per_file, root)
            size = sum(f.stat().st_size for f in root.iterdir()) / 1024**3
            print(f"Parquet dataset: {args.parquet:,} subjects, {rows:,} rows, {size:.2f} GB on disk, "
                  f"{len(list(root.iterdir()))} files, written in {time.perf_counter() - t0:.0f} s")
            r = _child("dask", str(root))
            print(f"Dask LocalCluster (2 workers x 1 thread): fit {r['fit_s']:.1f} s, "
                  f"{r['rows'] / r['fit_s']:,.0f} rows/s, peak RSS driver {r['driver_peak_gb']:.2f} GB, "
                  f"worker {r['worker_peak_gb']:.2f} GB, loglik {r['loglik']:.6f}")
        if args.peers and shutil.which("Rscript"):
            for n in args.mmrm_sizes:
                r = r_mmrm(files[n])
                print(f"R mmrm {n:,} subjects: fit {r['fit_s']:.1f} s (Rscript {r['total_s']:.1f} s), "
                      f"peak RSS {r['peak_gb']:.2f} GB, loglik {r['loglik']:.6f}")
        if args.peers:
            for n in args.statsmodels_sizes:
                r = _child("statsmodels", files[n])
                print(f"statsmodels MixedLM (random intercept) {n:,} subjects: fit {r['fit_s']:.1f} s, "
                      f"loglik {r['loglik']:.6f} (trialmlm (1 | USUBJID): {r['trialmlm_loglik']:.6f})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
