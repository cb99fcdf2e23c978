"""The new-fraud protocol: hide one group of frauds from training, measure recall on it.

Labels cannot teach a classifier a kind of fraud nobody has labelled yet. To measure what
each detector does with such fraud, the frauds are grouped by k-means on their scaled
features; each group in turn is removed from the training and validation rows (it has not
happened yet), and recall is measured on that group's frauds in the test split, at the alert
budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from training.fitting.decision import probability_floor, rate_threshold, share_budget
from training.fitting.stage import fit_stage
from training.scoring.decision import DEFAULT_SHARE

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


@dataclass(frozen=True)
class HiddenRecall:
    """One method's recall on one hidden group's test frauds, for one seed."""

    method: str
    seed: int
    group: int
    recall: float
    hidden_in_test: int
    # The share of test transactions the method alerts on (weighted as the budget is).
    spend: float = float("nan")


def hidden_group_recalls(
    ae_score: np.ndarray,
    inputs: dict[str, np.ndarray],
    labels: np.ndarray,
    groups: np.ndarray,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    rate: float,
    seed: int,
    weigh: Callable[[np.ndarray], np.ndarray | None] = lambda labels: None,
    share: float = DEFAULT_SHARE,
    veto: bool = True,
) -> list[HiddenRecall]:
    """Hide each fraud group in turn; return each method's recall on it at the alert budget.

    Methods: `autoencoder` (its score, the whole budget), `supervised` (trees on
    `inputs["supervised"]`, the whole budget) and `both` (trees on `inputs["both"]` with the
    autoencoder, sharing the budget as `training.fitting.decision.share_budget` does, with the
    validation rows' fraud share as the stage's veto floor). The autoencoder learns from
    normal rows only, so hiding frauds does not change it. Each outcome also records the
    method's spend: the (weighted) share of test transactions it alerts on.

    Parameters:
        ae_score: the autoencoder's score of every row.
        inputs: every row's input matrix for the `supervised` and the `both` trees.
        labels, groups: every row's 0/1 label and fraud group (see `group_frauds`).
        rows: fit, validation and test row indices.
        rate: the alert budget, a share of transactions.
        seed: the trees' seed.
        weigh: row weights from labels for the budget (for example to a production
            prevalence); by default every row counts once.
        share: the supervised stage's share of the budget in `both`.
        veto: whether `both` has the stage's veto floor (False: either stage alerts alone).
    """
    fit, validation, test = rows
    outcomes = []
    for hidden in range(int(groups.max()) + 1):
        fit_rows = without_group(fit, groups, hidden)
        val_rows = without_group(validation, groups, hidden)
        weights = weigh(labels[val_rows])
        floor = probability_floor(labels[val_rows], veto)
        probability = {}
        for name in ("supervised", "both"):
            x = inputs[name]
            stage = fit_stage(x[fit_rows], labels[fit_rows], x[val_rows], labels[val_rows], seed)
            probability[name] = stage.probability_of_inputs(x)
        supervised = probability["supervised"]
        decision = share_budget(
            probability["both"][val_rows], ae_score[val_rows], rate, share, weights, floor
        )
        alerts = {
            "autoencoder": ae_score > rate_threshold(ae_score[val_rows], rate, weights),
            "supervised": supervised > rate_threshold(supervised[val_rows], rate, weights),
            "both": decision.alerts(probability["both"], ae_score),
        }
        count = int(np.sum(groups[test] == hidden))
        test_weights = weigh(labels[test])
        test_weights = np.ones(len(test)) if test_weights is None else test_weights
        for method, flags in alerts.items():
            recall = hidden_recall(flags[test], groups[test], hidden)
            spend = float(test_weights[flags[test]].sum() / test_weights.sum())
            outcomes.append(HiddenRecall(method, seed, hidden, recall, count, spend))
    return outcomes
