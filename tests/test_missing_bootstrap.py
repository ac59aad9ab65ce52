"""Conditional mean imputation with bootstrap inference and bootstrapped ML multiple imputation
(BMLMI), against R rbmi; update_strategy against fresh runs.

Reference values: ``tests/reference/condmean_boot_refs.json`` from ``make_condmean_boot_refs.R``
(R 4.2.2, rbmi 1.5.2, mmrm 0.3.18 run to convergence): rbmi's antidepressant data with the
quickstart's ICE table (JR), ``references = c(DRUG = "PLACEBO", PLACEBO = "PLACEBO")``,
``analyse(ancova, covariates = "BASVAL")``:

* ``condmean``: ``draws(method_condmean(type = "bootstrap", n_samples = 20))``, each sample's
  subject ids, fitted means and covariance matrix, ``pool(type = "percentile" | "normal")``;
* ``bmlmi``: ``draws(method_bmlmi(B = 10, D = 2))``, the same plus the per-imputation estimates;
* ``bmlmi_large``: ``method_bmlmi(B = 100, D = 5)``: sample ids, per-imputation estimates, pool;
* ``bmlmi_1000``: ``pool()`` of ``method_bmlmi(B = 1000, D = 2)``.

rbmi's bootstrap samples are given to our functions (``_samples=``), so every refit and the
conditional-mean analyses are deterministic and compared to 1e-6; BMLMI's random imputations
use numpy's generator, so they agree in distribution only.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.errors import DataError
from trialmlm.estimands import BootstrappedMLMI, ConditionalMean, bmlmi, condmean
from trialmlm.estimands.pooling import bmlmi_table

REF = Path(__file__).parent / "reference"
REFS = json.loads((REF / "condmean_boot_refs.json").read_text())
RTOL = 1e-6
# rbmi's percentile p-value inverts the type-6 quantile with uniroot (tolerance eps^0.25 = 1.2e-4 in
# the probability); ours is the exact root of the piecewise-linear quantile function
UNIROOT_TOL = 2 * np.finfo(float).eps ** 0.25


@pytest.fixture(scope="module")
def data(antidepressant):
    return antidepressant


@pytest.fixture(scope="module")
def fitted(antidepressant_fit):
    return antidepressant_fit


@pytest.fixture(scope="module")
def ice():
    return pd.DataFrame(REFS["ice"])


def positions(data, ids_per_sample):
    subjects = pd.Index(sorted(data["PATIENT"].unique()))
    return [subjects.get_indexer(ids) for ids in ids_per_sample]


@pytest.fixture(scope="module")
def jackknife(fitted, ice):
    return condmean(fitted, ice=ice, reference="PLACEBO")


@pytest.fixture(scope="module")
def boot(fitted, data, ice):
    samples = positions(data, [s["ids"] for s in REFS["condmean"]["samples"][1:]])
    return condmean(fitted, ice=ice, reference="PLACEBO", type="bootstrap", _samples=samples)


def rbmi_table(result, pooled, **options):
    """Our compare (PLACEBO - DRUG, rbmi's trt) and lsmeans rows, and rbmi's in the same order."""
    rows = pd.DataFrame(pooled).set_index("parameter")
    ours = pd.concat([result.compare(reference="DRUG", **options), result.lsmeans(**options)],
                     ignore_index=True)
    names = [f"trt_{v}" if pd.notna(c) else f"lsm_{'ref' if a == 'DRUG' else 'alt'}_{v}"
             for v, a, c in zip(ours["VISIT"], ours["THERAPY"], ours["contrast"])]
    return ours, rows.loc[names]


def check_parameters(result, data, samples):
    """Each refit's fitted means (X beta, a row per subject and visit) and covariance matrix."""
    keys = data.sort_values(["PATIENT", "VISIT"])[["PATIENT", "VISIT"]].to_numpy()
    ours = result.data.frame[["PATIENT", "VISIT"]].astype(str).to_numpy()
    np.testing.assert_array_equal(ours, keys)
    for params, ref in zip(result.samples, samples):
        np.testing.assert_array_equal(result.data.subjects[params.rows], ref["ids"])
        mean = np.asarray(ref["mean"])
        np.testing.assert_allclose(result.data.X_own @ params.beta, mean, rtol=RTOL,
                                   atol=RTOL * np.abs(mean).max())
        np.testing.assert_allclose(params.sigmas[0], np.reshape(ref["sigma"], (4, 4)), rtol=RTOL)


def test_bootstrap_refits_match_rbmi(boot, data):
    assert boot.n_not_converged == 0
    check_parameters(boot, data, REFS["condmean"]["samples"][1:])


@pytest.mark.parametrize("pooling, key, alpha", [
    ("percentile", "percentile", 0.05), ("normal", "normal", 0.05), (None, "percentile", 0.05),
    ("percentile", "percentile_90", 0.1)])
def test_condmean_bootstrap_pooled_matches_rbmi(boot, pooling, key, alpha):
    ours, ref = rbmi_table(boot, REFS["condmean"][key], pooling=pooling, alpha=alpha)
    np.testing.assert_allclose(ours[["estimate", "lower", "upper"]], ref[["est", "lci", "uci"]], rtol=RTOL)
    contrasts = ours["contrast"].notna().to_numpy()
    if key == "normal":
        np.testing.assert_allclose(ours["se"], ref["se"], rtol=RTOL)
        np.testing.assert_allclose(ours.loc[contrasts, "p"], ref.loc[contrasts, "pval"], rtol=RTOL)
    else:
        assert ours["se"].isna().all()
        np.testing.assert_allclose(ours.loc[contrasts, "p"], ref.loc[contrasts, "pval"], atol=UNIROOT_TOL)


def test_percentile_p_is_the_exact_root_of_the_quantile_function(boot):
    """p = 2 min(q, 1 - q) with Q(q) = 0 for R's type-6 quantile (numpy's 'weibull')."""
    table = boot.compare(reference="DRUG")
    differences = boot.replicates[:, :, 1] - boot.replicates[:, :, 0]
    for v, p in enumerate(table["p"]):
        if 0 < p < 1:
            q = p / 2 if np.median(differences[:, v]) > 0 else 1 - p / 2
            assert abs(np.quantile(differences[:, v], q, method="weibull")) < 1e-12


def test_bootstrap_samples_are_drawn_within_each_arm_and_reproducible(fitted, ice):
    one = condmean(fitted, ice=ice, reference="PLACEBO", type="bootstrap", n_samples=4, seed=11)
    two = condmean(fitted, ice=ice, reference="PLACEBO", type="bootstrap", n_samples=4, seed=11, workers=2)
    arms = one.data.arm_codes
    for params, other in zip(one.samples, two.samples):
        np.testing.assert_array_equal(np.bincount(arms[params.rows]), np.bincount(arms))
        np.testing.assert_array_equal(params.rows, other.rows)
    assert len({tuple(p.rows) for p in one.samples}) == 4
    pd.testing.assert_frame_equal(one.compare(), two.compare())
    again = condmean(fitted, ice=ice, reference="PLACEBO", type="bootstrap", n_samples=4, seed=one.seed)
    pd.testing.assert_frame_equal(one.compare(pooling="normal"), again.compare(pooling="normal"))


def test_bmlmi_pooling_formula_matches_rbmi():
    """rbmi's per-imputation estimates through our pooling: von Hippel & Bartlett's ANOVA and df."""
    for key in ("bmlmi", "bmlmi_large"):
        ref = pd.DataFrame(REFS[key]["pooled"]).set_index("parameter")
        estimates = REFS[key]["estimates"]
        d = REFS[key]["D"]
        stacked = np.column_stack([estimates[p] for p in ref.index]).reshape(-1, d, len(ref))
        table = bmlmi_table(stacked, 0.05)
        np.testing.assert_allclose(table[["estimate", "se", "lower", "upper", "p"]],
                                   ref[["est", "se", "lci", "uci", "pval"]], rtol=1e-10)


def test_bmlmi_refits_match_rbmi(fitted, data, ice):
    result = bmlmi(fitted, ice=ice, reference="PLACEBO", D=2, seed=5,
                   _samples=positions(data, [s["ids"] for s in REFS["bmlmi"]["samples"]]))
    assert isinstance(result, BootstrappedMLMI) and result.B == 10 and result.estimates.shape == (10, 2, 4, 2)
    check_parameters(result, data, REFS["bmlmi"]["samples"])


def check_distribution(result, key):
    ours, ref = rbmi_table(result, REFS[key]["pooled"])
    assert np.all(np.abs(ours["estimate"].to_numpy() - ref["est"].to_numpy()) <= 0.1 * ref["se"].to_numpy())
    np.testing.assert_allclose(ours["se"], ref["se"], rtol=0.05)


def test_bmlmi_imputations_agree_with_rbmi_in_distribution(fitted, data, ice):
    """rbmi's 100 bootstrap samples, 5 imputations each (500): the pooled estimates within 0.1 SE of
    rbmi's, the SEs within 5 % (what differs is only the random imputations given the samples)."""
    samples = positions(data, REFS["bmlmi_large"]["ids"])
    result = bmlmi(fitted, ice=ice, reference="PLACEBO", D=5, seed=1, _samples=samples)
    check_distribution(result, "bmlmi_large")


def test_bmlmi_agrees_with_rbmi_in_distribution_with_own_samples(fitted, ice):
    """Our own 1000 bootstrap samples, 2 imputations each, against rbmi's run of the same size.

    Two independent runs differ by Monte Carlo error: here about 0.047 SE for the estimates and
    3.4 % for the SEs (sqrt(2) times one run's, from the delete-one-sample jackknife of ours), so
    the check is that they agree within 4 such standard deviations."""
    result = bmlmi(fitted, ice=ice, reference="PLACEBO", B=1000, D=2, seed=3, workers=2)
    ours, ref = rbmi_table(result, REFS["bmlmi_1000"]["pooled"])
    e = result.estimates  # (B, D, K, A) -> the rows of rbmi_table: PLACEBO - DRUG by visit, then LS means
    stacked = np.concatenate([e[..., 1] - e[..., 0], e.reshape(*e.shape[:2], -1)], axis=-1)
    b = len(stacked)
    leave_one_out = np.stack([bmlmi_table(np.delete(stacked, i, axis=0), 0.05)[["estimate", "se"]].to_numpy()
                              for i in range(b)])
    mc_se = np.sqrt((b - 1) / b * ((leave_one_out - leave_one_out.mean(axis=0)) ** 2).sum(axis=0))
    assert np.all(mc_se < [0.04, 0.03] * ref[["se"]].to_numpy())  # 1000 samples make the check sharp
    difference = np.abs(ours[["estimate", "se"]].to_numpy() - ref[["est", "se"]].to_numpy())
    assert np.all(difference <= 4 * np.sqrt(2) * mc_se)


def test_bmlmi_reproducible(fitted, ice):
    one = bmlmi(fitted, ice=ice, reference="PLACEBO", B=3, D=2, seed=8)
    two = bmlmi(fitted, ice=ice, reference="PLACEBO", B=3, D=2, seed=8, workers=2)
    np.testing.assert_array_equal(one.estimates, two.estimates)
    assert one.seed == 8 and one.estimates[0, 0].tolist() != one.estimates[0, 1].tolist()


RUNS = {
    "jackknife": lambda fit, ice: condmean(fit, ice=ice, reference="PLACEBO", workers=2),
    "bootstrap": lambda fit, ice: condmean(fit, ice=ice, reference="PLACEBO", type="bootstrap", n_samples=5,
                                           seed=2),
    "bmlmi": lambda fit, ice: bmlmi(fit, ice=ice, reference="PLACEBO", B=4, D=3, seed=2),
}


@pytest.mark.parametrize("name", list(RUNS))
def test_update_strategy_equals_a_fresh_run(fitted, ice, name, request):
    """The quickstart's ICEs are at the first missing visit (no observed data after them), so the
    imputation model does not change: re-imputing equals a new run with the new table."""
    strategies = ["CR", "CIR", "LMCF", "MAR", "JR"]
    new_ice = ice.assign(strategy=[strategies[i % 5] for i in range(len(ice))])
    update = new_ice[["PATIENT", "strategy"]]
    first = request.getfixturevalue("jackknife") if name == "jackknife" else RUNS[name](fitted, ice)
    updated = first.update_strategy(update)
    fresh = RUNS[name](fitted, new_ice)
    np.testing.assert_array_equal(updated.plan.labels, fresh.plan.labels)
    for a, b in [(updated.compare(), fresh.compare()), (updated.lsmeans(), fresh.lsmeans())]:
        pd.testing.assert_frame_equal(a, b, rtol=1e-10, atol=1e-10)
    assert not np.allclose(updated.compare()["estimate"], first.compare()["estimate"])
    if isinstance(updated, ConditionalMean):
        pd.testing.assert_frame_equal(updated.completed_data(), fresh.completed_data(), rtol=1e-10)


def test_bad_input(fitted, ice, boot, jackknife):
    given = dict(ice=ice, reference="PLACEBO")
    for kwargs, message in [
        (dict(type="bayes"), "type must be one of"),
        (dict(type="bootstrap"), "n_samples must be an integer of at least 2"),
        (dict(type="bootstrap", n_samples=1), "n_samples must be an integer of at least 2"),
        (dict(type="bootstrap", n_samples=2.5), "n_samples must be an integer"),
        (dict(n_samples=10), "n_samples and seed are for type='bootstrap'"),
        (dict(type="bootstrap", n_samples=3, seed=-1), "seed must be"),
    ]:
        with pytest.raises(DataError, match=message):
            condmean(fitted, **given, **kwargs)
    for kwargs, message in [(dict(B=1), "B must be an integer of at least 2"),
                            (dict(D=1), "D must be an integer of at least 2"),
                            (dict(D=True), "D must be an integer"),
                            (dict(_samples=[np.array([0, 500])]), "B must be"),
                            (dict(_samples=[np.array([0, 500]), np.array([1, 2])]), "subject positions")]:
        with pytest.raises(DataError, match=message):
            bmlmi(fitted, **given, **kwargs)
    with pytest.raises(DataError, match="pooling must be one of"):
        boot.compare(pooling="bca")
    with pytest.raises(DataError, match="bonferroni"):
        boot.compare(adjust="bonferroni")
    assert boot.compare(adjust="holm", pooling="normal")["p"].notna().all()
    with pytest.raises(DataError, match="is for type='bootstrap'"):
        jackknife.lsmeans(pooling="normal")
    small = bmlmi(fitted, **given, B=2, D=2, seed=1)
    with pytest.raises(DataError, match="von Hippel"):
        small.compare(pooling="percentile")
