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

