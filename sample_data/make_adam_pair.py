"""Write the bundled synthetic ADaM pair: ADSL (one row per subject) and ADEFF (BDS).

    python sample_data/make_adam_pair.py            # rewrites sample_data/adsl.xpt, adeff.xpt
    python sample_data/make_adam_pair.py --out DIR  # writes into DIR instead

A 24-week, three-arm depression trial (study ``TMLM-401``, 300 subjects, 8 sites) with
what an analysis of real ADaM data meets:

* ADSL: population flags ``ITTFL`` / ``SAFFL`` / ``EFFFL`` (3 subjects randomised in error
  and never dosed are in none; subjects without a post-baseline HAMD-17 are not in EFFFL),
  ``TRT01P`` / ``TRT01PN`` (0, 10, 20; one long arm name), numeric-looking site codes
  ``SITEID`` and pooled ``SITEGR1``, a stratum ``STRATA1``, treatment dates ``TRTSDT`` /
  ``TRTEDT``, end-of-study and end-of-treatment status ``EOSSTT`` / ``EOTSTT`` and the
  discontinuation reason ``DCDECOD`` / ``DCSREAS``;
* ADEFF: HAMD-17 total score (``PARAMCD = "HAMD17"``) at baseline and weeks 1, 2, 4, 8, 16,
  24 (``AVAL``, ``BASE``, ``CHG``; a few incomplete questionnaires with ``AVAL`` and ``CHG``
  missing), monotone dropout related to the arm and a few missed visits (no record),
  ``DTYPE = "LOCF"`` records for the visits after a dropout, re-assessments outside the
  visit window (``ANL01FL`` null), and a sleep-quality VAS (``PARAMCD = "SLEEPVAS"``) taken
  twice per visit (``ATPT`` / ``ATPTN`` MORNING 1, EVENING 2).  Population flags and the
  discontinuation variables are only in ADSL.

The true parameters are the constants below (sample_data/README.md lists them).  Only
numpy's ``default_rng`` (PCG64, seed SEED) draws; every number written is an integer or a
date, so the files are identical on every platform.  pyreadstat writes SAS transport
version 5 with column labels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261207
STUDY = "TMLM-401"
ARMS = ("Placebo", "Drug 10 mg", "Drug 20 mg Extended Release")
ARM_CODES = (0, 10, 20)
N_PER_ARM = 100
SITES = ("701", "703", "704", "705", "708", "709", "710", "711")
SITE_PROB = (0.22, 0.18, 0.16, 0.14, 0.12, 0.08, 0.06, 0.04)
POOLED_SITE = "900"  # SITEGR1 of the sites with fewer than MIN_SITE subjects
MIN_SITE = 25
REGION = {"701": "NORTH AMERICA", "703": "NORTH AMERICA", "704": "NORTH AMERICA", "705": "EUROPE",
          "708": "EUROPE", "709": "EUROPE", "710": "EUROPE", "711": "NORTH AMERICA"}
RACES = ("WHITE", "BLACK OR AFRICAN AMERICAN", "ASIAN")
RACE_PROB = (0.72, 0.18, 0.10)
WEEKS = (1, 2, 4, 8, 16, 24)
# true mean change from baseline at BASE = 24, by arm and week (points)
MEAN_CHG = {
    "Placebo": (-2.5, -4.5, -7.0, -9.0, -10.0, -10.5),
    "Drug 10 mg": (-2.8, -5.3, -8.4, -10.8, -12.0, -12.7),  # week 24: -2.2 vs placebo
    "Drug 20 mg Extended Release": (-3.0, -5.7, -9.0, -11.6, -12.9, -13.7),  # week 24: -3.2
}
BASE_SLOPE = -0.30
BASE_MEAN, BASE_SD, BASE_RANGE = 24.0, 2.8, (20, 34)
SEVERE = 25  # STRATA1 = "SEVERE" at a baseline HAMD-17 of at least this
RESID_SD = (3.5, 4.2, 5.0, 5.6, 6.0, 6.2)
CORR_FLOOR, CORR_RANGE, CORR_DECAY = 0.25, 0.70, 8.0  # corr = floor + range * exp(-|s - t| / decay)
NEVER_DOSED = 3  # randomised in error: ITTFL = SAFFL = EFFFL = "N", no post-baseline record
NO_POST = 0.02  # dosed, discontinued before week 1 (no post-baseline record, EFFFL = "N")
LOE = (-5.6, 0.45, 16.0)  # lack of efficacy (from week 4 on): logit p = a + b * (last AVAL - c)
AE = {"Placebo": 0.008, "Drug 10 mg": 0.015, "Drug 20 mg Extended Release": 0.035}  # per interval
WITHDRAWAL, LOST = 0.010, 0.006
MISSED = 0.03  # weeks 2, 4, 8, 16 missed (no record), the subject staying in
INCOMPLETE = 0.01  # post-baseline questionnaire incomplete: AVAL and CHG missing
RETEST = 0.02  # a second assessment outside the visit window: ANL01FL null
EARLY_STOP = 0.06  # completers who stop treatment between weeks 2 and 16 and stay in the study
LOSS_AFTER_STOP = 2.5  # points of change lost at the visits after such a stop
VAS_WEEKS = (0, 4, 24)  # visits of the sleep-quality VAS, taken MORNING and EVENING
VAS_MEAN = {"Placebo": (-4.0, -8.0), "Drug 10 mg": (-6.0, -12.0),  # mean change at weeks 4 and 24 (mm)
            "Drug 20 mg Extended Release": (-7.0, -14.0)}
VAS_BASE, VAS_SD, VAS_EVENING = 55.0, 9.0, 6.0  # baseline mean (SD 12), residual SD, evening - morning
REASONS = ("LACK OF EFFICACY", "ADVERSE EVENT", "WITHDRAWAL BY SUBJECT", "LOST TO FOLLOW-UP")  # DCDECOD
REASON_TEXT = ("Lack of Efficacy", "Adverse Event", "Withdrawal by Subject", "Lost to Follow-up")  # DCSREAS
FIRST_DOSE = np.datetime64("2024-02-05")
ADSL_LABELS = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier", "SUBJID": "Subject Identifier",
    "SITEID": "Study Site Identifier", "SITEGR1": "Pooled Site Group 1", "ARM": "Description of Planned Arm",
    "TRT01P": "Planned Treatment for Period 01", "TRT01PN": "Planned Treatment for Period 01 (N)",
    "SEX": "Sex", "AGE": "Age", "AGEGR1": "Pooled Age Group 1", "RACE": "Race",
    "REGION1": "Geographic Region 1", "STRATA1": "Randomization Stratum (Baseline HAMD-17)",
    "ITTFL": "Intent-To-Treat Population Flag", "SAFFL": "Safety Population Flag",
    "EFFFL": "Efficacy Population Flag", "COMP24FL": "Completers of Week 24 Population Flag",
    "TRTSDT": "Date of First Exposure to Treatment", "TRTEDT": "Date of Last Exposure to Treatment",
    "EOSSTT": "End of Study Status", "EOTSTT": "End of Treatment Status",
    "DCDECOD": "Standardized Disposition Term", "DCSREAS": "Reason for Discontinuation from Study"}
ADEFF_LABELS = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier",
    "TRT01P": "Planned Treatment for Period 01", "TRT01PN": "Planned Treatment for Period 01 (N)",
    "PARAMCD": "Parameter Code", "PARAM": "Parameter", "AVISIT": "Analysis Visit",
    "AVISITN": "Analysis Visit (N)", "ATPT": "Analysis Timepoint", "ATPTN": "Analysis Timepoint (N)",
    "ADT": "Analysis Date", "ADY": "Analysis Relative Day", "AVAL": "Analysis Value",
    "BASE": "Baseline Value", "CHG": "Change from Baseline", "ABLFL": "Baseline Record Flag",
    "ANL01FL": "Analysis Flag 01", "DTYPE": "Derivation Type"}


def _correlation() -> np.ndarray:
    weeks = np.asarray(WEEKS, dtype=float)
    return CORR_FLOOR + CORR_RANGE * np.exp(-np.abs(weeks[:, None] - weeks[None, :]) / CORR_DECAY)


def _subjects(rng: np.random.Generator) -> pd.DataFrame:
    """One row per subject: arm, site, demography, baseline HAMD-17 (randomisation order)."""
    n = N_PER_ARM * len(ARMS)
    arm = rng.permutation(np.repeat(np.arange(len(ARMS)), N_PER_ARM))
    site = rng.choice(len(SITES), n, p=SITE_PROB)
    sites = np.asarray(SITES)[site]
    number = np.zeros(n, dtype=int)
    for s in range(len(SITES)):
        number[site == s] = np.arange(1, (site == s).sum() + 1)
    serial = np.char.zfill(number.astype(str), 3)
    subjid = np.char.add(sites, serial)
    counts = pd.Series(sites).value_counts()
    age = np.clip(np.round(rng.normal(45, 12, n)), 18, 75).astype(int)
    base = np.clip(np.round(rng.normal(BASE_MEAN, BASE_SD, n)), *BASE_RANGE).astype(int)
    return pd.DataFrame({
        "STUDYID": STUDY, "USUBJID": np.char.add(f"{STUDY}-", np.char.add(np.char.add(sites, "-"), serial)),
        "SUBJID": subjid, "SITEID": sites,
        "SITEGR1": np.where(counts.reindex(sites).to_numpy() < MIN_SITE, POOLED_SITE, sites),
        "ARM": np.asarray(ARMS)[arm], "TRT01P": np.asarray(ARMS)[arm], "TRT01PN": np.asarray(ARM_CODES)[arm],
        "SEX": np.where(rng.random(n) < 0.62, "F", "M"), "AGE": age,
        "AGEGR1": np.where(age < 65, "<65", ">=65"), "RACE": np.asarray(RACES)[rng.choice(3, n, p=RACE_PROB)],
        "REGION1": [REGION[s] for s in sites], "STRATA1": np.where(base >= SEVERE, "SEVERE", "MODERATE"),
        "BASE": base})


def _scores(subjects: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """HAMD-17 at every post-baseline week as if nobody left (subjects x weeks, 0-52)."""
    n = len(subjects)
    mean = np.array([MEAN_CHG[a] for a in subjects["TRT01P"]])
    cov = _correlation() * np.outer(RESID_SD, RESID_SD)
    chg = mean + BASE_SLOPE * (subjects["BASE"].to_numpy()[:, None] - BASE_MEAN) + \
        rng.multivariate_normal(np.zeros(len(WEEKS)), cov, n)
    return np.clip(np.round(subjects["BASE"].to_numpy()[:, None] + chg), 0, 52)


def _dropout(subjects: pd.DataFrame, aval: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index of the last attended week (-1: none after baseline, len(WEEKS) - 1: completer),
    the discontinuation reason ("" for completers) by competing risks per interval, and
    whether the subject was randomised in error (never dosed)."""
    n = len(subjects)
    last = np.full(n, len(WEEKS) - 1)
    reason = np.full(n, "", dtype=object)
    never = np.isin(np.arange(n), rng.choice(n, NEVER_DOSED, replace=False))
    early = (rng.random(n) < NO_POST) & ~never
    last[never | early] = -1
    reason[never] = "WITHDRAWAL BY SUBJECT"
    reason[early] = np.asarray(REASONS)[rng.choice([1, 2], early.sum())]
    ae = subjects["TRT01P"].map(AE).to_numpy()
    a, b, c = LOE
    for k in range(1, len(WEEKS)):
        at_risk = last == len(WEEKS) - 1
        loe = 1 / (1 + np.exp(-(a + b * (aval[:, k - 1] - c)))) if WEEKS[k] >= 4 else np.zeros(n)
        p = np.column_stack([loe, ae, np.full(n, WITHDRAWAL), np.full(n, LOST)])
        u = rng.random(n)
        cum = np.cumsum(p, axis=1)
        leave = at_risk & (u < cum[:, -1])
        last[leave] = k - 1
        reason[leave] = np.asarray(REASONS)[(u[leave, None] >= cum[leave]).sum(axis=1)]
    return last, reason, never


