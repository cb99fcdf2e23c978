"""One alert decision from two stages: the fraud probability and the autoencoder score.

A row alerts when its probability is above the stage's threshold, or when its autoencoder
score is above its own (or is not a number) and the supervised stage does not rule the row
out: its probability is at least the stage's floor, the share of frauds in the validation
rows (what the stage would say of a row it knows nothing about). How the thresholds are
chosen, sharing one alert budget, is `training.fitting.decision`'s business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.scoring.detector import is_alert

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

    @classmethod
    def from_dict(cls, entry: Any, score_threshold: float) -> Decision:
        """Read a bundle's decision entry, which must agree with the autoencoder's threshold.

        Raises:
            ValueError: what is wrong with the entry, in one sentence.

        >>> Decision.from_dict({"probability_threshold": 0.5, "score_threshold": 3.0,
        ...                     "share": 0.9}, 3.0)
        Decision(probability_threshold=0.5, score_threshold=3.0, share=0.9, probability_floor=0.0)
        """
        if not isinstance(entry, dict):
            raise ValueError("the stage needs a 'decision' object with two thresholds")
        values = [entry.get(k) for k in ("probability_threshold", "score_threshold", "share")]
        if not all(_is_number(v) for v in values):
            raise ValueError("decision thresholds and share must be numbers")
        p, s, share = (float(v) for v in values)  # type: ignore[arg-type]
        # A probability threshold of 1 or more is allowed: the stage then never alerts alone.
        if not (math.isfinite(p) and p >= 0 and 0 <= share <= 1):
            raise ValueError("decision probability_threshold or share is out of range")
        if s != score_threshold:
            raise ValueError("decision score_threshold differs from threshold.value")
        # Bundles written before the veto floor have none: 0 vetoes nothing.
        floor = entry.get("probability_floor", 0.0)
        if not _is_number(floor):
            raise ValueError("decision probability_floor must be a number")
        if not 0 <= floor <= 1:
            raise ValueError("decision probability_floor must be in [0, 1]")
        return cls(p, s, share, float(floor))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
