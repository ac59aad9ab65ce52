"""genmod.working: the registry of working correlation structures, their matrices and the
check that an estimate is positive definite (closed form or Cholesky of each block)."""

from __future__ import annotations

import numpy as np
import pytest

from trialmlm.errors import DataError
from trialmlm.genmod.clusters import Clusters
from trialmlm.genmod.working import WORKING, MDependent, get_working


def four_visits(n: int = 3) -> Clusters:
    return Clusters.of(np.repeat(np.arange(n), 4), np.tile(np.arange(4), n), n, 4)


def test_registry_names_and_aliases():
    assert list(WORKING) == ["independence", "exchangeable", "ar1", "mdep", "unstructured"]
    assert get_working("CS") is WORKING["exchangeable"] and get_working("un") is WORKING["unstructured"]
    assert get_working("mdep(2)") == MDependent(2) and get_working("mdep(2)").sas == "MDEP(2)"
    assert [w.sas for w in WORKING.values()] == ["IND", "EXCH", "AR(1)", "MDEP(1)", "UN"]
    with pytest.raises(DataError, match="mdep"):
        get_working("toeplitz")


def test_matrices():
    np.testing.assert_allclose(WORKING["ar1"].matrix(np.array([0.5]), 3)[0], [1, 0.5, 0.25])
    np.testing.assert_allclose(WORKING["exchangeable"].matrix(np.array([0.2]), 3)[2], [0.2, 0.2, 1])
    np.testing.assert_allclose(get_working("mdep(1)").matrix(np.array([0.3]), 3)[0], [1, 0.3, 0])
    assert WORKING["unstructured"].parameter_names(["V1", "V2", "V3"]) == \
        ["alpha(V1,V2)", "alpha(V1,V3)", "alpha(V2,V3)"]


@pytest.mark.parametrize("name, alpha", [("exchangeable", [-0.34]), ("exchangeable", [1.0]), ("ar1", [1.0]),
                                         ("mdep(1)", [0.9]), ("unstructured", [0.9, 0.9, -0.9, 0.9, 0, 0])])
def test_not_positive_definite_is_named(name, alpha):
    with pytest.raises(DataError, match=rf"{name.replace('(', '.').replace(')', '.')} working correlation "
                                        r"estimate is not positive definite over the visits \[0, 1, 2, 3\]"):
        get_working(name).precision(np.array(alpha), four_visits())


def test_exchangeable_limit_depends_on_the_largest_cluster():
    two = Clusters.of(np.repeat(np.arange(3), 2), np.tile([0, 2], 3), 3, 4)
    WORKING["exchangeable"].precision(np.array([-0.9]), two)  # -1/(m-1) = -1 for pairs
    with pytest.raises(DataError):
        WORKING["exchangeable"].precision(np.array([-0.9]), four_visits())
