import numpy as np
import pytest

from training.comparison.newfraud import NORMAL, group_frauds, hidden_recall, without_group


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


def test_labels_miss_a_hidden_kind_of_fraud_that_an_anomaly_score_still_catches():
    pytest.importorskip("lightgbm")
    from training.comparison.newfraud import hidden_group_recalls

    rng = np.random.default_rng(3)
    n, per_kind = 3000, 60
    x = rng.normal(size=(n, 2))
    labels = np.zeros(n, dtype=int)
    labels[: 2 * per_kind] = 1
    x[:per_kind, 0] += 6  # kind 0 lies far out along the first feature
    x[per_kind : 2 * per_kind, 1] -= 6  # kind 1 along the second, the other way
    groups = np.where(labels == 1, (np.arange(n) >= per_kind).astype(int), NORMAL)
    anomaly = np.square(x).sum(axis=1)  # catches both kinds without labels
    order = rng.permutation(n)
    rows = (np.sort(order[:1800]), np.sort(order[1800:2400]), np.sort(order[2400:]))
    inputs = {"supervised": x, "both": x}
    outcomes = hidden_group_recalls(anomaly, inputs, labels, groups, rows, 0.05, 0, veto=False)
    recall = {(o.method, o.group): o.recall for o in outcomes}
    assert {o.group for o in outcomes} == {0, 1}
    for group in (0, 1):
        assert recall[("autoencoder", group)] > 0.8
        assert recall[("supervised", group)] < 0.5
        assert recall[("both", group)] > 0.5  # the autoencoder's share of the budget
    # The stage's veto only removes autoencoder alerts: here, a kind of fraud that shares no
    # feature with the labelled kind looks normal to the trees and is vetoed (the limitation
    # docs/supervised.md states).
    vetoed = hidden_group_recalls(anomaly, inputs, labels, groups, rows, 0.05, 0)
    for o in vetoed:
        assert o.recall <= recall[(o.method, o.group)]
    assert min(o.recall for o in vetoed if o.method == "both") < 0.5
