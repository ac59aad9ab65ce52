"""Shared test helpers: dense-matrix evaluations (small data only) and an independent RTF reader."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd


def dense_covariance(fit):
    """V, dV/dphi_h, d2V/dphi_h dphi_j over all observations (rows in fit order).

    With outer grouping factors, V also holds Z_f (I x G_f) Z_f' per factor f; phi is the
    subject structure's parameters, then each factor's G_f parameters (G_f is linear in them).
    """
    d = fit.design
    n, k = d.y.size, fit.n_covariance_parameters
    V, dV, d2V = np.zeros((n, n)), np.zeros((k, n, n)), np.zeros((k, k, n, n))
    lik = fit.likelihood.subject_level
    for s in range(d.subject_labels.size):
        rows = np.flatnonzero(d.subject == s)
        g = d.group[s]
        at = lik.parameters.index[g]  # positions of the structure's parameters in phi
        struct = fit.structures[g]
        geo = d.position[rows][None]
        if struct.spatial:
            xyz = d.coordinates[d.position[rows]]
            geo = np.sqrt(((xyz[:, None] - xyz[None]) ** 2).sum(-1))[None]
        if d.Z is not None:  # random effects: geometry is (R's geometry, weighted Z)
            geo = (geo, (d.Z[rows] * np.sqrt(d.weights[rows])[:, None])[None])
        sig, d1, d2 = struct.blocks(fit.phi[at], geo, 2)
        w = 1 / np.sqrt(d.weights[rows])
        scale = np.outer(w, w)
        ix = np.ix_(rows, rows)
        V[ix] = sig[0] * scale
        for h in range(at.size):
            dV[(at[h],) + ix] = d1[h, 0] * scale
            if d2 is not None:
                for j in range(at.size):
                    d2V[(at[h], at[j]) + ix] = d2[h, j, 0] * scale
    for f, level in enumerate(d.outer):
        lik = fit.likelihood
        cov, (lo, hi) = lik.covariances[f], lik.offsets[f + 1:f + 3]
        z = np.zeros((n, level.labels.size, level.Z.shape[1]))
        z[np.arange(n), level.codes] = level.Z
        z = z.reshape(n, -1)
        for h, unit in zip(range(lo, hi), cov.units()):
            dV[h] = z @ np.kron(np.eye(level.labels.size), unit) @ z.T
            V += fit.phi[h] * dV[h]
    return V, dV, d2V


def dense_gls(fit):
    """(X, V, dV, d2V, V^-1, C = (X'V^-1X)^-1) of ``fit`` by dense matrices; checks C against the fit."""
    X = fit.design.X
    V, dV, d2V = dense_covariance(fit)
    Vi = np.linalg.inv(V)
    C = np.linalg.inv(X.T @ Vi @ X)
    np.testing.assert_allclose(C, fit.beta_cov, rtol=1e-8, atol=1e-12)
    return X, V, dV, d2V, Vi, C


def with_expected_information(fit):
    """The fit with W = inverse *expected* information, 2 [tr(P V_h P V_j)]^-1, as pbkrtest uses.

    SAS (and R mmrm) use the observed information; swapping W lets pbkrtest's numbers test
    the Kenward-Roger formulas exactly.
    """
    X = fit.design.X
    V, dV, _ = dense_covariance(fit)
    Vi = np.linalg.inv(V)
    P = Vi - Vi @ X @ fit.beta_cov @ X.T @ Vi
    PV = [P @ dV[h] for h in range(dV.shape[0])]
    info = np.array([[np.trace(a @ b) for b in PV] for a in PV])
    return dataclasses.replace(fit, phi_cov=2 * np.linalg.inv(info))


# -- an independent RTF reader ---------------------------------------------------------------
_TOKEN = re.compile(r"\\([a-z]+)(-?\d+)? ?|\\'([0-9a-f]{2})|\\([\\{}])|(\\\*)|([{}])|(\r?\n)|([^\\{}\r\n]+)")


def read_rtf(text: str) -> dict:
    """Rows of cells (split at \\cell / \\row), paragraphs (\\par) and control-word counts.

    Paragraphs of the page header and footer groups (``{\\header ...}``, ``{\\footer ...}``)
    are listed apart, under "header" and "footer"; a field shows as ``{INSTRUCTION}`` (e.g.
    ``{PAGE}``) in place of its result; other ``{\\* ...}`` destinations are skipped.
    """
    depth, skip_group, pending_skip, star = 0, None, 0, False
    rows, row, cell, words, units = [], [], [], {}, []
    paragraphs = {"body": [], "header": [], "footer": []}
    where, where_depth, instruction = "body", None, None

    def flush_units():
        if units:
            cell.append(b"".join(u.to_bytes(2, "big") for u in units).decode("utf-16-be"))
            units.clear()

    for m in _TOKEN.finditer(text):
        word, arg, hexchar, symbol, starred, brace, newline, plain = m.groups()
        if brace:
            flush_units()
            depth += 1 if brace == "{" else -1
            assert depth >= 0, "unbalanced braces"
            if skip_group is not None and depth < skip_group:
                skip_group = None
                if instruction is not None:
                    cell.append("{" + "".join(instruction).strip() + "}")
                    instruction = None
            if where_depth is not None and depth < where_depth:
                where, where_depth = "body", None
            continue
        if starred:
            star = True
            continue
        if instruction is not None and plain and depth == skip_group:
            instruction.append(plain)
        if skip_group is not None or newline:
            continue
        if word:
            words[word] = words.get(word, 0) + 1
            if star or word in ("fonttbl", "fldrslt"):
                skip_group, star = depth, False
                instruction = [] if word == "fldinst" else None
                continue
            if word == "u":
                units.append(int(arg) % 65536)
                pending_skip = 1
                continue
            flush_units()
            if word in ("header", "footer"):
                where, where_depth = word, depth
            elif word == "cell":
                row.append("".join(cell))
                cell.clear()
            elif word == "row":
                rows.append(row)
                row = []
            elif word == "par":
                paragraphs[where].append("".join(cell))
                cell.clear()
            elif word == "line":
                cell.append("\n")
            elif word == "tab":
                cell.append("\t")
            continue
        if pending_skip and (plain or hexchar):
            pending_skip = 0
            plain = plain[1:] if plain else None
            if not plain:
                continue
        flush_units()
        if hexchar:
            cell.append(bytes.fromhex(hexchar).decode("cp1252"))
        elif symbol:
            cell.append(symbol)
        elif plain:
            cell.append(plain)
    assert depth == 0, "unbalanced braces"
    return {"rows": rows, "paragraphs": paragraphs["body"], "header": paragraphs["header"],
            "footer": paragraphs["footer"], "words": words}


def adam_bds(seed: int = 7):
    """A small ADaM BDS data set with every kind of record an SAP has to sort out.

    36 subjects in three arms (TRT01P, numeric companion TRT01PN = 0, 1, 2, so that the
    alphabetical order differs from the table order), visits Baseline (ABLFL = "Y") and
    Weeks 2, 4, 8, two parameters (HAMD17, MADRS).  Returns ``(data, expected)``:
    ``expected`` holds the HAMD17 record counts of the selection the SAP asks for
    (EFFFL population, ANL01FL, no LOCF, no baseline).

    * subjects 0-2 have EFFFL = "N";
    * every 4th subject (3, 7, ...) drops out after Week 2: LOCF records (DTYPE = "LOCF",
      ANL01FL = "Y") at Weeks 4 and 8;
    * subjects 5 and 6 have a second Week 4 record in the visit window, ANL01FL blank;
    * CHG is 0 in some records, and the placebo code TRT01PN is 0.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    arms = [("Placebo", 0), ("Drug Low", 1), ("Drug High", 2)]
    visits = [("Baseline", 0), ("Week 2", 2), ("Week 4", 4), ("Week 8", 8)]
    rows = []
    for i in range(36):
        arm, code = arms[i % 3]
        efffl = "N" if i < 3 else "Y"
        dropout = i % 4 == 3
        for paramcd, param in (("HAMD17", "HAMD-17 Total Score"), ("MADRS", "MADRS Total Score")):
            base = float(rng.integers(18, 30))
            last = base
            for visit, n in visits:
                common = {"STUDYID": "TRIAL-01", "USUBJID": f"TRIAL-01-{i:03d}", "TRT01P": arm,
                          "TRT01PN": float(code), "EFFFL": efffl, "ITTFL": "Y", "PARAMCD": paramcd,
                          "PARAM": param, "AVISIT": visit, "AVISITN": float(n), "BASE": base}
                if dropout and n > 2:
                    rows.append({**common, "AVAL": last, "CHG": last - base, "ABLFL": None,
                                 "ANL01FL": "Y", "DTYPE": "LOCF", "DCSREAS": "Adverse Event"})
                    continue
                aval = base if n == 0 else float(np.round(base - 0.4 * n * (1 + code) + rng.normal(0, 2)))
                if n > 0 and i % 5 == 0:
                    aval = base  # CHG exactly 0
                last = aval
                rows.append({**common, "AVAL": aval, "CHG": aval - base if n else np.nan,
                             "ABLFL": "Y" if n == 0 else None, "ANL01FL": "Y", "DTYPE": None,
                             "DCSREAS": "Adverse Event" if dropout else None})
                if n == 4 and i in (5, 6):  # an unscheduled record in the same window
                    rows.append({**rows[-1], "AVAL": aval + 1, "CHG": aval + 1 - base, "ANL01FL": None})
    data = pd.DataFrame(rows)
    hamd = data[data["PARAMCD"] == "HAMD17"]
    expected = {
        "read": len(data), "subjects": 36,
        "param": int((data["PARAMCD"] != "HAMD17").sum()),
        "population": int((hamd["EFFFL"] == "N").sum()),
        "analysis_flag": 2,
        "dtype": int(((hamd["DTYPE"] == "LOCF") & (hamd["EFFFL"] == "Y")).sum()),
        "baseline": 33,
    }
    expected["analysed"] = (len(data) - expected["param"] - expected["population"] - expected["analysis_flag"]
                            - expected["dtype"] - expected["baseline"])
    return data, expected


TIMEPOINTS = {815: "AFTER LYING DOWN FOR 5 MINUTES", 816: "AFTER STANDING FOR 1 MINUTE",
              817: "AFTER STANDING FOR 3 MINUTES"}


def advs_like(subjects: int = 6):
    """An ADVS-like frame (tests/test_duplicates.py, tests/test_cli.py): systolic blood
    pressure at three time points (ATPTN/ATPT) per visit, the baseline flagged per time point
    (BASETYPE = ATPT, as admiral derives it); arms TRTA without TRTAN."""
    import pandas as pd

    rng = np.random.default_rng(3)
    rows = []
    for s in range(subjects):
        for visit, number in (("Baseline", 0), ("Week 2", 2), ("Week 4", 4), ("Week 8", 8)):
            for code, label in TIMEPOINTS.items():
                rows.append(dict(STUDYID="CDISCPILOT01", USUBJID=f"01-701-{1000 + s}", PARAMCD="SYSBP",
                                 TRTA=("Placebo", "Xanomeline Low Dose", "Xanomeline High Dose")[s % 3],
                                 AVISIT=visit, AVISITN=number, ATPTN=code, ATPT=label, BASETYPE=label,
                                 AVAL=rng.normal(130, 12), ADT=f"2014-0{1 + number // 4}-02",
                                 ASEQ=len(rows) + 1, ABLFL="Y" if number == 0 else "",
                                 ANL01FL="Y", SAFFL="Y", EFFFL="Y" if s else "N"))
    return pd.DataFrame(rows)


# -- cLDA reference data (tests/reference/make_clda_refs.R) --------------------------------------
CLDA_REFS = json.loads((Path(__file__).parent / "reference" / "clda_refs.json").read_text())


def clda_data(name: str) -> pd.DataFrame:
    """The data of a cLDA reference case: ``"dep"`` the depression sample trial's HAMD-17 baseline
    (ABLFL = Y) and analysis (ANL01FL = Y) records, as the R script selects them, or
    ``"unbalanced"`` (clda_unbalanced.csv); visits and arms as Categoricals in the script's order."""
    if name == "dep":
        d = pd.read_csv(Path(__file__).parents[1] / "sample_data" / "depression_trial.csv")
        keep = (d["PARAMCD"] == "HAMD17") & ((d["ABLFL"] == "Y") | (d["ANL01FL"] == "Y"))
        d = d.loc[keep, ["USUBJID", "TRT01P", "AVISIT", "AVAL"]].reset_index(drop=True)
    else:
        d = pd.read_csv(Path(__file__).parent / "reference" / "clda_unbalanced.csv")
    return d.assign(AVISIT=pd.Categorical(d["AVISIT"], categories=CLDA_REFS["visits"]),
                    TRT01P=pd.Categorical(d["TRT01P"], categories=CLDA_REFS["arms"]))


def clda_fits() -> dict:
    """Every cLDA reference case fitted by trialmlm, by case name."""
    import trialmlm

    return {name: trialmlm.fit(case["formula"], clda_data(name.split("_")[0]))
            for name, case in CLDA_REFS["cases"].items()}
