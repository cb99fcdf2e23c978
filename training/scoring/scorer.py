"""Score rows with both stages: the autoencoder, and the supervised stage when a bundle has one.

One definition shared by offline `score` and the consumer, so that they cannot disagree: the
autoencoder's per-feature contributions (their row sums are the score), the supervised
stage's fraud probability, the alert decision and what raised each alert: a stage, or a value
far outside the training ranges (`training.scoring.ranges`), which alerts whatever the stages
say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from training.scoring.decision import AUTOENCODER, Decision, raised, reasons
from training.scoring.detector import Detector, is_alert
from training.scoring.ranges import OUT_OF_RANGE, FeatureRanges
from training.scoring.stage import SupervisedStage


@dataclass(frozen=True)
class Scored:
    """One batch's scores: rows in the order given."""

    contributions: np.ndarray
    probability: np.ndarray | None
    # For each stage, which rows it raised: an alert's reasons are the stages that raised it
    # (and `out_of_range` for a row with a value far outside the training ranges).
    raised_by: dict[str, np.ndarray]
    # Which values of each row lie far outside their feature's training range (None: the
    # bundle records no ranges), and which rows overflowed and had their score capped.
    outside: np.ndarray | None = None
    overflow: np.ndarray | None = None

    @property
    def alerts(self) -> np.ndarray:
        """Return which rows alert: those any stage raised."""
        return raised(self.raised_by)

    @property
    def score(self) -> np.ndarray:
        """Return the autoencoder score of each row (the sum of its contributions)."""
        return self.contributions.sum(axis=1)

    @property
    def reasons(self) -> list[list[str]]:
        """Return, for each row, the stages that raised its alert (empty when it is quiet)."""
        return reasons(self.raised_by)

    def reasons_at(self, row: int) -> list[str]:
        """Return the stages that raised row `row`: one row's `reasons`, without the others'."""
        return [name for name, hits in self.raised_by.items() if hits[row]]

    def out_of_range_at(self, row: int, feature_names: tuple[str, ...]) -> list[str]:
        """Return the features whose values lie far outside their training range in row `row`."""
        if self.outside is None:
            return []
        return [feature_names[j] for j in np.flatnonzero(self.outside[row])]


@dataclass(frozen=True)
class Scorer:
    """The autoencoder, and optionally the supervised stage with the decision joining them."""

    detector: Detector
    stage: SupervisedStage | None = None
    decision: Decision | None = None
    # Where the rows the autoencoder learned from lay; None for bundles written before ranges.
    ranges: FeatureRanges | None = None

    def __post_init__(self) -> None:
        if (self.stage is None) != (self.decision is None):
            raise ValueError("a supervised stage and its decision come together")

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.detector.feature_names

    @property
    def threshold(self) -> float:
        """Return the autoencoder's threshold (the stage's own is in `decision`)."""
        return self.detector.threshold

    def score(self, features: np.ndarray) -> Scored:
        """Score a (rows, features) matrix of raw features in one vectorised pass per stage.

        A row scores bit for bit alike in a batch of any size (see `network.PRODUCT_ROWS`).
        """
        # One forward pass gives the score and, for a stage that reads them, its parts.
        outputs = self.detector.outputs(features)
        score = outputs.contributions.sum(axis=1)
        probability = None
        if self.stage is None or self.decision is None:
            raised_by = {AUTOENCODER: is_alert(score, self.detector.threshold)}
        else:
            probability = self.stage.probability(self.detector, features, outputs.parts)
            raised_by = self.decision.raised_by(probability, score)
        outside = None
        if self.ranges is not None:
            outside = self.ranges.outside(features)
            raised_by[OUT_OF_RANGE] = np.asarray(outside.any(axis=1))
        return Scored(outputs.contributions, probability, raised_by, outside, outputs.overflow)


def score_columns(scored: Scored, feature_names: tuple[str, ...]) -> dict[str, Any]:
    """Return the columns offline `score` writes: score, probability (with a stage), alert, and
    what raised each alert (`reasons`, stages joined by +) and the features far out of range.

    >>> s = Scored(np.array([[1.0, 2.0]]), np.array([0.25]),
    ...            {"supervised": np.array([True]), "out_of_range": np.array([True])},
    ...            np.array([[False, True]]))
    >>> for name, values in score_columns(s, ("a", "b")).items():
    ...     print(name, np.asarray(values).tolist())
    score [3.0]
    probability [0.25]
    alert [1]
    reasons ['supervised+out_of_range']
    out_of_range ['b']
    """
    columns: dict[str, Any] = {"score": scored.score}
    if scored.probability is not None:
        columns["probability"] = scored.probability
    rows = range(len(scored.contributions))
    return columns | {
        "alert": scored.alerts.astype(int),
        "reasons": ["+".join(scored.reasons_at(row)) for row in rows],
        "out_of_range": [" ".join(scored.out_of_range_at(row, feature_names)) for row in rows],
    }
