"""One alert decision from two stages: the fraud probability and the autoencoder score.

A row alerts when its probability is above the stage's threshold, or when its autoencoder
score is above its own (or is not a number) and the supervised stage does not rule the row
out: its probability is at least the stage's floor, the share of frauds in the validation
rows (what the stage would say of a row it knows nothing about). The two thresholds share one
alert budget, a share A of transactions (`--threshold rate:A`): the supervised stage spends up
to `share` of it on the rows it is surest of, and the autoencoder spends the rest on the
highest-scoring rows the supervised stage did not alert on. Both thresholds are chosen on the
validation split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from training.scoring import is_alert

SUPERVISED = "supervised"
AUTOENCODER = "autoencoder"
# Nine tenths of the budget to the supervised stage, the rest to the autoencoder: of the shares
# measured in bench/supervised_choice.py, the best on all three counts (docs/supervised.md).
DEFAULT_SHARE = 0.9
# `Decision.combined` puts quiet rows in [0, 1/3] and alerting rows in [2/3, 1]: a row alerts
# exactly when its combined score is above this cut.
COMBINED_CUT = 0.5


@dataclass(frozen=True)
class Decision:
    """The two thresholds of the combined alert decision, and the stage's veto floor."""

    probability_threshold: float
    score_threshold: float
    share: float = DEFAULT_SHARE
    # 0 vetoes nothing (probabilities are never negative): bundles written before the floor.
    probability_floor: float = 0.0

    def alerts(self, probability: np.ndarray, score: np.ndarray) -> np.ndarray:
        """Return which rows alert: probability above its threshold, or the autoencoder's alert.

        >>> d = Decision(0.5, 3.0, probability_floor=0.05)
        >>> d.alerts(np.array([0.9, 0.1, 0.01, 0.1, 0.01]), np.array([1, 4, 4, 2, np.nan]))
        array([ True,  True, False, False,  True])
        """
        return raised(self.raised_by(probability, score))

    def reasons(self, probability: np.ndarray, score: np.ndarray) -> list[list[str]]:
        """Return, for each row, the stages that raised its alert (empty when it does not alert).

        >>> Decision(0.5, 3.0).reasons(np.array([0.9, 0.9, 0.1]), np.array([1.0, 4.0, 2.0]))
        [['supervised'], ['supervised', 'autoencoder'], []]
        """
        return reasons(self.raised_by(probability, score))

    def raised_by(self, probability: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
        """Return, for each stage, which rows it raises an alert on (a row may have both).

        >>> {k: v.tolist() for k, v in Decision(0.5, 3.0).raised_by(
        ...     np.array([0.9, 0.1]), np.array([4.0, 4.0])).items()}
        {'supervised': [True, False], 'autoencoder': [True, True]}
        """
        return {
            SUPERVISED: self._by_trees(probability),
            AUTOENCODER: self._by_score(probability, score),
        }

    def combined(self, probability: np.ndarray, score: np.ndarray) -> np.ndarray:
        """Return one ranking score in [0, 1] that is above `COMBINED_CUT` exactly where rows alert.

        Alerting rows rank above every quiet row, and within each of the two groups rows rank
        by their fraud probability: `(2 + p) / 3` for an alert, `p / 3` for a quiet row. Rows
        only the autoencoder flags therefore rank below every supervised alert (their
        probability is at most its threshold) and, among themselves, by the stage's
        probability, which the autoencoder's veto floor keeps above the base rate.

        >>> d = Decision(0.5, 4.0, probability_floor=0.05)
        >>> d.combined(np.array([0.9, 0.3, 0.3, 0.01]), np.array([0.0, 8.0, 2.0, 8.0])).round(3)
        array([0.967, 0.767, 0.1  , 0.003])
        """
        probability = np.asarray(probability, dtype=np.float64)
        alerts = self.alerts(probability, score)
        return np.where(alerts, 2.0 + probability, probability) / 3.0

    def _by_trees(self, probability: np.ndarray) -> np.ndarray:
        return np.asarray(probability) > self.probability_threshold

    def _by_score(self, probability: np.ndarray, score: np.ndarray) -> np.ndarray:
        # A score that is not a number (overflowed input) alerts whatever the trees say.
        score = np.asarray(score, dtype=np.float64)
        kept = np.asarray(probability) >= self.probability_floor
        return is_alert(score, self.score_threshold) & (kept | np.isnan(score))

    def to_dict(self) -> dict[str, Any]:
        return {
            "probability_threshold": self.probability_threshold,
            "score_threshold": self.score_threshold,
            "share": self.share,
            "probability_floor": self.probability_floor,
        }


def rate_threshold(values: np.ndarray, rate: float, weights: np.ndarray | None = None) -> float:
    """Return the threshold that alerts (value > threshold) on at most a weighted share `rate`.

    `weights` re-weight rows (for example to a production prevalence); None counts every row
    once. Ties are kept together, so the share reached may be below `rate`.

    >>> rate_threshold(np.array([5.0, 4.0, 3.0, 2.0]), 0.5)
    3.0
    >>> rate_threshold(np.array([5.0, 4.0, 3.0, 2.0]), 0.5, np.array([1.0, 3.0, 1.0, 1.0]))
    4.0
    """
    values = np.asarray(values, dtype=np.float64)
    weights = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(-values, kind="stable")
    ranked = values[order]
    spent = np.cumsum(weights[order]) / weights.sum()
    # A cut after position i alerts on ranked[: i + 1]; allowed where the spend fits the
    # budget and the next value is strictly lower (ties go together).
    fits = (spent <= rate * (1 + 1e-12)) & np.append(ranked[1:] < ranked[:-1], True)
    allowed = np.flatnonzero(fits)
    if allowed.size == 0:
        return float(np.nextafter(ranked[0], np.inf))
    cut = int(allowed[-1])
    if cut + 1 < len(ranked):
        return float(ranked[cut + 1])
    return float(np.nextafter(ranked[cut], -np.inf))


def share_budget(
    probability: np.ndarray,
    score: np.ndarray,
    rate: float,
    share: float = DEFAULT_SHARE,
    weights: np.ndarray | None = None,
    probability_floor: float = 0.0,
) -> Decision:
    """Choose both thresholds on validation rows so that together they alert on a share `rate`.

    The supervised stage takes up to `share * rate`; the autoencoder then takes what is left
    of `rate`, counted over all rows, from the rows the supervised stage did not alert on.
    Rows below `probability_floor` that the autoencoder would flag are vetoed afterwards, so
    the decision spends at most `rate`.

    >>> d = share_budget(np.array([.9, .8, .1, .1]), np.array([1., 1., 5., 4.]), 0.5, 0.5)
    >>> d.probability_threshold, d.score_threshold
    (0.8, 4.0)
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"the supervised share of the budget must be in [0, 1], got {share}")
    probability = np.asarray(probability, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    weights = np.ones(len(score)) if weights is None else np.asarray(weights, dtype=np.float64)
    t_p = rate_threshold(probability, share * rate, weights)
    taken = probability > t_p
    spent = float(weights[taken].sum() / weights.sum())
    rest = ~taken
    left = max(rate - spent, 0.0) * weights.sum() / weights[rest].sum() if rest.any() else 0.0
    if rest.any():
        t_s = rate_threshold(score[rest], left, weights[rest])
    else:
        t_s = float(np.nextafter(score.max(), np.inf))
    return Decision(t_p, t_s, share, probability_floor)


def prevalence_weights(labels: np.ndarray, prevalence: float) -> np.ndarray:
    """Return row weights under which frauds make up `prevalence` of the total weight.

    Frauds weigh 1 and normal rows what makes the share right, so a budget or a precision
    computed with these weights is what a sample at that prevalence would show.

    >>> prevalence_weights(np.array([1, 0, 0]), 0.2).tolist()
    [1.0, 2.0, 2.0]
    """
    labels = np.asarray(labels)
    frauds = float(labels.sum())
    normals = float(len(labels) - frauds)
    if frauds == 0 or normals == 0 or not 0 < prevalence < 1:
        return np.ones(len(labels))
    return np.where(labels == 1, 1.0, frauds * (1 - prevalence) / (prevalence * normals))


def reasons(raised_by: dict[str, np.ndarray]) -> list[list[str]]:
    """Return, for each row, the names of the stages that raised it (see `Decision.raised_by`).

    >>> reasons({"supervised": np.array([True, False]), "autoencoder": np.array([True, False])})
    [['supervised', 'autoencoder'], []]
    """
    rows = zip(*(hits.tolist() for hits in raised_by.values()), strict=True)
    return [[n for n, hit in zip(raised_by, row, strict=True) if hit] for row in rows]


def raised(raised_by: dict[str, np.ndarray]) -> np.ndarray:
    """Return which rows alert: those any stage raised (see `Decision.raised_by`).

    >>> raised({"supervised": np.array([True, False]), "autoencoder": np.array([False, False])})
    array([ True, False])
    """
    return np.logical_or.reduce(list(raised_by.values()))


def probability_floor(validation_labels: np.ndarray, veto: bool) -> float:
    """Return the stage's veto floor: the validation split's fraud share, or 0 without a veto.

    The stage rules a row out when it is less likely fraud than a row it knows nothing about.

    >>> probability_floor(np.array([1, 0, 0, 0]), veto=True), probability_floor(np.ones(2), False)
    (0.25, 0.0)
    """
    return float(np.mean(validation_labels)) if veto else 0.0
