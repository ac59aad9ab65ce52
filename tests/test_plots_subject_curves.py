"""trialmlm.plots.subject_curves: the GLMM's subject-specific, typical-subject and population-averaged
curves, drawn with the Agg backend on the toenail trial (tests/reference/glmm/toenail.csv)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import trialmlm  # noqa: E402
from trialmlm.errors import DataError  # noqa: E402
from trialmlm.glimmix.margins import marginal_means  # noqa: E402
from trialmlm.plots import OKABE_ITO, subject_curves  # noqa: E402

TOENAIL = Path(__file__).parent / "reference" / "glmm" / "toenail.csv"


@pytest.fixture(scope="module")
def fit():
    return trialmlm.glmm("y ~ treatment * time + (1 | id)", pd.read_csv(TOENAIL), method="laplace")


def test_draws_one_panel_per_arm_with_the_averaged_curve(fit):
    axes = subject_curves(fit, "treatment", "time", n_subjects=10, n_times=21)
    assert len(axes) == 2 and axes[0].figure is axes[1].figure
    assert [ax.get_title() for ax in axes] == ["itraconazole", "terbinafine"]
    lines = axes[0].get_lines()
    assert len(lines) == 10 + 2  # subjects, typical subject, population-averaged
    averaged = marginal_means(fit, "treatment", at={"time": list(np.linspace(0, 18.5, 21))})
    first_arm = averaged["treatment"] == "itraconazole"
    np.testing.assert_allclose(lines[-1].get_ydata(), averaged.loc[first_arm, "estimate"])
    assert matplotlib.colors.to_hex(lines[-1].get_color()) == OKABE_ITO[0].lower()
    assert lines[-2].get_ydata()[0] < lines[-1].get_ydata()[0]  # typical subject below the average at month 0
    axes[0].figure.canvas.draw()
    plt.close(axes[0].figure)


def test_time_must_be_a_covariate(fit):
    with pytest.raises(DataError, match="'treatment'"):
        subject_curves(fit, "treatment", "treatment")
