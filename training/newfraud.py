"""The new-fraud protocol: hide one group of frauds from training, measure recall on it.

Labels cannot teach a classifier a kind of fraud nobody has labelled yet. To measure what
each detector does with such fraud, the frauds are grouped by k-means on their scaled
features; each group in turn is removed from the training and validation rows (it has not
happened yet), and recall is measured on that group's frauds in the test split, at the alert
budget.
"""

from __future__ import annotations

import numpy as np

NORMAL = -1


def group_frauds(
    features: np.ndarray, labels: np.ndarray, groups: int = 3, seed: int = 0
) -> np.ndarray:
    """Return each row's fraud group (0..groups-1), or NORMAL (-1) for a normal row.

    k-means runs on each feature's rank among the frauds (scaled to (0, 1]), so that a few
    extreme frauds cannot form groups of their own, as they do on standardised values.

    >>> x = np.array([[0.0], [0.1], [5.0], [5.1], [2.0]])
    >>> g = group_frauds(x, np.array([1, 1, 1, 1, 0]), groups=2)
    >>> bool(g[0] == g[1] != g[2] == g[3]), int(g[4])
    (True, -1)
    """
    from scipy.stats import rankdata
    from sklearn.cluster import KMeans

    labels = np.asarray(labels).astype(bool)
    frauds = np.asarray(features, dtype=np.float64)[labels]
    if len(frauds) < groups:
        raise ValueError(f"{len(frauds)} frauds cannot form {groups} groups")
    ranks = rankdata(frauds, axis=0) / len(frauds)
    found = KMeans(n_clusters=groups, n_init=10, random_state=seed).fit_predict(ranks)
    out = np.full(len(labels), NORMAL)
    out[labels] = found
    return out


def without_group(rows: np.ndarray, groups: np.ndarray, hidden: int) -> np.ndarray:
    """Return `rows` less the frauds of the hidden group.

    >>> without_group(np.array([0, 1, 2, 3]), np.array([-1, 0, 1, 0]), 0).tolist()
    [0, 2]
    """
    return rows[groups[rows] != hidden]


def hidden_recall(alerts: np.ndarray, groups: np.ndarray, hidden: int) -> float:
    """Return the share of the hidden group's frauds that alert (nan when there are none).

    >>> hidden_recall(np.array([True, False, True]), np.array([0, 0, -1]), 0)
    0.5
    """
    members = np.asarray(groups) == hidden
    return float(np.asarray(alerts)[members].mean()) if members.any() else float("nan")
