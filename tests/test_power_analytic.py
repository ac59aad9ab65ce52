"""Analytic power and sample size (trialmlm.power) against R longpower.

Reference values: ``tests/reference/power_refs.json`` from ``make_power_refs.R`` (R 4.2.2,
longpower 1.0.27 built from github.com/mcdonohue/longpower at the commit named in the file):
``power.mmrm``, ``power.mmrm.ar1``, ``lmmpower`` (diggle, liuliang, edland),
``diggle.linear.power``, ``liu.liang.linear.power``, ``edland.linear.power``; each
configuration solved for the total sample size, the power, the effect and the level.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from trialmlm.errors import DataError
from trialmlm.power import power_mmrm, power_mmrm_ar1, power_slope

REFS = json.loads((Path(__file__).parent / "reference" / "power_refs.json").read_text())
FUNCTIONS = {"power_mmrm": power_mmrm, "power_mmrm_ar1": power_mmrm_ar1, "power_slope": power_slope}
CASES = [(c["name"], c["py"], s["solve"], s["result"]) for c in REFS["configs"] for s in c["solves"]]
R = np.full((4, 4), 0.25) + 0.75 * np.eye(4)
RETENTION = [1, 0.9, 0.8, 0.7]


def _solve(py, solve, values):
    kwargs = {k: v for k, v in py.items() if k != "function"}
    given = {k: (None if k == solve else values[k]) for k in ("n_total", "delta", "power", "alpha")}
    return FUNCTIONS[py["function"]](**given, **kwargs)


@pytest.mark.parametrize("name, py, solve, expected", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_against_longpower(name, py, solve, expected):
    res = _solve(py, solve, expected)
    assert res.solved_for == solve
    for key in ("n_total", "delta", "power", "alpha"):
        assert getattr(res, key) == pytest.approx(expected[key], rel=1e-6), key


def test_reference_covers_the_brief():
    """At least 8 configurations: unequal allocation, AR(1), dropout, every method, every solve."""
    configs = REFS["configs"]
    assert len(configs) >= 8
    assert any(c["py"].get("allocation", 1) != 1 for c in configs)
    assert any(c["py"]["function"] == "power_mmrm_ar1" for c in configs)
    assert {c["py"].get("method") for c in configs} >= {"diggle", "liu-liang", "edland"}
    assert any(c["py"].get("method") == "edland" and "retention" in c["py"] for c in configs)
    assert {s for _, _, s, _ in CASES} == {"n_total", "delta", "power", "alpha"}


def test_ar1_closed_form_equals_general_matrix():
    """Lu, Luo & Chen's AR(1) closed form is their general formula with R = rho^|t_j - t_k|."""
    t = np.array([0.0, 1, 3, 4, 8])
    ra, rb = [1, 0.9, 0.85, 0.7, 0.6], [1, 0.95, 0.9, 0.8, 0.75]
    corr = 0.7 ** np.abs(t[:, None] - t[None, :])
    general = power_mmrm(delta=1, power=0.9, correlation=corr, retention=ra, retention_b=rb, sd=2,
                         allocation=3)
    closed = power_mmrm_ar1(delta=1, power=0.9, rho=0.7, times=t, retention=ra, retention_b=rb, sd=2,
                            allocation=3)
    assert closed.n_total == pytest.approx(general.n_total, rel=1e-12)
    assert closed.inputs["phi_b"] == pytest.approx(general.inputs["phi_b"], rel=1e-12)


def test_no_dropout_is_the_two_sample_z_test():
    """Complete data: N = (1+lambda)^2/lambda * sigma^2 (z + z)^2 / delta^2, whatever the correlation."""
    res = power_mmrm(delta=0.5, power=0.8, correlation=R, retention=[1, 1, 1, 1], sd=2, allocation=2)
    z = 1.959963984540054 + 0.8416212335729143
    assert res.n_total == pytest.approx(4.5 * 4 * z**2 / 0.25, rel=1e-12)
    assert res.n_per_arm == pytest.approx((2 / 3 * res.n_total, res.n_total / 3))


