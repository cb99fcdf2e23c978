"""The anomaly score: one numpy definition shared by offline scoring and the streaming consumer.

Nothing here imports TensorFlow. A trained Keras autoencoder is exported as its dense layers
(kernel, bias, activation), and the forward pass below reproduces `model.predict`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from training.scaling import Scaler


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "tanh": np.tanh,
    "elu": _elu,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
}


@dataclass(frozen=True)
class Dense:
    """One fully connected layer: activation(x @ kernel + bias)."""

    kernel: np.ndarray
    bias: np.ndarray
    activation: str

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ACTIVATIONS[self.activation](x @ self.kernel + self.bias)


@dataclass(frozen=True)
class CodeDistance:
    """Where training rows' codes lie: a center and a precision (inverse covariance) matrix.

    The squared Mahalanobis distance of a row's code from the center catches rows that the
    autoencoder reconstructs well but that lie far out along the directions it models, as the
    Hotelling T-squared statistic complements the reconstruction error in PCA monitoring.
    """

    center: np.ndarray
    precision: np.ndarray
    scale: float

    def __call__(self, code: np.ndarray) -> np.ndarray:
        centered = code - self.center
        return np.einsum("ij,jk,ik->i", centered, self.precision, centered) / self.scale


@dataclass(frozen=True)
class ReconstructionDistance:
    """Where training rows' reconstructions lie: their mean, in scaled input units.

    The squared distance of a row's reconstruction from that mean measures how far the row
    lies along the directions the autoencoder models, in the units of the input. The code
    distance measures the same position in the code's own units, which discount the widest
    directions; a row far out along one of those still scores here.
    """

    center: np.ndarray
    scale: float

    def __call__(self, reconstruction: np.ndarray) -> np.ndarray:
        """Return each feature's part of the distance, shape (rows, features).

        >>> ReconstructionDistance(np.array([1.0, 0.0]), 2.0)(np.array([[3.0, 1.0]])).tolist()
        [[2.0, 0.5]]
        """
        return np.square(reconstruction - self.center) / self.scale


@dataclass(frozen=True)
class Network:
    """An autoencoder as a stack of dense layers, with the constants that normalise its score.

    `code_layer` is the index of the bottleneck layer. `error_scale` is a high quantile of the
    reconstruction error on validation rows, fixed at training time: dividing by it puts every
    network's errors in one unit without looking at other rows at scoring time. `distance` and
    `spread`, when present, add the code distance and the reconstruction distance, normalised
    the same way, to the score.
    """

    layers: tuple[Dense, ...]
    error_scale: float
    code_layer: int = 0
    distance: CodeDistance | None = None
    spread: ReconstructionDistance | None = None

    def reconstruct(self, scaled: np.ndarray) -> np.ndarray:
        return self.forward(scaled)[1]

    def forward(self, scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (code, reconstruction) of scaled rows."""
        out, code = scaled, scaled
        for i, layer in enumerate(self.layers):
            out = layer(out)
            if i == self.code_layer:
                code = out
        return code, out


def squared_errors(
    scaled: np.ndarray, reconstruction: np.ndarray, feature_weights: np.ndarray
) -> np.ndarray:
    """Return the per-feature weighted squared reconstruction errors, shape (rows, features).

    >>> squared_errors(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]), np.array([1.0, 0.5]))
    array([[1., 2.]])
    """
    return feature_weights * np.square(scaled - reconstruction)


@dataclass(frozen=True)
class Detector:
    """Scale raw features, run each network and score the rows.

    A network's score of a row is the sum over features of its weighted squared reconstruction
    errors divided by `error_scale`, plus the normalised code distance and reconstruction
    distance when the network has them; the detector's score is the mean over its networks.
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

        See `score_contributions`.
        """
        return score_contributions(self.scaler, self.networks, self.feature_weights, features)

    def outputs(self, features: np.ndarray) -> ScoreOutputs:
        """Return the contributions and the score's three parts from one forward pass.

        See `score_outputs`.
        """
        return score_outputs(self.scaler, self.networks, self.feature_weights, features)

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


def score_contributions(
    scaler: Scaler,
    networks: tuple[Network, ...],
    feature_weights: np.ndarray,
    features: np.ndarray,
) -> np.ndarray:
    """Return each feature's share of the score, shape (rows, features); rows sum to scores.

    A feature's share is its reconstruction error, its part of the reconstruction distance,
    and a part of the code distance in proportion to how far the feature lies from its
    training center (its squared scaled value): an explanation an analyst can read, not a
    causal attribution.
    """
    return _forward(scaler, networks, feature_weights, features, with_parts=False).contributions


@dataclass(frozen=True)
class ScoreOutputs:
    """One forward pass's outputs: per-feature contributions and the score's three parts.

    `parts` columns: reconstruction error, code distance, reconstruction distance (0 for a
    part the networks lack), each averaged over the networks.
    """

    contributions: np.ndarray
    parts: np.ndarray


def score_outputs(
    scaler: Scaler,
    networks: tuple[Network, ...],
    feature_weights: np.ndarray,
    features: np.ndarray,
) -> ScoreOutputs:
    """Return the contributions (see `score_contributions`) and the score's parts, in one pass.

    The supervised stage may take the parts as inputs; computing both from one forward pass
    saves the consumer a second one, with the same numbers as computing each on its own.
    """
    return _forward(scaler, networks, feature_weights, features, with_parts=True)


def _forward(
    scaler: Scaler,
    networks: tuple[Network, ...],
    feature_weights: np.ndarray,
    features: np.ndarray,
    with_parts: bool,
) -> ScoreOutputs:
    # Absurd inputs (a V column of 1e160) overflow to inf or nan; `is_alert` flags those.
    # A logged column (Amount) stays finite: log1p(1e160) is about 368.
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = scaler.transform(features)
        total = np.zeros_like(scaled)
        parts = np.zeros((len(scaled), 3))
        for network in networks:
            code, reconstruction = network.forward(scaled)
            errors = squared_errors(scaled, reconstruction, feature_weights)
            total += errors / network.error_scale
            if with_parts:
                parts[:, 0] += errors.sum(axis=1) / network.error_scale
            if network.distance is not None:
                distance = network.distance(code)
                total += distance[:, None] * _deviation_share(scaled)
                parts[:, 1] += distance
            if network.spread is not None:
                spread = network.spread(reconstruction)
                total += spread
                if with_parts:
                    parts[:, 2] += spread.sum(axis=1)
        count = len(networks)
        return ScoreOutputs(total / count, parts / count)


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
