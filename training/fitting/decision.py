"""Choose the two-stage alert decision on validation rows: thresholds sharing one alert budget.

The two thresholds of `training.scoring.decision.Decision` share one alert budget, a share A
of transactions (`--threshold rate:A`): the supervised stage spends up to `share` of it on the
rows it is surest of, and the autoencoder spends the rest on the highest-scoring rows the
supervised stage did not alert on.
"""

from __future__ import annotations

import numpy as np

from training.scoring.decision import DEFAULT_SHARE, Decision


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


def probability_floor(validation_labels: np.ndarray, veto: bool) -> float:
    """Return the stage's veto floor: the validation split's fraud share, or 0 without a veto.

    The stage rules a row out when it is less likely fraud than a row it knows nothing about.

    >>> probability_floor(np.array([1, 0, 0, 0]), veto=True), probability_floor(np.ones(2), False)
    (0.25, 0.0)
    """
    return float(np.mean(validation_labels)) if veto else 0.0