def _dates(subjects: pd.DataFrame, last: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Study day of every scheduled week (subjects x weeks), first dose and last dose day."""
    n = len(subjects)
    jitter = np.where(np.asarray(WEEKS) == 1, rng.integers(-1, 2, (n, len(WEEKS))),
                      rng.integers(-3, 4, (n, len(WEEKS))))
    day = 7 * np.asarray(WEEKS) + 1 + jitter
    start = FIRST_DOSE + rng.integers(0, 400, n).astype("timedelta64[D]")
    last_day = np.where(last >= 0, day[np.arange(n), np.maximum(last, 0)], 1) + rng.integers(0, 5, n)
    return day, start, last_day


def adam_pair(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ADSL and ADEFF of the simulated trial (see the module docstring)."""
    subjects = _subjects(rng)
    n = len(subjects)
    aval = _scores(subjects, rng)
    last, reason, never = _dropout(subjects, aval, rng)
    day, start, last_day = _dates(subjects, last, rng)
    completer = last == len(WEEKS) - 1
    stop = completer & (rng.random(n) < EARLY_STOP)
    stop_week = rng.integers(1, len(WEEKS) - 1, n)  # stops after week index 1..4 (weeks 2-16)
    last_day = np.where(stop, day[np.arange(n), stop_week] + rng.integers(1, 6, n), last_day)
    after_stop = stop[:, None] & (np.arange(len(WEEKS))[None, :] > stop_week[:, None])
    aval = np.clip(aval + LOSS_AFTER_STOP * after_stop, 0, 52)
    attended = np.arange(len(WEEKS))[None, :] <= last[:, None]
    missed = (rng.random(attended.shape) < MISSED) & np.isin(WEEKS, (2, 4, 8, 16))[None, :]
    attended &= ~(missed & (np.arange(len(WEEKS))[None, :] < last[:, None]))

    adsl = subjects.drop(columns="BASE").assign(
        ITTFL=np.where(never, "N", "Y"), SAFFL=np.where(never, "N", "Y"),
        EFFFL=np.where(last >= 0, "Y", "N"), COMP24FL=np.where(completer, "Y", "N"),
        TRTSDT=np.where(never, np.datetime64("NaT"), start),
        TRTEDT=np.where(never, np.datetime64("NaT"), start + (last_day - 1).astype("timedelta64[D]")),
        EOSSTT=np.where(completer, "COMPLETED", "DISCONTINUED"),
        EOTSTT=np.where(completer & ~stop, "COMPLETED", "DISCONTINUED"),
        DCDECOD=np.where(completer, "COMPLETED", reason),
        DCSREAS=pd.Series(reason).map(dict(zip(REASONS, REASON_TEXT))).fillna("").to_numpy())

    rows = []
    base = subjects["BASE"].to_numpy()
    keys = subjects[["STUDYID", "USUBJID", "TRT01P", "TRT01PN"]]
    rows.append(keys.assign(PARAMCD="HAMD17", AVISIT="Baseline", AVISITN=0, ADY=1, AVAL=base, BASE=base,
                            ABLFL="Y", ANL01FL="Y", DTYPE=""))
    i, k = np.nonzero(attended)
    incomplete = rng.random(i.size) < INCOMPLETE
    post = keys.iloc[i].assign(PARAMCD="HAMD17", AVISIT=[f"Week {WEEKS[j]}" for j in k],
                               AVISITN=np.asarray(WEEKS)[k], ADY=day[i, k],
                               AVAL=np.where(incomplete, np.nan, aval[i, k]), BASE=base[i], ABLFL="",
                               ANL01FL="Y", DTYPE="")
    rows.append(post)
    retest = rng.random(i.size) < RETEST
    rows.append(post.loc[retest].assign(ADY=post.loc[retest, "ADY"] + rng.integers(8, 13, retest.sum()),
                                        AVAL=np.clip(aval[i, k][retest] + rng.integers(-2, 3, retest.sum()),
                                                     0, 52), ANL01FL=""))
    # LOCF: the last non-missing value, to every scheduled visit after the last attended one
    carried = post.loc[~incomplete].sort_values(["USUBJID", "AVISITN"]).groupby("USUBJID").tail(1)
    last_week = np.asarray(WEEKS)[np.maximum(last, 0)]
    carried = carried.assign(AVISITN=pd.Series(last_week, index=subjects["USUBJID"]).reindex(
        carried["USUBJID"]).to_numpy())
    carried = carried.loc[carried["AVISITN"] < WEEKS[-1]]
    grid = carried.merge(pd.DataFrame({"NEXT": WEEKS}), how="cross")
    grid = grid.loc[grid["NEXT"] > grid["AVISITN"]]
    rows.append(grid.assign(AVISIT="Week " + grid["NEXT"].astype(str), AVISITN=grid["NEXT"],
                            DTYPE="LOCF").drop(columns="NEXT"))
    hamd = pd.concat(rows, ignore_index=True).assign(PARAM="HAMD-17 Total Score", ATPT="", ATPTN=np.nan)
    hamd["CHG"] = hamd["AVAL"] - hamd["BASE"]
    hamd.loc[hamd["ABLFL"] == "Y", "CHG"] = np.nan

    vas_base = np.clip(np.round(rng.normal(VAS_BASE, 12, n)), 0, 100)
    vas_rows = []
    for j, week in enumerate(VAS_WEEKS):
        seen = np.ones(n, bool) if week == 0 else attended[:, WEEKS.index(week)]
        idx = np.nonzero(seen)[0]
        shift = 0.0 if week == 0 else np.array([VAS_MEAN[a][j - 1] for a in subjects["TRT01P"].iloc[idx]])
        for tpt, name in ((1, "MORNING"), (2, "EVENING")):
            mean = vas_base[idx] + (tpt - 1.5) * VAS_EVENING + shift
            value = np.clip(np.round(mean + rng.normal(0, VAS_SD, idx.size)), 0, 100)
            vas_rows.append(keys.iloc[idx].assign(
                PARAMCD="SLEEPVAS", PARAM="Sleep Quality VAS (mm)",
                AVISIT="Baseline" if week == 0 else f"Week {week}",
                AVISITN=week, ATPT=name, ATPTN=tpt, ADY=1 if week == 0 else day[idx, WEEKS.index(week)],
                AVAL=value, ABLFL="Y" if week == 0 else "", ANL01FL="Y", DTYPE=""))
    vas = pd.concat(vas_rows, ignore_index=True)
    vas_base_tpt = vas.loc[vas["ABLFL"] == "Y"].set_index(["USUBJID", "ATPTN"])["AVAL"]
    vas["BASE"] = vas_base_tpt.reindex(pd.MultiIndex.from_frame(vas[["USUBJID", "ATPTN"]])).to_numpy()
    vas["CHG"] = (vas["AVAL"] - vas["BASE"]).where(vas["ABLFL"] != "Y")

    adeff = pd.concat([hamd, vas], ignore_index=True)
    first = pd.Series(adsl["TRTSDT"].to_numpy(), index=adsl["USUBJID"])
    adeff["ADT"] = first.reindex(adeff["USUBJID"]).to_numpy() + pd.to_timedelta(adeff["ADY"] - 1, unit="D")
    no_start = adeff["ADT"].isna()
    adeff.loc[no_start, "ADY"] = np.nan
    adeff = adeff.sort_values(["USUBJID", "PARAMCD", "AVISITN", "ATPTN", "DTYPE", "ADY"], kind="stable")
    columns = ["STUDYID", "USUBJID", "TRT01P", "TRT01PN", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "ATPT",
               "ATPTN", "ADT", "ADY", "AVAL", "BASE", "CHG", "ABLFL", "ANL01FL", "DTYPE"]
    adsl = adsl.sort_values("USUBJID", kind="stable").reset_index(drop=True)
    return adsl, adeff[columns].reset_index(drop=True)


def _as_dates(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """SAS dates (pyreadstat writes ``datetime.date`` values as days since 1960 with DATE9.)."""
    return frame.assign(**{c: pd.to_datetime(frame[c]).dt.date for c in columns})


def write(out: Path) -> list[Path]:
    """``adsl.xpt`` and ``adeff.xpt`` (SAS transport version 5, with labels) in ``out``."""
    import pyreadstat

    out.mkdir(parents=True, exist_ok=True)
    adsl, adeff = adam_pair(np.random.default_rng(SEED))
    written = []
    for name, frame, labels, dates in (("ADSL", adsl, ADSL_LABELS, ("TRTSDT", "TRTEDT")),
                                       ("ADEFF", adeff, ADEFF_LABELS, ("ADT",))):
        path = out / f"{name.lower()}.xpt"
        pyreadstat.write_xport(_as_dates(frame, dates), str(path), file_format_version=5, table_name=name,
                               column_labels=[labels[c] for c in frame.columns])
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(here), help="output folder (default: the folder of this script)")
    args = parser.parse_args(argv)
    for path in write(Path(args.out)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
