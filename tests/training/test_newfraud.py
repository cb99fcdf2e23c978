import numpy as np
import pytest

from training.newfraud import NORMAL, group_frauds, hidden_recall, without_group


def test_well_separated_kinds_of_fraud_fall_into_their_own_groups():
    rng = np.random.default_rng(0)
    centers = np.array([[8.0, 0.0], [0.0, 8.0], [-8.0, -8.0]])
    frauds = np.vstack([c + rng.normal(size=(20, 2)) for c in centers])
    x = np.vstack([rng.normal(size=(100, 2)), frauds])
    y = np.r_[np.zeros(100, int), np.ones(60, int)]
    groups = group_frauds(x, y, groups=3)
    assert (groups[:100] == NORMAL).all()
    found = groups[100:].reshape(3, 20)
    assert all(len(set(row)) == 1 for row in found.tolist())
    assert len({row[0] for row in found.tolist()}) == 3


def test_hiding_a_group_removes_only_its_frauds_and_recall_counts_only_them():
    groups = np.array([NORMAL, 0, 1, 1, NORMAL, 0])
    rows = np.arange(6)
    assert without_group(rows, groups, 1).tolist() == [0, 1, 4, 5]
    alerts = np.array([True, False, True, False, True, True])
    assert hidden_recall(alerts, groups, 1) == 0.5
    assert hidden_recall(alerts, groups, 0) == 0.5
    assert np.isnan(hidden_recall(alerts, groups, 2))


def test_too_few_frauds_for_the_groups_is_refused():
    with pytest.raises(ValueError, match="2 frauds cannot form 3 groups"):
        group_frauds(np.zeros((4, 1)), np.array([1, 1, 0, 0]), groups=3)
