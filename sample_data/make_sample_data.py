"""Simulate the bundled sample trials (ADaM BDS-like CSV files) with a fixed seed.

    python sample_data/make_sample_data.py            # rewrites sample_data/*.csv
    python sample_data/make_sample_data.py --out DIR  # writes into DIR instead

Writes

* ``depression_trial.csv`` - a 3-arm, 8-week depression trial (HAMD-17 total score),
  simulated from an MMRM with unstructured-like within-subject correlation, MAR dropout
  with ADaM discontinuation reasons and a few missed visits;
* ``long_term_trial.csv`` - a 2-arm, 2-year trial of FVC decline, simulated from a
  random intercept and slope model with irregular visit times and MAR dropout.

The true parameters are the constants below; sample_data/README.md lists them with every
column.  Only numpy's ``default_rng`` (PCG64) is used, and every value written is rounded
(integers, or TIME to 4 decimals), so the files are identical on every platform.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240917

# --- depression trial (HAMD-17) ---------------------------------------------------------
DEP_STUDY = "TMLM-301"
DEP_ARMS = ("Placebo", "Drug 10 mg", "Drug 20 mg")
DEP_N_PER_ARM = 100
DEP_SITES = tuple(str(s) for s in range(101, 111))
DEP_SITE_PROB = (0.16, 0.13, 0.12, 0.11, 0.10, 0.09, 0.08, 0.08, 0.07, 0.06)
DEP_WEEKS = (1, 2, 4, 6, 8)
# true mean change from baseline at BASE = 24, by arm and week (points)
DEP_MEAN_CHG = {
    "Placebo": (-2.5, -4.5, -7.0, -8.5, -9.5),
    "Drug 10 mg": (-2.8, -5.3, -8.4, -10.3, -11.5),  # week 8: -2.0 vs placebo
    "Drug 20 mg": (-3.0, -5.7, -9.0, -11.1, -12.5),  # week 8: -3.0 vs placebo
}
DEP_BASE_SLOPE = -0.30  # change per point of baseline above 24
DEP_BASE_MEAN, DEP_BASE_SD, DEP_BASE_RANGE = 24.0, 2.8, (20, 34)  # inclusion: HAMD-17 >= 20
DEP_SITE_SD = 1.0
DEP_RESID_SD = (3.5, 4.3, 5.0, 5.6, 6.0)  # by week
# correlation between weeks s and t: 0.25 + 0.70 * exp(-|s - t| / 6)
DEP_CORR_FLOOR, DEP_CORR_DECAY, DEP_CORR_RANGE = 0.25, 6.0, 0.70
# dropout before each visit after week 1, per interval: logistic in the last observed score
DEP_LOE = (-5.6, 0.45, 16.0)  # lack of efficacy (from week 4 on): logit p = a + b * (last AVAL - c)
DEP_AE = {"Placebo": 0.008, "Drug 10 mg": 0.015, "Drug 20 mg": 0.030}  # adverse event
DEP_WITHDRAWAL, DEP_LOST = 0.010, 0.006  # withdrawal by subject, lost to follow-up
DEP_MISSED = 0.03  # a visit at weeks 2, 4, 6 missed (no record), the subject staying in
DEP_RETEST = 0.01  # an extra assessment in the same visit window, not flagged for analysis

# --- long-term trial (FVC) --------------------------------------------------------------
LT_STUDY = "TMLM-502"
LT_ARMS = ("Placebo", "Drug 150 mg")
LT_N_PER_ARM = 75
LT_SITES = tuple(str(s) for s in range(201, 209))
LT_MONTHS = (0, 3, 6, 12, 18, 24)
LT_INTERCEPT = 2700.0  # mL, both arms (randomised)
LT_SLOPE = {"Placebo": -200.0, "Drug 150 mg": -100.0}  # mL / year
LT_G_SD = (600.0, 90.0)  # SD of the random intercept (mL) and slope (mL / year)
LT_G_CORR = 0.3
LT_RESID_SD = 110.0  # mL
LT_JITTER_SD, LT_JITTER_MAX = 7.0, 21  # days around the planned visit day
# dropout before each visit after baseline: logit p = a + b * (decline since baseline in mL)
LT_DROP = (-4.1, 0.005)
LT_REASONS = ("Adverse Event", "Withdrawal by Subject", "Lost to Follow-up")
LT_REASON_PROB = (0.5, 0.3, 0.2)

DEP_FILE, LT_FILE = "depression_trial.csv", "long_term_trial.csv"


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _demographics(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    age = np.clip(np.round(rng.normal(45, 12, n)), 18, 75).astype(int)
    sex = np.where(rng.random(n) < 0.62, "F", "M")
    return age, sex


def depression_covariance() -> np.ndarray:
    """True 5 x 5 residual covariance over weeks 1, 2, 4, 6, 8 (site variance not included)."""
    t = np.array(DEP_WEEKS, dtype=float)
    corr = DEP_CORR_FLOOR + DEP_CORR_RANGE * np.exp(-np.abs(t[:, None] - t[None, :]) / DEP_CORR_DECAY)
    np.fill_diagonal(corr, 1.0)
    sd = np.array(DEP_RESID_SD)
    return corr * np.outer(sd, sd)


def depression_trial(rng: np.random.Generator) -> pd.DataFrame:
    n = DEP_N_PER_ARM * len(DEP_ARMS)
    arm = rng.permutation(np.repeat(DEP_ARMS, DEP_N_PER_ARM))
    site = rng.choice(DEP_SITES, size=n, p=DEP_SITE_PROB)
    age, sex = _demographics(rng, n)
    base = np.clip(np.round(rng.normal(DEP_BASE_MEAN, DEP_BASE_SD, n)), *DEP_BASE_RANGE).astype(int)
    site_effect = dict(zip(DEP_SITES, rng.normal(0.0, DEP_SITE_SD, len(DEP_SITES))))
    resid = rng.multivariate_normal(np.zeros(len(DEP_WEEKS)), depression_covariance(), size=n,
                                    method="cholesky")
    mean = np.array([DEP_MEAN_CHG[a] for a in arm]) + DEP_BASE_SLOPE * (base - 24.0)[:, None]
    chg = mean + np.array([site_effect[s] for s in site])[:, None] + resid
    aval = np.clip(np.round(base[:, None] + chg), 0, 52).astype(int)  # HAMD-17 range 0-52

    counter = {s: 0 for s in DEP_SITES}
    rows = []
    for i in range(n):
        counter[site[i]] += 1
        usubjid = f"{DEP_STUDY}-{site[i]}-{counter[site[i]]:03d}"
        # dropout and missed visits; week 1 is always attended (full analysis set)
        attended, reason, last = [0], None, aval[i, 0]
        for k in range(1, len(DEP_WEEKS)):
            p_loe = _expit(DEP_LOE[0] + DEP_LOE[1] * (last - DEP_LOE[2])) if DEP_WEEKS[k] >= 4 else 0.0
            p = np.array([p_loe, DEP_AE[arm[i]], DEP_WITHDRAWAL, DEP_LOST])
            u = rng.random(len(p))
            hit = u < p
            if hit.any():  # of several competing reasons, the one whose event came first
                first = np.flatnonzero(hit)[np.argmin(u[hit] / p[hit])]
                reason = ("Lack of Efficacy", "Adverse Event", "Withdrawal by Subject",
                          "Lost to Follow-up")[int(first)]
                break
            if k < len(DEP_WEEKS) - 1 and rng.random() < DEP_MISSED:
                continue
            attended.append(k)
            last = aval[i, k]
        common = {"STUDYID": DEP_STUDY, "USUBJID": usubjid, "SITEID": site[i], "AGE": age[i],
                  "SEX": sex[i], "TRT01P": arm[i], "TRT01A": arm[i], "PARAMCD": "HAMD17",
                  "PARAM": "HAMD-17 Total Score", "BASE": base[i], "DCSREAS": reason}
        rows.append({**common, "AVISIT": "Baseline", "AVISITN": 0, "ADY": 1, "AVAL": base[i],
                     "CHG": None, "ABLFL": "Y", "ANL01FL": None})
        for k in attended:
            week = DEP_WEEKS[k]
            jitter = rng.integers(-1, 2) if week == 1 else rng.integers(-2, 3)
            ady = 7 * week + 1 + int(jitter)
            rec = {**common, "AVISIT": f"Week {week}", "AVISITN": week, "ADY": ady,
                   "AVAL": aval[i, k], "CHG": aval[i, k] - base[i], "ABLFL": None, "ANL01FL": "Y"}
            rows.append(rec)
            if rng.random() < DEP_RETEST:  # a second assessment in the window: not analysed
                value = int(np.clip(aval[i, k] + rng.integers(-2, 3), 0, 52))
                rows.append({**rec, "ADY": ady + int(rng.integers(2, 5)), "AVAL": value,
                             "CHG": value - base[i], "ANL01FL": None})
    columns = ["STUDYID", "USUBJID", "SITEID", "AGE", "SEX", "TRT01P", "TRT01A", "PARAMCD", "PARAM",
               "AVISIT", "AVISITN", "ADY", "AVAL", "BASE", "CHG", "ABLFL", "ANL01FL", "DCSREAS"]
    out = pd.DataFrame(rows, columns=columns)
    out["CHG"] = out["CHG"].astype("Int64")
    return out.sort_values(["USUBJID", "AVISITN", "ADY"], kind="stable").reset_index(drop=True)


def long_term_trial(rng: np.random.Generator) -> pd.DataFrame:
    n = LT_N_PER_ARM * len(LT_ARMS)
    arm = rng.permutation(np.repeat(LT_ARMS, LT_N_PER_ARM))
    site = rng.choice(LT_SITES, size=n)
    age, sex = _demographics(rng, n)
    sd = np.array(LT_G_SD)
    G = np.array([[1.0, LT_G_CORR], [LT_G_CORR, 1.0]]) * np.outer(sd, sd)
    b = rng.multivariate_normal(np.zeros(2), G, size=n, method="cholesky")
    planned_day = np.round(np.array(LT_MONTHS) * 365.25 / 12).astype(int)
    counter = {s: 0 for s in LT_SITES}
    rows = []
    for i in range(n):
        counter[site[i]] += 1
        usubjid = f"{LT_STUDY}-{site[i]}-{counter[site[i]]:03d}"
        jitter = np.clip(np.round(rng.normal(0.0, LT_JITTER_SD, len(LT_MONTHS))), -LT_JITTER_MAX,
                         LT_JITTER_MAX).astype(int)
        jitter[0] = 0
        ady = planned_day + 1 + jitter
        time = np.round((ady - 1) / 365.25, 4)
        y = np.round(LT_INTERCEPT + b[i, 0] + (LT_SLOPE[arm[i]] + b[i, 1]) * time
                     + rng.normal(0.0, LT_RESID_SD, len(LT_MONTHS))).astype(int)
        kept, reason = [0], None
        for k in range(1, len(LT_MONTHS)):
            if rng.random() < _expit(LT_DROP[0] + LT_DROP[1] * (y[0] - y[kept[-1]])):
                reason = LT_REASONS[int(rng.choice(len(LT_REASONS), p=LT_REASON_PROB))]
                break
            kept.append(k)
        for k in kept:
            rows.append({"STUDYID": LT_STUDY, "USUBJID": usubjid, "SITEID": site[i], "AGE": age[i],
                         "SEX": sex[i], "TRT01P": arm[i], "PARAMCD": "FVC",
                         "PARAM": "Forced Vital Capacity (mL)",
                         "AVISIT": "Baseline" if k == 0 else f"Month {LT_MONTHS[k]}",
                         "AVISITN": LT_MONTHS[k], "ADY": ady[k], "TIME": time[k], "AVAL": y[k],
                         "BASE": y[0], "CHG": y[k] - y[0], "ABLFL": "Y" if k == 0 else None,
                         "ANL01FL": "Y", "DCSREAS": reason})
    out = pd.DataFrame(rows)
    return out.sort_values(["USUBJID", "AVISITN"], kind="stable").reset_index(drop=True)


def write(out: Path) -> list[Path]:
    """Simulate both trials (depression first, from one generator seeded SEED) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    written = []
    for name, frame in ((DEP_FILE, depression_trial(rng)), (LT_FILE, long_term_trial(rng))):
        path = out / name
        frame.to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent),
                        help="output folder (default: the folder of this script)")
    args = parser.parse_args(argv)
    for path in write(Path(args.out)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
