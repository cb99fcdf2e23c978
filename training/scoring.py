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
class Network:
    """An autoencoder as a stack of dense layers, with the size of its typical error.

    `error_scale` is the median reconstruction error of the network on its training rows, fixed
    at training time: dividing by it puts every network's scores in the same unit ("times a
    typical training error") without looking at other rows at scoring time.
    """

    layers: tuple[Dense, ...]
    error_scale: float

    def reconstruct(self, scaled: np.ndarray) -> np.ndarray:
        out = scaled
        for layer in self.layers:
            out = layer(out)
        return out


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
    """Scale raw features, reconstruct them with each network and score the rows.

    The score of a row is the sum over features of its weighted squared reconstruction errors,
    divided by the network's `error_scale` and averaged over the networks. A row alerts when
    its score is strictly above `threshold`.
    """

    feature_names: tuple[str, ...]
    scaler: Scaler
    networks: tuple[Network, ...]
    feature_weights: np.ndarray
    threshold: float

    def feature_errors(self, features: np.ndarray) -> np.ndarray:
        """Return each feature's share of the score, shape (rows, features); rows sum to scores."""
        scaled = self.scaler.transform(features)
        total = np.zeros_like(scaled)
        for network in self.networks:
            errors = squared_errors(scaled, network.reconstruct(scaled), self.feature_weights)
            total += errors / network.error_scale
        return total / len(self.networks)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Return one anomaly score per row of a raw (unscaled) feature matrix."""
        return self.feature_errors(features).sum(axis=1)

    def alerts(self, scores: np.ndarray) -> np.ndarray:
        """Return a boolean array: which scores are above the threshold."""
        return np.asarray(scores) > self.threshold


def top_contributors(
    feature_errors: np.ndarray, feature_names: tuple[str, ...], k: int = 3
) -> list[list[tuple[str, float]]]:
    """Return, for each row, the k features with the largest share of its score, largest first.

    >>> top_contributors(np.array([[0.1, 3.0, 1.0]]), ("a", "b", "c"), k=2)
    [[('b', 3.0), ('c', 1.0)]]
    """
    k = min(k, feature_errors.shape[1])
    order = np.argsort(-feature_errors, axis=1, kind="stable")[:, :k]
    return [
        [(feature_names[j], float(row[j])) for j in idx]
        for row, idx in zip(feature_errors, order, strict=True)
    ]
