"""Missing-data diagnostics: patterns, dropout table, Kaplan-Meier time to dropout.

The Kaplan-Meier and log-rank numbers are checked against a small example computed by
hand from the product-limit and log-rank formulas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialmlm import DataError
from trialmlm.missing import dropout_table, patterns, time_to_dropout

VISITS = ["W1", "W2", "W4", "W8"]
# subject: arm, observed pattern over W1..W8
SUBJECTS = {
    "a1": ("A", "XXXX"), "a2": ("A", "XX.."), "a3": ("A", "X..."), "a4": ("A", "XX.X"),
    "b1": ("B", "XXXX"), "b2": ("B", "XXXX"), "b3": ("B", "XXX."), "b4": ("B", "...."),
}


@pytest.fixture()
def small() -> pd.DataFrame:
    rows = []
    for s, (arm, pat) in SUBJECTS.items():
        for v, t, o in zip(VISITS, [1, 2, 4, 8], pat):
            rows.append({"ID": s, "ARM": arm, "AVISIT": v, "WEEK": t, "Y": 1.0 if o == "X" else np.nan})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=3)  # row order must not matter


def test_patterns(small):
    tab = patterns(small, "ID", "AVISIT", "Y", arm="ARM")
    a = tab[tab["ARM"] == "A"].set_index("pattern")
    assert a.loc["XXXX", "type"] == "complete" and a.loc["XX..", "type"] == "monotone"
    assert a.loc["XX.X", "type"] == "intermittent" and a["n"].sum() == 4
    b = tab[tab["ARM"] == "B"].set_index("pattern")
    assert b.loc["XXXX", "n"] == 2 and b.loc["XXXX", "percent"] == 50.0
    assert b.loc["....", "type"] == "none"
    assert list(tab.columns[-4:]) == VISITS and bool(a.loc["XX.X", "W8"])


def test_dropout_table(small):
    tab = dropout_table(small, "ID", "AVISIT", "Y", arm="ARM").set_index(["ARM", "AVISIT"])
    # arm A: a3 drops at W2, a2 at W4; a4 (intermittent, seen at W8) and a1 complete
    assert list(tab.loc["A", "n_dropout"]) == [0, 1, 1, 0]
    assert list(tab.loc["A", "n_expected"]) == [4, 4, 3, 2]
    assert list(tab.loc["A", "n_observed"]) == [4, 3, 1, 2]
    assert list(tab.loc["A", "cumulative_dropout_percent"]) == [0, 25, 50, 50]
    # arm B: b4 never observed drops at W1, b3 at W8
    assert list(tab.loc["B", "n_dropout"]) == [1, 0, 0, 1]


def test_dropout_reasons(small):
    reasons = {"a2": "ADVERSE EVENT", "a3": "LACK OF EFFICACY", "b3": "ADVERSE EVENT", "b4": "WITHDRAWAL"}
    d = small.assign(DCSREAS=small["ID"].map(reasons))
    tab = dropout_table(d, "ID", "AVISIT", "Y", arm="ARM", reason="DCSREAS").set_index(["ARM", "AVISIT"])
    assert tab.loc[("A", "W2"), "LACK OF EFFICACY"] == 1 and tab.loc[("A", "W4"), "ADVERSE EVENT"] == 1
    assert tab.loc[("B", "W1"), "WITHDRAWAL"] == 1 and tab.loc[("B", "W8"), "ADVERSE EVENT"] == 1


def test_kaplan_meier_and_logrank_by_hand(small):
    res = time_to_dropout(small, "ID", "AVISIT", "Y", arm="ARM", time="WEEK")
    surv = res.survival.set_index(["ARM", "AVISIT"])["survival"]
    # A: dropout times 2 (a3), 4 (a2); censored at 8 (a1, a4).  S(2) = 3/4, S(4) = 3/4 * 2/3
    assert list(surv.loc["A"]) == pytest.approx([1.0, 0.75, 0.5, 0.5])
    # B: dropout at 1 (b4) and 8 (b3); censored at 8 (b1, b2).  S(1) = 3/4, S(8) = 3/4 * 2/3
    assert list(surv.loc["B"]) == pytest.approx([0.75, 0.75, 0.75, 0.5])
    # log-rank by hand: event times 1, 2, 4, 8 with (n_A, n_B, d_A, d_B)
    table = [(4, 4, 0, 1), (4, 3, 1, 0), (3, 3, 1, 0), (2, 3, 0, 1)]
    o_minus_e = var = 0.0
    for n_a, n_b, d_a, d_b in table:
        n, d = n_a + n_b, d_a + d_b
        o_minus_e += d_a - d * n_a / n
        var += d * (n_a / n) * (n_b / n) * (n - d) / max(n - 1, 1)
    assert res.logrank["statistic"].iloc[0] == pytest.approx(o_minus_e**2 / var, rel=1e-10)
    assert res.logrank["df"].iloc[0] == 1
    assert res.median.set_index("ARM").loc["A", "median"] == 4.0


def test_errors(small):
    with pytest.raises(DataError, match="column 'VISIT'"):
        patterns(small, "ID", "VISIT", "Y")
    dup = pd.concat([small, small.iloc[[0]]])
    with pytest.raises(DataError, match="more than one row at AVISIT"):
        dropout_table(dup, "ID", "AVISIT", "Y")
    with pytest.raises(DataError, match="more than one value of 'WEEK'"):
        time_to_dropout(small.assign(WEEK=np.arange(len(small))), "ID", "AVISIT", "Y", time="WEEK")


def test_adam_defaults_fit_input_and_arm_order():
    """USUBJID/AVISIT/CHG by default; a fit gives its own rows and columns; arms in TRT01PN order."""
    from helpers import adam_bds

    import trialmlm
    from trialmlm.missing import dropout_table, patterns, time_to_dropout

    data, _ = adam_bds()
    df = trialmlm.read(data, param="HAMD17", response="CHG", population="EFFFL", arm="TRT01P")
    explicit = patterns(df, "USUBJID", "AVISIT", "CHG", arm="TRT01P")
    pd.testing.assert_frame_equal(patterns(df, arm="TRT01P"), explicit)
    fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", df)
    pd.testing.assert_frame_equal(patterns(fit, arm="TRT01P"), explicit)
    order = ["Placebo", "Drug Low", "Drug High"]  # TRT01PN, not alphabetical
    assert list(dict.fromkeys(explicit["TRT01P"])) == order
    drop = dropout_table(fit, arm="TRT01P")
    pd.testing.assert_frame_equal(drop, dropout_table(df, arm="TRT01P"))
    assert list(dict.fromkeys(drop["TRT01P"])) == order
    assert drop.groupby("TRT01P", sort=False)["n_dropout"].sum().sum() == 9  # the LOCF subjects
    km = time_to_dropout(df, arm="TRT01P", time="AVISITN")
    assert list(dict.fromkeys(km.survival["TRT01P"])) == order
    assert list(km.median["TRT01P"]) == order
