"""The rbmi quickstart's published results (R rbmi vignette "quickstart": Bayesian MI by MCMC,
150 imputations, jump to reference after the quickstart's ICE table, ANCOVA on BASVAL, Rubin's
rules; ``tests/reference/rbmi_quickstart_published.json``).

trialmlm has no MCMC sampler (docs/estimands.md says why); approximate-Bayesian MI
(bootstrap draws of the MMRM) targets the same posterior predictive distribution, so with
M = 500 its pooled estimates must be within 0.1 published SE of the MCMC ones and its SEs
within 5 % (the issue's distribution criterion; the published run's own Monte Carlo error
is about 0.03 SE).  Conditional mean imputation estimates the same quantity (its jackknife
SE answers another question under JR: no information anchoring), so only its estimates are
compared.  Measured: approximate Bayes 0.052 SE and 1.5 % at most, condmean 0.039 SE.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from trialmlm.estimands import condmean, impute

REF = Path(__file__).parent / "reference"
PUBLISHED = {r["parameter"]: r
             for r in json.loads((REF / "rbmi_quickstart_published.json").read_text())["pooled"]}


@pytest.fixture(scope="module")
def setting(antidepressant_fit):
    ice = pd.DataFrame(json.loads((REF / "condmean_refs.json").read_text())["scenarios"]["JR"]["ice"])
    return antidepressant_fit, ice


def _published(parameter: str) -> tuple[float, float]:
    return PUBLISHED[parameter]["est"], PUBLISHED[parameter]["se"]


def test_approximate_bayes_reaches_the_published_mcmc_inference(setting):
    fit, ice = setting
    mi = impute(fit, ice=ice, reference="PLACEBO", analysis="ancova", n_imputations=500, seed=1, workers=2)
    for _, row in mi.compare(reference="PLACEBO").iterrows():
        est, se = _published(f"trt_{row['VISIT']}")  # rbmi's trt is PLACEBO - DRUG
        assert abs(-row["estimate"] - est) < 0.1 * se
        assert abs(row["se"] / se - 1) < 0.05
    for _, row in mi.lsmeans().iterrows():
        est, se = _published(f"lsm_{'ref' if row['THERAPY'] == 'DRUG' else 'alt'}_{row['VISIT']}")
        assert abs(row["estimate"] - est) < 0.1 * se
        assert abs(row["se"] / se - 1) < 0.05


def test_conditional_mean_estimates_match_the_published_ones(setting):
    fit, ice = setting
    for _, row in condmean(fit, ice=ice, reference="PLACEBO").compare(reference="DRUG").iterrows():
        est, se = _published(f"trt_{row['VISIT']}")
        assert abs(row["estimate"] - est) < 0.1 * se
