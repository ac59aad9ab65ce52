"""Tests of trialmlm.plots.style: visit tick layout, figure width, arm colours, and figures that
stay readable with 3, 9 and 20 visits and long arm names (no tick labels that touch)."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

import trialmlm  # noqa: E402
from trialmlm import missing, plots  # noqa: E402
from trialmlm.plots.responders import responder_proportions  # noqa: E402
from trialmlm.plots.style import tick_layout, visit_ticks, visit_width  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error")
LONG_ARMS = ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


# -- tick layout ---------------------------------------------------------------------------
def weeks(n: int) -> list[str]:
    return [f"Week {4 * v}" for v in range(1, n + 1)]


def test_labels_stay_horizontal_when_they_fit():
    # "Week 12": 7 characters x 0.6 em + 1 em gap = 5.2 em = 0.72 in at 10 pt
    assert tick_layout(weeks(3), slot=0.75) == (0, 1)
    assert tick_layout(["V1", "V2"], slot=0.4) == (0, 1)


def test_labels_rotate_30_then_45_degrees_before_thinning():
    # one line is 1.3 em = 0.18 in high: 30 degrees needs a slot of 0.36 in, 45 degrees 0.255 in
    assert tick_layout(weeks(9), slot=0.5) == (30, 1)
    assert tick_layout(weeks(9), slot=0.3) == (45, 1)


def test_labels_are_thinned_when_even_45_degrees_touch():
    rotation, step = tick_layout(weeks(20), slot=0.12)
    assert rotation == 45 and step == int(np.ceil(1.3 * 10 / 72 / (0.12 * np.sin(np.pi / 4))))
    assert step == 3


def test_two_line_labels_need_twice_the_room():
    one = tick_layout(["Week 8"] * 5, slot=0.3)
    two = tick_layout(["Week 8\n(56)"] * 5, slot=0.3)
    assert one == (45, 1) and two[0] == 45 and two[1] == 2


def test_thinned_ticks_keep_every_mark_and_the_last_visit():
    fig = plt.figure(figsize=(3.0, 2.0), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(-0.5, 19.5)
    rotation, step = visit_ticks(ax, range(20), weeks(20))
    texts = [t.get_text() for t in ax.get_xticklabels()]
    assert rotation == 45 and step > 1 and len(texts) == 20
    assert texts[-1] == "Week 80" and texts[-1 - step] == weeks(20)[-1 - step]
    assert sum(bool(t) for t in texts) == len(range(19, -1, -step))
    assert all(t.get_rotation() == 45 and t.get_ha() == "right" for t in ax.get_xticklabels())


def test_figure_width_grows_with_the_visits_within_bounds():
    assert visit_width(3) == 7.0 and visit_width(20) == 11.5 and visit_width(40) == 13.0
    assert visit_width(9, least=3.6, per_visit=0.25, most=5.0) == pytest.approx(4.75)


# -- arm colours ---------------------------------------------------------------------------
def test_arm_colours_do_not_depend_on_the_order_after_the_reference():
    one = plots.arm_palette(["PBO", "LOW", "HIGH", "MID"])
    two = plots.arm_palette(["PBO", "MID", "HIGH", "LOW"])
    assert one == two
    assert one["PBO"] == plots.OKABE_ITO[0]
    assert [one[a] for a in ("HIGH", "LOW", "MID")] == list(plots.OKABE_ITO[1:4])
    assert list(two) == ["PBO", "MID", "HIGH", "LOW"]  # keyed in the given order


def trial(n_visits: int, arms=LONG_ARMS, n: int = 15, seed: int = 3) -> pd.DataFrame:
    """Long data: ``n`` subjects per arm, visits "Week 4", "Week 8", ..., monotone dropout."""
    rng = np.random.default_rng(seed)
    rows = []
    for a, arm in enumerate(arms):
        for s in range(n):
            last = n_visits if rng.random() < 0.6 else rng.integers(1, n_visits + 1)
            base = rng.normal(50, 5)
            for v in range(1, n_visits + 1):
                y = -0.3 * a * v + 0.1 * base + rng.normal(0, 3)
                rows.append({"USUBJID": f"{a}-{s}", "TRT": arm, "AVISIT": f"Week {4 * v}", "BASE": base,
                             "CHG": y if v <= last else np.nan,
                             "RESP": float(y > 4) if v <= last else np.nan})
    df = pd.DataFrame(rows)
    df["TRT"] = pd.Categorical(df["TRT"], categories=arms)
    df["AVISIT"] = pd.Categorical(df["AVISIT"], categories=weeks(n_visits))
    return df


@dataclass(frozen=True)
class Tipping:
    table: pd.DataFrame
    tipping_delta: float | None = None
    alpha: float = 0.05


def test_an_arm_and_its_difference_have_one_colour_in_every_figure():
    arms = ["Placebo", "Drug 10 mg"]  # reference first; natural order would put Drug first
    df = trial(3, arms)
    drug = plots.OKABE_ITO[1].lower()
    means = plots.observed_means(df, "AVISIT", "CHG", "TRT")
    assert to_hex(means.get_lines()[-1].get_color()) == drug
    panels = plots.spaghetti(df, "USUBJID", "AVISIT", "CHG", "TRT")
    assert to_hex(panels[1].get_lines()[-1].get_color()) == drug
    d = np.linspace(0, 4, 5)
    table = pd.DataFrame({"contrast": "Drug 10 mg - Placebo", "delta": d, "estimate": -2 + d, "se": 1.0,
                          "lower": -4 + d, "upper": d, "p": 0.01 + 0.2 * d})
    tipping = plots.tipping_point_plot(Tipping(table))
    assert to_hex(tipping.get_lines()[1].get_color()) == drug
    compare = table.drop(columns="delta").iloc[:1].assign(AVISIT="Week 12", TRT="Drug 10 mg")
    columns = ["AVISIT", "TRT", "contrast", "estimate", "lower", "upper", "p"]
    forest = plots.difference_forest(compare[columns])
    assert to_hex(forest.containers[0].lines[0].get_color()) == drug


def test_spaghetti_legend_draws_subjects_and_means_in_the_arm_colours():
    df = trial(3)
    fig = plots.spaghetti(df, "USUBJID", "AVISIT", "CHG", "TRT")[0].figure
    drawn = {to_hex(line.get_color()) for line in fig.legends[0].findobj(Line2D)}
    arm_colours = {to_hex(c) for c in plots.arm_palette(LONG_ARMS).values()}
    assert drawn == arm_colours | {"#000000"}  # completers and means per arm, dropouts black


# -- figures with 3, 9 and 20 visits -------------------------------------------------------
def overlapping_ticks(ax) -> list[tuple[str, str]]:
    """Neighbouring shown x tick labels that touch: horizontal ones whose boxes overlap, rotated
    ones (parallel, anchored at their ticks) closer across their direction than their height."""
    renderer = ax.figure.canvas.get_renderer()
    shown = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    touching = []
    for a, b in zip(shown, shown[1:]):
        angle = np.radians(a.get_rotation())
        if angle == 0:
            if a.get_window_extent(renderer).overlaps(b.get_window_extent(renderer)):
                touching.append((a.get_text(), b.get_text()))
            continue
        _, height, _ = renderer.get_text_width_height_descent(a.get_text(), a.get_fontproperties(), False)
        lines = max(a.get_text().count("\n"), b.get_text().count("\n")) + 1
        gap = ax.transData.transform((b.get_position()[0], 0))[0] - ax.transData.transform(
            (a.get_position()[0], 0))[0]
        if gap * np.sin(angle) < lines * height:
            touching.append((a.get_text(), b.get_text()))
    return touching


def assert_readable(axes) -> None:
    axes = np.ravel(np.asarray([axes], dtype=object))
    axes[0].figure.canvas.draw()
    for ax in axes:
        assert overlapping_ticks(ax) == []


@pytest.fixture(scope="module", params=[3, 9, 20])
def visits(request):
    df = trial(request.param)
    fit = trialmlm.fit("CHG ~ BASE + TRT * AVISIT + cs(AVISIT | USUBJID)", df)
    return request.param, df, fit


def test_data_figures_have_readable_visit_axes(visits):
    n, df, _ = visits
    panels = plots.spaghetti(df, "USUBJID", "AVISIT", "CHG", "TRT")
    assert_readable(panels)
    assert panels[0].figure.get_figwidth() == pytest.approx(3 * visit_width(n, 3.6, 0.25, 5.0) + 0.6)
    for ax in (plots.observed_means(df, "AVISIT", "CHG", "TRT"),
               plots.missing_pattern_heatmap(df, "USUBJID", "AVISIT", "CHG", "TRT"),
               responder_proportions(df, "AVISIT", "RESP", "TRT")):
        assert_readable(ax)


def test_kaplan_meier_keeps_the_full_width_with_its_legend_below(visits):
    n, df, _ = visits
    ax = plots.km_dropout(missing.time_to_dropout(df, "USUBJID", "AVISIT", "CHG", "TRT"))
    fig = ax.figure
    assert_readable(ax)
    assert fig.get_figwidth() == visit_width(n, 7.5)
    legend = fig.legends[0].get_window_extent()
    assert legend.y1 <= fig.axes[1].get_window_extent().y0  # below the numbers at risk
    assert ax.get_window_extent().width > 0.75 * fig.bbox.width


def test_model_figures_have_readable_visit_axes(visits):
    _, _, fit = visits
    assert_readable(plots.lsmeans_plot(fit, "TRT", "AVISIT"))
    assert_readable(plots.residual_diagnostics(fit)[2])
