"""trialmlm.plots: every plot renders without warnings and shows the fit's / data's numbers.

The expected values are computed independently here (pandas group means, scipy t
quantiles, dense covariance matrices from the fit's public estimates) or taken from the
already validated public API (``lsmeans``, ``compare``, ``predict``, ``shrinkage``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from scipy import stats  # noqa: E402

import trialmlm  # noqa: E402
from trialmlm import estimands, missing, plots  # noqa: E402
from trialmlm.errors import DataError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error")
REFERENCE = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def sleep():
    return pd.read_csv(REFERENCE / "sleepstudy.csv")


@pytest.fixture(scope="module")
def sleep_fit(sleep):
    return trialmlm.fit("Reaction ~ Days + (1 + Days | Subject)", sleep)


@pytest.fixture(scope="module")
def irregular():
    return pd.read_csv(REFERENCE / "irregular.csv")


@pytest.fixture(scope="module")
def irregular_fit(irregular):
    return trialmlm.fit("y ~ BASE + ARM * TIME + (1 + TIME | ID)", irregular)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def render(obj, tmp_path, name="plot") -> plt.Figure:
    """Draw to PNG (catches layout / text errors) and return the figure."""
    fig = obj.figure if isinstance(obj, Axes) else np.ravel(obj)[0].figure
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    assert path.stat().st_size > 1000
    return fig


def labelled(ax: Axes) -> bool:
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel())


# -- palette -----------------------------------------------------------------------------
def test_palette_is_okabe_ito_in_level_order_and_overridable():
    pal = plots.arm_palette(["ACT", "CTRL", "PBO"])
    assert list(pal.values()) == list(plots.OKABE_ITO[:3])
    pal = plots.arm_palette(["ACT", "CTRL", "PBO"], {"CTRL": "grey", "XYZ": "red"})
    assert pal == {"ACT": plots.OKABE_ITO[0], "CTRL": "grey", "PBO": plots.OKABE_ITO[2]}


def _line_colours(ax: Axes) -> dict:
    """Legend label -> colour of the series."""
    handles, names = ax.get_legend_handles_labels()
    out = {}
    for h, n in zip(handles, names):
        line = h[0] if isinstance(h, tuple) else getattr(h, "lines", (h,))[0]
        out[n] = to_hex(line.get_color())
    return out


def test_an_arm_has_one_colour_in_every_plot(demo_trial, demo_fit, tmp_path):
    expected = {"ACT": plots.OKABE_ITO[0].lower(), "CTRL": plots.OKABE_ITO[1].lower()}
    ax1 = plots.observed_means(demo_trial, "AVISIT", "CHG", "TRT")
    ax2 = plots.lsmeans_plot(demo_fit, "TRT", "AVISIT")
    assert _line_colours(ax1) == expected
    assert _line_colours(ax2) == expected
    forest = plots.difference_forest(demo_fit, "TRT", reference="CTRL")
    points = [c for c in forest.containers]
    assert to_hex(points[0].lines[0].get_color()) == expected["ACT"]  # ACT - CTRL in ACT's colour
    render(forest, tmp_path)


# -- data plots --------------------------------------------------------------------------
def test_spaghetti_one_panel_per_arm_with_subset_and_observed_means(demo_trial, tmp_path):
    axes = plots.spaghetti(demo_trial, "USUBJID", "AVISIT", "CHG", "TRT", n_subjects=12, seed=3)
    render(axes, tmp_path)
    assert isinstance(axes, np.ndarray) and len(axes) == 2
    drop = missing.dropout_table(demo_trial, "USUBJID", "AVISIT", "CHG", "TRT")
    for ax, arm in zip(axes, ["ACT", "CTRL"]):
        thin = [ln for ln in ax.get_lines() if ln.get_linewidth() < 1 and ln.get_marker() in ("None", "")]
        assert len(thin) == 12  # one line per drawn subject
        mean_line = next(ln for ln in ax.get_lines() if ln.get_linewidth() > 2)
        expected = demo_trial[demo_trial.TRT == arm].groupby("AVISIT")["CHG"].mean()
        np.testing.assert_allclose(mean_line.get_ydata(), expected.to_numpy())
        n_drop = int(drop.loc[drop.TRT == arm, "n_dropout"].sum())
        assert ax.get_title() == f"{arm}\n80 subjects (12 shown), {n_drop} dropouts"
    assert axes[0].get_xlabel() == "AVISIT" and axes[0].get_ylabel() == "CHG"


def test_spaghetti_numeric_time_without_arm(irregular, tmp_path):
    axes = plots.spaghetti(irregular, "ID", "TIME", "y", xlabel="Years", ylabel="Score")
    render(axes, tmp_path)
    assert len(axes) == 1 and labelled(axes[0]) and axes[0].get_xlabel() == "Years"
    thin = [ln for ln in axes[0].get_lines() if ln.get_linewidth() < 1]
    assert len(thin) == irregular.ID.nunique()


def test_observed_means_are_means_with_t_intervals(demo_trial, tmp_path):
    ax = plots.observed_means(demo_trial, "AVISIT", "CHG", "TRT", ci=0.9)
    render(ax, tmp_path)
    assert labelled(ax)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["V1", "V2", "V3", "V4", "V5"]
    bars = {c.get_label(): c for c in ax.containers}
    for arm in ("ACT", "CTRL"):
        y = demo_trial[demo_trial.TRT == arm].dropna(subset=["CHG"]).groupby("AVISIT")["CHG"]
        np.testing.assert_allclose(bars[arm].lines[0].get_ydata(), y.mean().to_numpy())
        half = stats.t.ppf(0.95, y.count() - 1) * y.std() / np.sqrt(y.count())
        segs = bars[arm].lines[2][0].get_segments()
        np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in segs], 2 * half.to_numpy())
    xs = [c.lines[0].get_xdata() for c in ax.containers]
    assert np.all(xs[0] < xs[1])  # arms dodged


def test_observed_means_respect_categorical_visit_order(demo_trial):
    df = demo_trial.assign(AVISIT=pd.Categorical(demo_trial.AVISIT, ["V5", "V4", "V3", "V2", "V1"],
                                                 ordered=True))
    ax = plots.observed_means(df, "AVISIT", "CHG", "TRT")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["V5", "V4", "V3", "V2", "V1"]
    assert ax.figure.legends[0].get_title().get_text() == "TRT"


def test_missing_pattern_heatmap_matches_observation_matrix(demo_trial, tmp_path):
    ax = plots.missing_pattern_heatmap(demo_trial, "USUBJID", "AVISIT", "CHG", "TRT")
    render(ax, tmp_path)
    image = ax.get_images()[0].get_array()
    assert image.shape == (160, 5)
    assert int((image > 0).sum()) == int(demo_trial.CHG.notna().sum())
    assert set(np.unique(image[:80])) == {0, 1} and set(np.unique(image[80:])) == {0, 2}  # grouped by arm
    assert (image[:80] > 0).all(axis=1).sum() == 47 and (image[:47] > 0).all()  # completers first
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ACT\n(n=80)", "CTRL\n(n=80)"]
    assert labelled(ax)


def test_km_dropout_curves_and_numbers_at_risk(demo_trial, tmp_path):
    km = missing.time_to_dropout(demo_trial, "USUBJID", "AVISIT", "CHG", "TRT", time="TIME")
    ax = plots.km_dropout(km)
    fig = render(ax, tmp_path)
    assert labelled(ax) and len(fig.axes) == 2
    steps = [ln for ln in ax.get_lines() if ln.get_drawstyle() == "steps-post"]
    assert len(steps) == 2
    for ln, arm in zip(steps, ["ACT", "CTRL"]):
        np.testing.assert_allclose(ln.get_ydata()[:-1], km.survival.loc[km.survival.TRT == arm, "survival"])
    risk = sorted(int(t.get_text()) for t in fig.axes[1].texts)
    assert risk == sorted(km.survival.n_at_risk.astype(int))
    assert fig.legends[0].get_title().get_text() == f"Log-rank p = {km.logrank.p.iloc[0]:.4f}"
    assert len(ax.collections) == 2  # CI bands


def test_km_dropout_on_given_axes_without_risk_table(demo_trial):
    km = missing.time_to_dropout(demo_trial, "USUBJID", "AVISIT", "CHG")
    fig, ax = plt.subplots()
    assert plots.km_dropout(km, ax=ax) is ax and len(fig.axes) == 1


# -- inference plots ---------------------------------------------------------------------
def test_lsmeans_plot_shows_fit_lsmeans(demo_fit, tmp_path):
    ax = plots.lsmeans_plot(demo_fit, "TRT", "AVISIT")
    render(ax, tmp_path)
    assert labelled(ax) and len(ax.containers) == 2
    ls = demo_fit.lsmeans("TRT", by="AVISIT")
    for c in ax.containers:
        arm = c.get_label()
        part = ls[ls.TRT == arm]
        np.testing.assert_allclose(c.lines[0].get_ydata(), part.estimate)
        segs = c.lines[2][0].get_segments()
        np.testing.assert_allclose([s[0, 1] for s in segs], part.lower)
        np.testing.assert_allclose([s[1, 1] for s in segs], part.upper)


def test_difference_forest_from_fit_and_from_table_agree(demo_fit, tmp_path):
    table = demo_fit.compare("TRT", by="AVISIT", reference="CTRL")
    ax1 = plots.difference_forest(demo_fit, "TRT", reference="CTRL")
    ax2 = plots.difference_forest(table)
    render(ax1, tmp_path)
    for ax in (ax1, ax2):
        np.testing.assert_allclose(ax.containers[0].lines[0].get_xdata(), table.estimate)
        assert any(np.allclose(ln.get_xdata(), 0) for ln in ax.get_lines())  # zero line
        texts = [t.get_text() for t in ax.texts]
        first = f"{table.estimate[0]:.2f} ({table.lower[0]:.2f}, {table.upper[0]:.2f})".replace("-", "\u2212")
        assert any(" ".join(t.split()) == first for t in texts)
        assert f"{table.p[1]:.4f}" in texts
        assert [t.get_text() for t in ax.get_yticklabels()] == ["V1", "V2", "V3", "V4", "V5"]
    assert ax1.get_xlabel().startswith("Difference in LS means of CHG")


def test_difference_forest_several_contrasts(trial3, tmp_path):
    fit = trialmlm.fit("CHG ~ BASE + TRT * AVISIT + us(AVISIT | USUBJID)", trial3)
    ax = plots.difference_forest(fit, "TRT", reference="PBO")
    render(ax, tmp_path)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["HIGH - PBO", "LOW - PBO"]
    pal = plots.arm_palette(["HIGH", "LOW", "PBO"])
    colours = [to_hex(c.lines[0].get_color()) for c in ax.containers]
    assert colours == [pal["HIGH"].lower(), pal["LOW"].lower()]
    assert len(ax.containers[0].lines[0].get_xdata()) == trial3.AVISIT.nunique()


def test_difference_forest_rejects_other_tables():
    with pytest.raises(DataError, match="contrast"):
        plots.difference_forest(pd.DataFrame({"estimate": [1.0]}))


@dataclass(frozen=True)
class FakeTippingPoint:
    table: pd.DataFrame
    tipping_delta: float | None
    alpha: float = 0.05
    visit: str = "V5"


def _tipping_table(contrasts=None):
    d = np.linspace(0, 4, 9)
    frames = []
    for k, c in enumerate(contrasts or [None]):
        est = -2.4 + 0.6 * d + 0.3 * k
        p = 2 * stats.norm.sf(np.abs(est))
        f = pd.DataFrame({"delta": d, "estimate": est, "se": 1.0, "df": 100.0, "lower": est - 1.98,
                          "upper": est + 1.98, "p": p})
        if c is not None:
            f.insert(0, "contrast", c)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def test_tipping_point_plot_marks_tipping_delta(tmp_path):
    table = _tipping_table()
    td = float(table.delta[np.argmax(table.p >= 0.05)])
    ax = plots.tipping_point_plot(FakeTippingPoint(table, td))
    render(ax, tmp_path)
    assert labelled(ax) and ax.get_title() == "Tipping-point analysis at V5"
    assert any(np.allclose(ln.get_xdata(), td) for ln in ax.get_lines())  # vertical line
    assert any(f"\u0394 = {td:.1f}" in t.get_text() for t in ax.texts)  # the grid's 1 decimal
    est = next(ln for ln in ax.get_lines() if ln.get_label() == "Estimate")
    np.testing.assert_allclose(est.get_ydata(), table.estimate)


def test_tipping_point_plot_several_contrasts_and_no_tipping(tmp_path):
    table = _tipping_table(["HIGH - PBO", "LOW - PBO"])
    ax = plots.tipping_point_plot(FakeTippingPoint(table, None))
    render(ax, tmp_path)
    names = [t.get_text() for t in ax.figure.legends[0].get_texts()]
    assert names[:2] == ["HIGH - PBO", "LOW - PBO"]
    assert any("No tipping point" in t.get_text() for t in ax.texts)


def test_tipping_point_plot_no_line_when_the_primary_is_not_significant(tmp_path):
    """As the sensitivity table: a contrast not significant under MAR has no tipping point."""
    df = trialmlm.read(Path(__file__).parents[1] / "sample_data" / "depression_trial.csv", param="HAMD17")
    fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", df)
    tp = estimands.tipping_point(fit, [0, 1, 2, 3, 4, 5, 6], visit="Week 2", reference="Placebo",
                               n_samples=3, seed=2)
    low, high = "Drug 10 mg - Placebo", "Drug 20 mg - Placebo"
    assert tp.status(low) == "not significant" and tp.tipping_deltas[low] is not None
    assert tp.status(high) == "tips"
    ax = plots.tipping_point_plot(tp)
    render(ax, tmp_path)
    vertical = [ln for ln in ax.get_lines() if len(set(ln.get_xdata())) == 1 and len(ln.get_xdata()) == 2]
    assert [ln.get_xdata()[0] for ln in vertical] == [tp.tipping_deltas[high]]
    notes = " ".join(t.get_text() for t in ax.texts)
    assert f"no tipping point\n  {low}" in notes and f"Tipping point,\n{high}" in notes


# -- diagnostics -------------------------------------------------------------------------
def test_residual_diagnostics_three_panels_of_pearson_residuals(demo_fit, tmp_path):
    axes = plots.residual_diagnostics(demo_fit)
    render(axes, tmp_path)
    assert len(axes) == 3 and all(labelled(ax) for ax in axes)
    # Pearson residual = raw residual / sqrt(Sigma_jj) at the row's visit
    raw = demo_fit.residuals()
    visit = pd.read_csv(REFERENCE / "demo_trial.csv").loc[raw.index, "AVISIT"]
    sd = np.sqrt(np.diag(demo_fit.covariance_matrix()))
    expected = raw.to_numpy() / sd[visit.map({"V1": 0, "V2": 1, "V3": 2, "V4": 3, "V5": 4}).to_numpy()]
    np.testing.assert_allclose(np.sort(plots.model_residuals(demo_fit)), np.sort(expected))
    np.testing.assert_allclose(np.sort(axes[0].get_lines()[0].get_ydata()), np.sort(expected))
    assert [t.get_text() for t in axes[2].get_xticklabels()] == ["V1", "V2", "V3", "V4", "V5"]


def test_scaled_residuals_whiten_each_subject(sleep, sleep_fit):
    """L_i^{-1} r_i with V_i = Z G Z' + sigma^2 I built from the fit's public estimates."""
    g = sleep_fit.random_effects_covariance.to_numpy()
    s2 = sleep_fit.residual_variance
    raw = sleep_fit.residuals()
    scaled = plots.model_residuals(sleep_fit, "scaled")
    expected = []
    for _, rows in sleep.loc[raw.index].groupby("Subject", sort=True):
        z = np.column_stack([np.ones(len(rows)), rows.Days])
        v = z @ g @ z.T + s2 * np.eye(len(rows))
        expected.append(np.linalg.solve(np.linalg.cholesky(v), raw.loc[rows.index].to_numpy()))
    np.testing.assert_allclose(np.sort(scaled), np.sort(np.concatenate(expected)), rtol=1e-8)
    with pytest.raises(DataError, match="residual kind"):
        plots.model_residuals(sleep_fit, "studentized")


def test_residual_diagnostics_random_effects_groups_by_time(irregular_fit, sleep_fit, tmp_path):
    axes = plots.residual_diagnostics(irregular_fit, kind="raw")
    render(axes, tmp_path)
    assert axes[2].get_xlabel() == "TIME (quintile groups)" and len(axes[2].get_xticklabels()) == 5
    axes = plots.residual_diagnostics(sleep_fit)
    assert [t.get_text() for t in axes[2].get_xticklabels()] == [str(d) for d in range(10)]


def test_individual_trajectories_show_population_and_blup_predictions(sleep_fit, tmp_path):
    axes = plots.individual_trajectories(sleep_fit, n=6, seed=1)
    render(axes, tmp_path)
    assert len(axes) == 6
    pop, cond = sleep_fit.predict(), sleep_fit.predict(conditional=True)
    data = pd.read_csv(REFERENCE / "sleepstudy.csv")
    for ax in axes:
        sid = ax.get_title().split()[-1]
        rows = data.index[data.Subject.astype(str) == sid]
        dashed, solid, points = ax.get_lines()
        np.testing.assert_allclose(dashed.get_ydata(), pop.loc[rows])
        np.testing.assert_allclose(solid.get_ydata(), cond.loc[rows])
        np.testing.assert_allclose(points.get_ydata(), data.loc[rows, "Reaction"])
    assert axes[-1].get_xlabel() == "Days" and axes[0].get_ylabel() == "Reaction"


def test_individual_trajectories_named_subjects_and_errors(irregular_fit, demo_fit, tmp_path):
    axes = plots.individual_trajectories(irregular_fit, subjects=["P10", "P02"])
    render(axes, tmp_path)
    assert [ax.get_title() for ax in axes] == ["ID P02", "ID P10"]
    with pytest.raises(DataError, match="needs a model with random effects.*us"):
        plots.individual_trajectories(demo_fit)
    with pytest.raises(DataError, match="not in the fit"):
        plots.individual_trajectories(irregular_fit, subjects=["nobody"])


def test_shrinkage_plot_pairs_ols_and_blup(sleep_fit, tmp_path):
    axes = plots.shrinkage_plot(sleep_fit)
    render(axes, tmp_path)
    assert len(axes) == 2  # Intercept and Days
    table = sleep_fit.shrinkage()
    for ax, term in zip(axes, ["Intercept", "Days"]):
        part = table[table.term == term]
        ols = next(ln for ln in ax.get_lines() if ln.get_marker() == "o" and np.allclose(ln.get_xdata(), 0))
        np.testing.assert_allclose(ols.get_ydata(), part.ols)
        assert ax.get_ylabel().startswith(term)
        assert len([ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]) == 18  # one pair per subject
    arrows = plots.shrinkage_plot(sleep_fit, kind="arrows")
    render(arrows, tmp_path, "arrows")
    assert len(arrows) == 1 and labelled(arrows[0])


def test_shrinkage_plot_needs_random_effects(demo_fit):
    with pytest.raises(DataError, match="random effects"):
        plots.shrinkage_plot(demo_fit)


def test_spaghetti_irregular_time_counts_dropouts_by_visit():
    df = trialmlm.read(Path(__file__).parents[1] / "sample_data" / "long_term_trial.csv",
                       keep_baseline=True)
    axes = plots.spaghetti(df, "USUBJID", "TIME", "AVAL", "TRT01P", visit="AVISIT")
    drop = missing.dropout_table(df, "USUBJID", "AVISIT", "AVAL", arm="TRT01P")
    for ax in axes:
        arm = ax.get_title().split("\n")[0]
        n_drop = int(drop.loc[drop["TRT01P"] == arm, "n_dropout"].sum())
        assert n_drop > 0 and ax.get_title().endswith(f", {n_drop} dropouts")
    plt.close(axes[0].figure)


def test_residuals_with_an_outer_factor_use_the_marginal_covariance():
    """Issue 12: (1 | SITE) + (1 | USUBJID) on nested.csv.  The Pearson residual divides by
    the marginal SD sqrt(tau2 + s2 + sigma2) (5.310), not the subject-level SD
    sqrt(s2 + sigma2) (3.870); the scaled residual whitens each site's dense block
    V = tau2 [same site] + s2 [same subject] + sigma2 I, built from the public estimates."""
    data = pd.read_csv(REFERENCE / "nested.csv")
    fit = trialmlm.fit("Y ~ ARM * WEEK + (1 | SITE) + (1 | USUBJID)", data)
    g = fit.random_effects_covariance
    tau2, s2 = g.loc["SITE: Intercept", "SITE: Intercept"], g.loc["USUBJID: Intercept", "USUBJID: Intercept"]
    sigma2 = fit.residual_variance
    raw = fit.residuals()
    used = data.loc[raw.index]
    same = {c: np.equal.outer(used[c].to_numpy(), used[c].to_numpy()) for c in ("SITE", "USUBJID")}
    v = tau2 * same["SITE"] + s2 * same["USUBJID"] + sigma2 * np.eye(len(used))
    assert np.sqrt(v[0, 0]) == pytest.approx(5.310, abs=5e-4)
    assert np.sqrt(s2 + sigma2) == pytest.approx(3.870, abs=5e-4)
    order = np.argsort(fit.design.row_position)  # fit order -> data order
    pearson = plots.model_residuals(fit, "pearson")[order]
    np.testing.assert_allclose(pearson, raw.to_numpy() / np.sqrt(np.diag(v)), rtol=1e-10)
    scaled = plots.model_residuals(fit, "scaled")[order]
    for _, rows in used.groupby("SITE", sort=True):  # the independent blocks; rows in fit order
        at = np.flatnonzero(used.index.isin(rows.index))
        at = at[np.lexsort((used["WEEK"].to_numpy()[at], used["USUBJID"].to_numpy()[at]))]
        block = np.linalg.solve(np.linalg.cholesky(v[np.ix_(at, at)]), raw.to_numpy()[at])
        np.testing.assert_allclose(scaled[at], block, rtol=1e-8, atol=1e-10)


def test_residuals_of_a_weighted_crossed_model_match_the_dense_covariance():
    """Raters crossed with sites, weights: one independent block, V from helpers.dense_covariance."""
    from helpers import dense_covariance

    data = pd.read_csv(REFERENCE / "crossed.csv")
    data["W"] = 1.0 + (np.arange(len(data)) % 3) / 2
    fit = trialmlm.fit("Y ~ ARM * WEEK + (1 | RATER) + (1 + WEEK | SITE) + (1 | USUBJID)", data, weights="W")
    v = dense_covariance(fit)[0]
    raw = fit.design.y - fit.design.X @ fit.beta
    np.testing.assert_allclose(plots.model_residuals(fit, "pearson"), raw / np.sqrt(np.diag(v)), rtol=1e-10)
    np.testing.assert_allclose(plots.model_residuals(fit, "scaled"),
                               np.linalg.solve(np.linalg.cholesky(v), raw), rtol=1e-7, atol=1e-9)


def test_shrinkage_plot_legend_names_every_marker_drawn(sleep, sleep_fit, tmp_path):
    few = sleep[(sleep.Subject != sleep.Subject.iloc[0]) | (sleep.Days == 0)]  # one subject: one record
    fit = trialmlm.fit("Reaction ~ Days + (1 + Days | Subject)", few)
    assert fit.shrinkage().ols.isna().any()
    axes = plots.shrinkage_plot(fit)
    fig = render(axes, tmp_path)
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert names == ["Subject's own fit (OLS)", "BLUP", "BLUP, no own fit (too few observations)"]
    arrows = plots.shrinkage_plot(fit, kind="arrows")[0]
    assert [t.get_text() for t in arrows.get_legend().get_texts()] == names
    whole = plots.shrinkage_plot(sleep_fit)  # every subject has its own fit: no third entry
    assert len(whole[0].figure.legends[0].get_texts()) == 2