def test_slope_methods_coincide_without_dropout():
    kw = dict(delta=1, power=0.8, times=[0, 1, 2, 3, 4], var_intercept=3, var_slope=0.5,
              cov_intercept_slope=0.4, var_residual=2, allocation=1.5)
    n = [power_slope(method=m, **kw).n_total for m in ("diggle", "liu-liang", "edland")]
    assert n == pytest.approx([n[0]] * 3, rel=1e-10)


def test_result_table_and_rounding():
    res = power_mmrm(delta=0.5, power=0.8, correlation=R, retention=RETENTION, sd=1, allocation=2)
    row = res.table.iloc[0]
    assert res.sample_size == tuple(int(np.ceil(n)) for n in res.n_per_arm)
    assert row["sample_size_total"] == sum(res.sample_size) and row["n_total"] == res.n_total
    assert res.se == pytest.approx(res.delta / (1.959963984540054 + 0.8416212335729143))
    again = power_mmrm(n_total=res.n_total, delta=0.5, correlation=R, retention=RETENTION, sd=1, allocation=2)
    assert again.power == pytest.approx(0.8, rel=1e-12)
    with pytest.raises(AttributeError):
        res.power = 0.9


@pytest.mark.parametrize("kwargs, match", [
    (dict(delta=0.5), r"exactly one of n_total, delta, power, alpha must be None .*; None: n_total, power"),
    (dict(delta=0.5, power=0.8, n_total=100), "none is None"),
    (dict(delta=0.5, power=1.2), "power must be a number strictly between 0 and 1"),
    (dict(delta=0.5, power=0.8, alpha=0), "alpha must be a number strictly between 0 and 1"),
    (dict(delta=0, power=0.8), "delta"),
    (dict(n_total=-3, delta=0.5), "n_total must be a positive"),
    (dict(n_total="many", delta=0.5), "n_total must be a positive"),
    (dict(n_total=100, delta=float("nan")), "delta"),
    (dict(delta=0.5, power=0.8, alternative="two.sided"), "alternative must be one of"),
    (dict(delta=0.5, power=0.8, allocation=0), "allocation"),
    (dict(delta=0.5, power=0.8, retention=[1, 0.9, 1.1, 0.7]), r"\[0, 1\]; visit 3"),
    (dict(delta=0.5, power=0.8, retention=[1, 0.8, 0.9, 0.7]), "must not increase"),
    (dict(delta=0.5, power=0.8, retention=[1, 0.9, 0.8]), "one retention probability per visit"),
    (dict(delta=0.5, power=0.8, correlation=np.full((4, 4), 1.2) - 0.2 * np.eye(4)), "not positive definite"),
])
def test_bad_input(kwargs, match):
    args = dict(correlation=R, retention=RETENTION, sd=1, power=None)
    args.update(kwargs)
    with pytest.raises(DataError, match=match):
        power_mmrm(**args)


def test_bad_slope_input():
    base = dict(delta=1, power=0.8, times=[0, 1, 2], var_slope=1, var_residual=1)
    with pytest.raises(DataError, match="method='edland' only"):
        power_slope(retention=[1, 0.9, 0.8], **base)
    with pytest.raises(DataError, match="method must be one of"):
        power_slope(method="hu", **base)
    with pytest.raises(DataError, match="arm_b has unknown entries sig2"):
        power_slope(arm_b={"sig2": 1}, **base)
    with pytest.raises(DataError, match="give var_slope"):
        power_slope(delta=1, power=0.8, times=[0, 1, 2], var_residual=1)
    with pytest.raises(DataError, match="increasing visit times"):
        power_slope(**{**base, "times": [0, 2, 1]})
    with pytest.raises(DataError, match="rho"):
        power_mmrm_ar1(delta=1, power=0.8, rho=1.0, retention=[1, 0.9], sd=1)
