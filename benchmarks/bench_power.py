"""Benchmark: power by simulation, 3-arm trials (100 per arm, 6 visits, unstructured, MAR dropout).

Each replicate simulates a trial and fits ``CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)``
with Kenward-Roger df, then takes High - Placebo at the last visit.  ``--arms 2 --visits 4``: issue
25's target, 10,000 two-arm trials of 4 visits in under 60 s on 2 workers.  Prints a table: wall
time for 1 and 2 local worker processes and for a Dask ``LocalCluster`` (2 processes), the
time per replicate, the extrapolation to 10,000 replicates, and the per-task overhead of
the local pool and of Dask (chunks of one replicate against the default chunking).
``--type1`` adds the type I error of Kenward-Roger, Satterthwaite and residual df on a
small null design (2 x 12 subjects, 4 visits, us, MCAR dropout).  Not a test.
Run:  python benchmarks/bench_power.py [--n-sim 400] [--arms 3] [--visits 6] [--type1 2000]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np

from trialmlm.power import Analysis, Covariate, LogisticDropout, TrialDesign, simulate_power


def trial_design(arms: int = 3, visits: int = 6) -> tuple[TrialDesign, Analysis]:
    """The simulated trial (100 per arm, MAR dropout, ``us``) and its KR analysis, High (or
    Active with 2 arms) - Placebo at the last visit."""
    sd = np.sqrt(np.linspace(4, 9, visits))
    corr = 0.4 + 0.6 * 0.5 ** np.abs(np.subtract.outer(range(visits), range(visits)))
    slopes = {"Placebo": 0.0, "Low": -0.2, "High": -0.3} if arms == 3 else {"Placebo": 0.0, "Active": -0.3}
    design = TrialDesign(
        n_per_arm=100, visits=[f"Week {2 * j}" for j in range(1, visits + 1)],
        means={arm: slope * np.arange(1, visits + 1) for arm, slope in slopes.items()},
        covariance=np.outer(sd, sd) * corr,
        dropout=LogisticDropout(intercept=-3.2, last=0.1),  # MAR: about 20 % lost by week 12
        covariates={"BASE": Covariate(mean=20, sd=4, effect=0.3)})
    analysis = Analysis("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", treatment=list(slopes)[-1],
                        reference="Placebo", ddf="kenward-roger")
    return design, analysis


def timed(trial: tuple[TrialDesign, Analysis], **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = simulate_power(*trial, progress=False, **kwargs)
    return time.perf_counter() - start, result


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the pool's workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def speed(n_sim: int, trial: tuple[TrialDesign, Analysis]) -> None:
    rows = []
    cpu = cpu_seconds()
    t1, r1 = timed(trial, n_sim=n_sim, seed=1, workers=1)
    cpu1 = cpu_seconds() - cpu
    rows.append(("local, 1 worker", t1, None))
    cpu = cpu_seconds()
    t2, r2 = timed(trial, n_sim=n_sim, seed=1, workers=2)
    cpu2 = cpu_seconds() - cpu
    rows.append(("local pool, 2 workers", t2, None))
    t2_single, _ = timed(trial, n_sim=n_sim, seed=1, workers=2, chunk_size=1)
    pool_overhead = (t2_single - t2) * 2 / (n_sim - 8)
    assert r1.replicates.equals(r2.replicates)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        dask_rows = []
    else:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        with cluster, Client(cluster) as client:
            executor = client.get_executor()
            timed(trial, n_sim=4, seed=1, executor=executor, workers=2)  # warm the workers up
            td, rd = timed(trial, n_sim=n_sim, seed=1, executor=executor, workers=2)
            td_single, _ = timed(trial, n_sim=n_sim, seed=1, executor=executor, workers=2, chunk_size=1)
        assert r1.replicates.equals(rd.replicates)
        dask_overhead = (td_single - td) * 2 / (n_sim - 8)
        dask_rows = [("Dask LocalCluster, 2 processes", td, dask_overhead)]
    rows[1] = ("local pool, 2 workers", t2, pool_overhead)
    print(f"{n_sim} replicates; power {r1.power:.3f}; per-fit time (1 worker) {1000 * t1 / n_sim:.1f} ms; "
          f"CPU per replicate {1000 * cpu1 / n_sim:.1f} ms (1 worker), {1000 * cpu2 / n_sim:.1f} ms "
          f"(2 workers); load average {os.getloadavg()[0]:.2f}")
    header = ("executor", "wall s", "ms/replicate", "10,000 (s)", "overhead/task ms")
    print(f"{header[0]:34s} {header[1]:>8s} {header[2]:>13s} {header[3]:>11s} {header[4]:>17s}")
    for name, t, overhead in rows + dask_rows:
        extra = "" if overhead is None else f"{1000 * overhead:17.1f}"
        print(f"{name:34s} {t:8.2f} {1000 * t / n_sim:13.1f} {10_000 * t / n_sim:11.0f} {extra}")
    print(f"scaling 1 -> 2 workers: {t1 / t2:.2f}x")


def type_one_error(n_sim: int) -> None:
    design = TrialDesign(12, ["V1", "V2", "V3", "V4"], {"Placebo": [0] * 4, "Active": [0] * 4},
                         covariance=("us", [4, 2.4, 5, 1.6, 2.5, 6, 1.2, 2, 3, 8]),
                         dropout=[1, 0.9, 0.8, 0.7])
    print(f"type I error, 2 x 12 subjects, 4 visits, us, MCAR dropout, {n_sim} trials (alpha 0.05):")
    for ddf in ("kenward-roger", "satterthwaite", "residual"):
        analysis = Analysis("AVAL ~ TRT01P * AVISIT + us(AVISIT | USUBJID)", "Active", "Placebo", ddf=ddf)
        s = simulate_power(design, analysis, n_sim=n_sim, seed=11, workers=2, progress=False).summary
        s = s.set_index("measure")
        error, cover, converged = s.loc[["type I error", "coverage", "convergence"]].itertuples(index=False)
        print(f"  {ddf:14s} {error.estimate:.4f} (MC SE {error.mc_se:.4f}), coverage {cover.estimate:.4f}, "
              f"convergence {converged.estimate:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sim", type=int, default=400)
    parser.add_argument("--arms", type=int, choices=(2, 3), default=3)
    parser.add_argument("--visits", type=int, default=6)
    parser.add_argument("--type1", type=int, default=0, help="replicates of the type I error study (0: skip)")
    args = parser.parse_args()
    print(f"{args.arms} arms x 100 subjects, {args.visits} visits, us, Kenward-Roger")
    speed(args.n_sim, trial_design(args.arms, args.visits))
    if args.type1:
        type_one_error(args.type1)


if __name__ == "__main__":
    main()
