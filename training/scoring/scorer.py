"""Score rows with both stages: the autoencoder, and the supervised stage when a bundle has one.

One definition shared by offline `score` and the consumer, so that they cannot disagree: the
autoencoder's per-feature contributions (their row sums are the score), the supervised
stage's fraud probability, the alert decision and the stages that raised each alert.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.scoring.decision import AUTOENCODER, Decision, raised, reasons
from training.scoring.detector import Detector, is_alert
from training.scoring.stage import SupervisedStage


@dataclass(frozen=True)
class Scored:
    """One batch's scores: rows in the order given."""

    contributions: np.ndarray
    probability: np.ndarray | None
    # For each stage, which rows it raised: an alert's reasons are the stages that raised it.
    raised_by: dict[str, np.ndarray]

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


@dataclass(frozen=True)
class Scorer:
    """The autoencoder, and optionally the supervised stage with the decision joining them."""

    detector: Detector
    stage: SupervisedStage | None = None
    decision: Decision | None = None

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

        A lone row is scored as a pair and the copy dropped: numpy multiplies one row by a
        matrix with another BLAS routine (gemv), which rounds differently in the last bit;
        offline scoring and every larger batch use gemm, so every row scores bit for bit alike.
        """
        if len(features) == 1:
            pair = self.score(np.repeat(features, 2, axis=0))
            probability = None if pair.probability is None else pair.probability[:1]
            raised_by = {name: hits[:1] for name, hits in pair.raised_by.items()}
            return Scored(pair.contributions[:1], probability, raised_by)
        if self.stage is None or self.decision is None:
            contributions = self.detector.contributions(features)
            alerts = is_alert(contributions.sum(axis=1), self.detector.threshold)
            return Scored(contributions, None, {AUTOENCODER: alerts})
        # One forward pass gives the score and, for a stage that reads them, its parts.
        outputs = self.detector.outputs(features)
        contributions = outputs.contributions
        score = contributions.sum(axis=1)
        probability = self.stage.probability(self.detector, features, outputs.parts)
        return Scored(contributions, probability, self.decision.raised_by(probability, score))


def score_columns(scored: Scored) -> dict[str, np.ndarray]:
    """Return the columns offline `score` writes: score, probability (with a stage), alert.

    >>> s = Scored(np.array([[1.0, 2.0]]), np.array([0.25]), {"supervised": np.array([True])})
    >>> {k: v.tolist() for k, v in score_columns(s).items()}
    {'score': [3.0], 'probability': [0.25], 'alert': [1]}
    """
    columns = {"score": scored.score}
    if scored.probability is not None:
        columns["probability"] = scored.probability
    return columns | {"alert": scored.alerts.astype(int)}
