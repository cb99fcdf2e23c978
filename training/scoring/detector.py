"""The autoencoder's score: one numpy definition shared by offline scoring and the consumer.

A network's score of a row is the sum over features of its weighted squared reconstruction
errors divided by `error_scale`, plus the normalised code distance and reconstruction distance
when the network has them; the detector's score is the mean over its networks. One forward pass
(`score_outputs`) gives every output the product uses: each feature's share of the score, the
score's three parts and, for a supervised stage that reads them, the signed residuals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from training.scoring.network import Network, squared_errors
from training.scoring.scaling import Scaler


@dataclass(frozen=True)
class ScoreOutputs:
    """One forward pass's outputs, each averaged over the networks.

    `contributions`: each feature's share of the score, shape (rows, features); rows sum to the
    scores. `parts` columns: reconstruction error, code distance, reconstruction distance (0 for
    a part the networks lack). `residuals`, when asked for: each feature's signed residual in
    units of its share of the error, `(scaled - reconstruction) * sqrt(weight / error_scale)`.
    """

    contributions: np.ndarray
    parts: np.ndarray
    residuals: np.ndarray | None = None


class ForwardPass(Protocol):
    """Anything that runs the autoencoder's forward pass: a Detector, or networks being fitted."""

    def outputs(self, features: np.ndarray, residuals: bool = False) -> ScoreOutputs: ...


@dataclass(frozen=True)
class Detector:
    """Scale raw features, run each network and score the rows.

    A row alerts when its score is strictly above `threshold`, or when it is not a number
    because the input overflowed.
    """

    feature_names: tuple[str, ...]
    scaler: Scaler
    networks: tuple[Network, ...]
    feature_weights: np.ndarray
    threshold: float

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """Return each feature's share of the score, shape (rows, features); rows sum to scores.

        A feature's share is its reconstruction error, its part of the reconstruction distance,
        and a part of the code distance in proportion to how far the feature lies from its
        training center (its squared scaled value): an explanation an analyst can read, not a
        causal attribution.
        """
        return self.outputs(features).contributions

    def outputs(self, features: np.ndarray, residuals: bool = False) -> ScoreOutputs:
        """Return the contributions, the score's parts and (if asked) the residuals in one pass."""
        return score_outputs(self.scaler, self.networks, self.feature_weights, features, residuals)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Return one anomaly score per row of a raw (unscaled) feature matrix."""
        return self.contributions(features).sum(axis=1)

    def alerts(self, scores: np.ndarray) -> np.ndarray:
        """Return a boolean array: which scores are above the threshold or not a number.

        >>> detector = Detector(("a",), None, (), np.ones(1), threshold=2.0)
        >>> detector.alerts(np.array([1.0, 2.0, 3.0, np.inf, np.nan])).tolist()
        [False, False, True, True, True]
        """
        return is_alert(scores, self.threshold)


def score_outputs(
    scaler: Scaler,
    networks: tuple[Network, ...],
    feature_weights: np.ndarray,
    features: np.ndarray,
    residuals: bool = False,
) -> ScoreOutputs:
    """Return what one forward pass of every network gives (see `ScoreOutputs`).

    Parameters:
        scaler, networks, feature_weights: the detector's parts, before it has a threshold.
        features: raw rows, shape (rows, features).
        residuals: also return the signed residuals (a supervised stage may read them).
    """
    # Absurd inputs (a V column of 1e160) overflow to inf or nan; `is_alert` flags those.
    # A logged column (Amount) stays finite: log1p(1e160) is about 368.
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = scaler.transform(features)
        total = np.zeros_like(scaled)
        parts = np.zeros((len(scaled), 3))
        signed = np.zeros_like(scaled) if residuals else None
        for network in networks:
            code, reconstruction = network.forward(scaled)
            errors = squared_errors(scaled, reconstruction, feature_weights)
            total += errors / network.error_scale
            parts[:, 0] += errors.sum(axis=1) / network.error_scale
            if network.distance is not None:
                distance = network.distance(code)
                total += distance[:, None] * _deviation_share(scaled)
                parts[:, 1] += distance
            if network.spread is not None:
                spread = network.spread(reconstruction)
                total += spread
                parts[:, 2] += spread.sum(axis=1)
            if signed is not None:
                signed += (scaled - reconstruction) * np.sqrt(feature_weights / network.error_scale)
        count = len(networks)
        return ScoreOutputs(
            total / count, parts / count, None if signed is None else signed / count
        )


def is_alert(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Return the alert rule shared by offline scoring and the consumer: score > threshold or nan.

    >>> is_alert(np.array([1.0, 2.0, np.nan]), 1.5).tolist()
    [False, True, True]
    """
    return ~(np.asarray(scores) <= threshold)


def _deviation_share(scaled: np.ndarray) -> np.ndarray:
    """Return each feature's share of a row's squared deviation from the center; rows sum to 1."""
    peak = np.abs(scaled).max(axis=1, keepdims=True)
    # Divide by the row's largest value first, so that huge rows cannot overflow to inf / inf.
    unit = np.divide(scaled, peak, out=np.ones_like(scaled), where=peak > 0)
    deviation = np.square(unit)
    return deviation / deviation.sum(axis=1, keepdims=True)


def top_contributors(
    contributions: np.ndarray, feature_names: tuple[str, ...], k: int = 3
) -> list[list[tuple[str, float]]]:
    """Return, for each row, the k features with the largest share of its score, largest first.

    >>> top_contributors(np.array([[0.1, 3.0, 1.0]]), ("a", "b", "c"), k=2)
    [[('b', 3.0), ('c', 1.0)]]
    """
    k = min(k, contributions.shape[1])
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
    return [
        [(feature_names[j], float(row[j])) for j in idx]
        for row, idx in zip(contributions, order, strict=True)
    ]
