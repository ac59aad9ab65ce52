"""The documentation lists every registered covariance structure with its SAS names."""

from __future__ import annotations

from pathlib import Path

import pytest

from trialmlm.covariance import STRUCTURES
from trialmlm.estimands import DEFAULT_STRATEGIES as METHODS

DOC = (Path(__file__).parents[1] / "docs" / "mmrm.md").read_text()


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_structure_documented(name):
    cls = STRUCTURES[name]
    row = next((line for line in DOC.splitlines() if line.startswith(f"| `{name}` |")), None)
    assert row is not None, f"docs/mmrm.md has no table row for {name}"
    assert cls.sas_type.split(",")[0] in row
    first = cls(3 if not cls.spatial else 1).param_names()[0]
    assert first.split("(")[0] in row


@pytest.mark.parametrize("name", METHODS)
def test_imputation_method_documented(name):
    missing_doc = (Path(__file__).parents[1] / "docs" / "missing.md").read_text()
    assert f"| `{name}`" in missing_doc


def test_clda_worked_example():
    """The cLDA section of docs/mmrm.md: its code runs and its table prints the fit's numbers."""
    import re

    import trialmlm

    root = Path(__file__).parents[1]
    section = DOC[DOC.index("## cLDA"):DOC.index("## Covariance fallback")]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    code = code.replace('"sample_data/', f'"{(root / "sample_data").as_posix()}/')
    scope = {"trialmlm": trialmlm}
    exec(compile(code, "docs/mmrm.md", "exec"), scope)
    fit = scope["fit"]
    assert f"= {-2 * fit.loglik:.3f}." in section
    change = trialmlm.change_lsmeans(fit).query("AVISIT == 'Week 8'")
    diff = fit.compare("TRT01P", by="AVISIT").query("AVISIT == 'Week 8'")
    cells = [f"{r.estimate:.3f} ({r.se:.3f}), {r.df:.1f}" for r in change.itertuples()]
    cells += [f"{r.estimate:.3f} ({r.se:.3f}), {r.df:.1f}, {r.p:.3f}" for r in diff.itertuples()]
    for cell in cells:
        assert cell in section, cell
