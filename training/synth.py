"""Synthetic card transactions with the ULB credit-card schema, for demos and tests.

Normal transactions lie near a smooth low-dimensional manifold, which a PCA then turns into
decorrelated V1..V28 columns ordered by variance, as in the real data. Most frauds sit off that
manifold along a few characteristic directions with heavier-tailed amounts; a fifth of them are
close to normal, so no detector can be perfect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.errors import OptionError

V_COLUMNS = tuple(f"V{i}" for i in range(1, 29))
COLUMNS = ("Time", *V_COLUMNS, "Amount", "Class")
DEFAULT_FRAUD_RATE = 0.00173
TWO_DAYS_SECONDS = 172_792
_LATENT, _HIDDEN = 6, 16
_NEAR_NORMAL_SHARE = 0.2


def synthesize(rows: int, fraud_rate: float = DEFAULT_FRAUD_RATE, seed: int = 0) -> pd.DataFrame:
    """Return `rows` transactions in time order with columns Time, V1..V28, Amount, Class.

    >>> frame = synthesize(1000, fraud_rate=0.01, seed=1)
    >>> list(frame.columns[:2]), int(frame["Class"].sum()), frame["Time"].is_monotonic_increasing
    (['Time', 'V1'], 10, True)
    """
    if rows < 1:
        raise OptionError(f"--rows must be at least 1, got {rows}")
    if not 0.0 <= fraud_rate < 1.0:
        raise OptionError(f"--fraud-rate must be in [0, 1), got {fraud_rate}")
    rng = np.random.default_rng(seed)
    world = _World(rng)
    n_fraud = int(round(rows * fraud_rate))
    normal_v, normal_amount = world.normal(rows - n_fraud, rng)
    fraud_v, fraud_amount = world.fraud(n_fraud, rng)
    v = np.vstack([normal_v, fraud_v])
    amount = np.concatenate([normal_amount, fraud_amount])
    labels = np.concatenate([np.zeros(rows - n_fraud, np.int8), np.ones(n_fraud, np.int8)])
    v = world.to_principal_components(v, normal_v)
    order = rng.permutation(rows)
    frame = pd.DataFrame(v[order], columns=list(V_COLUMNS))
    frame.insert(0, "Time", np.sort(rng.uniform(0, TWO_DAYS_SECONDS, rows)).round())
    frame["Amount"] = amount[order].round(2)
    frame["Class"] = labels[order]
    return frame


class _World:
    """The hidden structure shared by all rows of one synthetic data set."""

    def __init__(self, rng: np.random.Generator):
        self.w1 = rng.normal(0, 1.0, (_LATENT, _HIDDEN))
        self.b1 = rng.normal(0, 0.5, _HIDDEN)
        self.w2 = rng.normal(0, 1.0, (_HIDDEN, len(V_COLUMNS))) / np.sqrt(_HIDDEN)
        # Frauds drift along a few directions, as real ones do on a handful of V columns.
        self.fraud_directions = rng.normal(0, 1.0, (3, len(V_COLUMNS)))
        self.fraud_directions /= np.linalg.norm(self.fraud_directions, axis=1, keepdims=True)

    def manifold(self, latent: np.ndarray) -> np.ndarray:
        return np.tanh(latent @ self.w1 + self.b1) @ self.w2

    def normal(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        latent = rng.normal(size=(n, _LATENT))
        v = self.manifold(latent) + rng.normal(0, 0.15, (n, len(V_COLUMNS)))
        amount = rng.lognormal(3.0 + 0.4 * latent[:, 0], 1.1)
        return v, amount

    def fraud(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        latent = rng.normal(size=(n, _LATENT))
        v = self.manifold(latent) + rng.normal(0, 0.15, (n, len(V_COLUMNS)))
        near = rng.random(n) < _NEAR_NORMAL_SHARE
        direction = self.fraud_directions[rng.integers(0, len(self.fraud_directions), n)]
        direction = direction + rng.normal(0, 0.35, direction.shape)
        magnitude = rng.gamma(2.0, 0.6, n)
        v += np.where(near[:, None], 0.0, magnitude[:, None] * direction)
        v += np.where(near[:, None], rng.normal(0, 0.15, v.shape), 0.0)
        tiny = rng.random(n) < 0.4
        amount = np.where(tiny, rng.uniform(0.0, 2.0, n), rng.lognormal(4.0, 1.8, n))
        amount = np.where(near, rng.lognormal(3.0, 1.1, n), amount)
        return v, amount

    @staticmethod
    def to_principal_components(v: np.ndarray, normal_v: np.ndarray) -> np.ndarray:
        mean = normal_v.mean(axis=0)
        _, _, components = np.linalg.svd(normal_v - mean, full_matrices=False)
        return (v - mean) @ components.T
