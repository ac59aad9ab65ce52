"""Write the bundled ADaM-like responder data set (ADEFF) from the depression trial.

    python sample_data/make_responder_data.py            # rewrites sample_data/responder_trial.{csv,xpt}
    python sample_data/make_responder_data.py --out DIR  # writes into DIR instead

The records of ``depression_trial.csv`` (written by make_sample_data.py) become an ADEFF
of HAMD-17 response with what a responder analysis meets in practice:

* ``CRIT1`` / ``CRIT1FL``: "HAMD-17 reduction from baseline >= 50%" (Y/N; blank at baseline);
  ``AVALC``: REMISSION (HAMD-17 <= 7), RESPONSE (>= 50% reduction, not in remission),
  NO RESPONSE; ``PCHG`` the percent change;
* population flags ``ITTFL`` (every subject) and ``EFFFL`` (not for 6 subjects without a
  valid baseline assessment, by construction);
* baseline records (``ABLFL = "Y"``) and LOCF records (``DTYPE = "LOCF"``, ``ANL01FL = "Y"``)
  for the visits after a subject's dropout;
* intercurrent events: treatment start ``TRTSDT`` and end ``TRTEDT`` dates with record
  dates ``ADT``; dropouts end treatment at their last visit, and 8% of the other subjects
  stop treatment early but stay in the study (their later records are flagged
  ``ICE01FL = "Y"``; in 60% of them a response turns into a non-response afterwards).

Only numpy's ``default_rng`` (PCG64, seed SEED) is used; the files are identical on every
platform.  The SAS transport copy is written by pyreadstat (XPORT version 5).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20250301
SOURCE = "depression_trial.csv"
CSV, XPT = "responder_trial.csv", "responder_trial.xpt"
CRITERION = "HAMD-17 reduction from baseline >= 50%"
REMISSION = 7  # HAMD-17 total score at or below: remission
NOT_EFFICACY = 6  # subjects with EFFFL = "N"
EARLY_STOP = 0.08  # completers who stop treatment early and stay in the study
WORSE_AFTER_STOP = 0.6  # of their responses after the stop, the share that become non-responses
LABELS = {"USUBJID": "Unique Subject Identifier", "TRT01P": "Planned Treatment for Period 01",
          "TRT01PN": "Planned Treatment for Period 01 (N)", "ITTFL": "Intent-To-Treat Population Flag",
          "EFFFL": "Efficacy Population Flag", "AVISIT": "Analysis Visit", "AVISITN": "Analysis Visit (N)",
          "PCHG": "Percent Change from Baseline", "CRIT1": "Analysis Criterion 1",
          "CRIT1FL": "Criterion 1 Evaluation Result Flag", "AVALC": "Analysis Value (C)",
          "DTYPE": "Derivation Type", "ICE01FL": "Treatment Discontinued (ICE) Flag",
          "TRTSDT": "Date of First Exposure to Treatment", "TRTEDT": "Date of Last Exposure to Treatment",
          "ADT": "Analysis Date"}


def _status(frame: pd.DataFrame) -> pd.DataFrame:
    """PCHG, CRIT1FL and AVALC of the post-baseline records (blank at baseline)."""
    post = frame["ABLFL"] != "Y"
    pchg = (100 * frame["CHG"] / frame["BASE"]).round(1)
    response = pchg <= -50
    avalc = np.where(frame["AVAL"] <= REMISSION, "REMISSION", np.where(response, "RESPONSE", "NO RESPONSE"))
    return frame.assign(PCHG=pchg.where(post), CRIT1=np.where(post, CRITERION, ""),
                        CRIT1FL=np.where(post, np.where(response, "Y", "N"), ""),
                        AVALC=np.where(post, avalc, ""))


def _locf(frame: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """LOCF records for every scheduled visit after a dropout's last analysed visit."""
    analysed = frame.loc[frame["ANL01FL"] == "Y"]
    last = analysed.sort_values("AVISITN").groupby("USUBJID").tail(1)
    last = last.loc[last["DCSREAS"].notna()]
    grid = last.merge(visits, how="cross", suffixes=("", "_next"))
    grid = grid.loc[grid["AVISITN_next"] > grid["AVISITN"]]
    return grid.assign(AVISIT=grid["AVISIT_next"], AVISITN=grid["AVISITN_next"], ADY=np.nan, DTYPE="LOCF",
                       ICE01FL="Y").drop(columns=["AVISIT_next", "AVISITN_next"])


