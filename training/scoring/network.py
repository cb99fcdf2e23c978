"""An autoencoder as numpy: dense layers, the forward pass, and where training rows' codes lie.

Nothing here imports TensorFlow. A trained Keras autoencoder is exported as its dense layers
(kernel, bias, activation), and `Network.forward` reproduces `model.predict`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


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
        """Return the reconstruction of scaled rows."""
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