def responder_trial(source: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    frame = source.copy()
    subjects = frame["USUBJID"].unique()
    frame["TRT01PN"] = frame["TRT01P"].map({"Placebo": 0, "Drug 10 mg": 10, "Drug 20 mg": 20})
    frame["ITTFL"] = "Y"
    not_eff = set(rng.choice(subjects, NOT_EFFICACY, replace=False))
    frame["EFFFL"] = np.where(frame["USUBJID"].isin(not_eff), "N", "Y")
    start = pd.Timestamp("2023-01-09") + pd.to_timedelta(rng.integers(0, 365, subjects.size), unit="D")
    frame["TRTSDT"] = frame["USUBJID"].map(dict(zip(subjects, start)))
    frame["ADT"] = frame["TRTSDT"] + pd.to_timedelta(frame["ADY"] - 1, unit="D")
    frame["DTYPE"] = ""
    last_day = frame.loc[frame["ANL01FL"] == "Y"].groupby("USUBJID")["ADY"].max()
    completers = frame.loc[frame["DCSREAS"].isna(), "USUBJID"].unique()
    stop = rng.choice(completers, int(round(EARLY_STOP * completers.size)), replace=False)
    stop_day = pd.Series(rng.integers(10, 40, stop.size), index=stop)  # between week 1 and week 6
    end_day = last_day.copy()
    end_day[stop] = stop_day
    frame["TRTEDT"] = frame["TRTSDT"] + pd.to_timedelta(frame["USUBJID"].map(end_day) - 1, unit="D")
    frame = _status(frame)
    after = (frame["ADT"] > frame["TRTEDT"]) & (frame["ABLFL"] != "Y")
    worse = after & (frame["CRIT1FL"] == "Y") & (rng.random(len(frame)) < WORSE_AFTER_STOP)
    frame.loc[worse, "CHG"] = (-0.3 * frame.loc[worse, "BASE"]).round().astype(int)
    frame.loc[worse, "AVAL"] = frame.loc[worse, "BASE"] + frame.loc[worse, "CHG"]
    frame.loc[worse] = _status(frame.loc[worse])
    frame["ICE01FL"] = np.where(after, "Y", "")
    visits = frame.loc[frame["ABLFL"] != "Y", ["AVISIT", "AVISITN"]].drop_duplicates()
    frame = pd.concat([frame, _locf(frame, visits)], ignore_index=True)
    frame["ADT"] = frame["ADT"].dt.date
    frame["TRTSDT"], frame["TRTEDT"] = frame["TRTSDT"].dt.date, frame["TRTEDT"].dt.date
    frame["ANL01FL"] = frame["ANL01FL"].fillna("")
    frame["DCSREAS"] = frame["DCSREAS"].fillna("")
    columns = ["STUDYID", "USUBJID", "SITEID", "AGE", "SEX", "TRT01P", "TRT01PN", "ITTFL", "EFFFL",
               "TRTSDT", "TRTEDT", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "ADT", "ADY", "AVAL", "AVALC",
               "BASE", "CHG", "PCHG", "CRIT1", "CRIT1FL", "ABLFL", "ANL01FL", "DTYPE", "ICE01FL", "DCSREAS"]
    frame["ABLFL"] = frame["ABLFL"].fillna("")
    frame = frame.sort_values(["USUBJID", "AVISITN", "DTYPE", "ADY"], kind="stable")
    return frame[columns].reset_index(drop=True)


def write(out: Path, source: Path) -> list[Path]:
    """The CSV and the SAS transport file of :func:`responder_trial` in ``out``."""
    import pyreadstat

    out.mkdir(parents=True, exist_ok=True)
    frame = responder_trial(pd.read_csv(source, dtype={"SITEID": str}), np.random.default_rng(SEED))
    csv, xpt = out / CSV, out / XPT
    frame.to_csv(csv, index=False, lineterminator="\n")
    pyreadstat.write_xport(frame, str(xpt), file_format_version=5, table_name="ADEFF",
                           column_labels={c: LABELS.get(c, c) for c in frame.columns})
    return [csv, xpt]


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(here), help="output folder (default: the folder of this script)")
    args = parser.parse_args(argv)
    for path in write(Path(args.out), here / SOURCE):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
