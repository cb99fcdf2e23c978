"""Synthetic card transactions with the ULB credit-card schema, for demos and tests.

Normal transactions lie near a smooth low-dimensional manifold, which a PCA turns into
decorrelated V1..V28 columns. Each column then gets the spread and the tails measured on real
ULB transactions (`SPREAD`, `KURTOSIS`): a small share of normal rows lies far out, column by
column as far as the column's kurtosis says, as real normal transactions spread far along the
principal components. Frauds are shifted from normal rows by the real fraud/normal shift
(`SHIFT`, in normal standard deviations), with a magnitude that varies from fraud to fraud; a
fifth of them are not shifted at all, so no detector can be perfect.

The targets come from `python bench/card_statistics.py --data ../shared/datasets/ulb-slice.csv`
(5,099 real ULB rows, 96 frauds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.scoring.errors import OptionError

V_COLUMNS = tuple(f"V{i}" for i in range(1, 29))
COLUMNS = ("Time", *V_COLUMNS, "Amount", "Class")
DEFAULT_FRAUD_RATE = 0.00173
TWO_DAYS_SECONDS = 172_792

# Measured on ulb-slice.csv by bench/card_statistics.py: normal rows' standard deviation and
# excess kurtosis of V1..V28, and the fraud/normal shift of each column's mean.
# fmt: off
SPREAD = (
    1.58, 1.24, 1.35, 1.43, 1.14, 1.32, 0.97, 1.20, 1.04, 1.09, 1.03, 0.88, 0.92, 0.97, 0.95,
    0.91, 1.06, 0.85, 0.85, 0.50, 0.85, 0.61, 0.36, 0.59, 0.41, 0.55, 0.36, 0.24
)
KURTOSIS = (
    7.50, 10.41, 22.23, 0.24, 7.85, 3.07, 29.21, 166.37, 2.45, 26.32, 6.52, 67.80, -0.22,
    84.41, 0.28, 23.01, 124.36, 3.33, 0.50, 26.46, 430.89, 28.36, 56.32, 0.53, 1.22, 0.34,
    109.36, 115.86
)
SHIFT = (
    -5.52, 4.29, -8.89, 4.05, -5.50, -1.84, -8.97, 3.25, -5.14, -6.89, 4.10, -7.14, -1.25,
    -10.55, 0.59, -7.01, -10.95, -5.04, 1.44, 0.75, 1.17, 0.03, -0.80, -0.12, 0.34, 0.30, 1.79,
    -0.40
)
# fmt: on

_LATENT, _HIDDEN = 6, 16
_NEAR_NORMAL_SHARE = 0.2
# The share of rows in a column's wide tail: small enough that the largest kurtosis target
# (431) is reachable, which needs a share under 1 / (431 + 3) * 3.
_TAIL_SHARE = 0.005


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
    latent = rng.normal(size=(rows, _LATENT))
    base = world.manifold(latent) + rng.normal(0, 0.15, (rows, len(V_COLUMNS)))
    is_fraud = np.arange(rows) >= rows - n_fraud
    v = _card_like(_principal_components(base, ~is_fraud), rng)
    v[is_fraud] += _fraud_shift(n_fraud, rng)
    amount = _amounts(latent[:, 0], is_fraud, rng)
    order = rng.permutation(rows)
    frame = pd.DataFrame(v[order], columns=list(V_COLUMNS))
    frame.insert(0, "Time", np.sort(rng.uniform(0, TWO_DAYS_SECONDS, rows)).round())
    frame["Amount"] = amount[order].round(2)
    frame["Class"] = is_fraud[order].astype(np.int8)
    return frame


class _World:
    """The hidden structure shared by all rows of one synthetic data set."""

    def __init__(self, rng: np.random.Generator):
        self.w1 = rng.normal(0, 1.0, (_LATENT, _HIDDEN))
        self.b1 = rng.normal(0, 0.5, _HIDDEN)
        self.w2 = rng.normal(0, 1.0, (_HIDDEN, len(V_COLUMNS))) / np.sqrt(_HIDDEN)

    def manifold(self, latent: np.ndarray) -> np.ndarray:
        return np.tanh(latent @ self.w1 + self.b1) @ self.w2


def _principal_components(v: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Project onto the normal rows' principal components, each with unit variance."""
    if not normal.any():
        return v - v.mean(axis=0)
    mean = v[normal].mean(axis=0)
    _, _, components = np.linalg.svd(v[normal] - mean, full_matrices=False)
    projected = (v - mean) @ components.T
    spread = projected[normal].std(axis=0)
    return projected / np.where(spread > 0, spread, 1.0)


def _card_like(unit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give unit-variance columns the target tails (a scale mixture) and spreads."""
    # The same rows are in the wide tail of every column: some transactions are unusual in
    # many ways at once. A mixture's kurtosis is the base column's times E[s^4] / E[s^2]^2.
    wide = rng.random(len(unit)) < _TAIL_SHARE
    base_kurtosis = _kurtosis(unit) if len(unit) > 3 else np.full(unit.shape[1], 3.0)
    out = np.empty_like(unit)
    for j, (target, spread) in enumerate(zip(KURTOSIS, SPREAD, strict=True)):
        wide_variance = tail_variance((target + 3.0) / max(base_kurtosis[j], 1.0), _TAIL_SHARE)
        scale = np.where(wide, np.sqrt(wide_variance), 1.0)
        mean_variance = 1.0 - _TAIL_SHARE + _TAIL_SHARE * wide_variance
        out[:, j] = unit[:, j] * scale * spread / np.sqrt(mean_variance)
    return out


def _kurtosis(columns: np.ndarray) -> np.ndarray:
    """Return each column's kurtosis, E[(x - mean)^4] / var^2 (3 for a normal distribution)."""
    centered = columns - columns.mean(axis=0)
    variance = np.square(centered).mean(axis=0)
    return np.power(centered, 4).mean(axis=0) / np.where(variance > 0, variance**2, 1.0)


def tail_variance(ratio: float, share: float) -> float:
    """Return the variance a of a scale mixture's wide part (share p; the rest variance 1).

    Solves E[s^4] / E[s^2]^2 = ratio, that is (1-p + p a^2) = ratio (1-p + p a)^2, for a >= 1;
    a ratio of 1 or less (no heavier tails than the base) gives 1.

    >>> a = tail_variance(50.0, 0.005)
    >>> round(float((0.995 + 0.005 * a**2) / (0.995 + 0.005 * a) ** 2), 6)
    50.0
    """
    if ratio <= 1.0:
        return 1.0
    p = share
    if ratio * p >= 1.0:
        raise ValueError(f"a tail share of {p} cannot reach a kurtosis ratio of {ratio}")
    a2, a1, a0 = p * (1 - ratio * p), -2 * ratio * p * (1 - p), (1 - p) * (1 - ratio * (1 - p))
    return max(1.0, float((-a1 + np.sqrt(a1 * a1 - 4 * a2 * a0)) / (2 * a2)))


def _fraud_shift(n: int, rng: np.random.Generator) -> np.ndarray:
    """Return each fraud's shift: SHIFT in spreads, by a magnitude that averages 1 over frauds."""
    shifted = rng.random(n) >= _NEAR_NORMAL_SHARE
    magnitude = rng.gamma(2.0, 0.5 / (1 - _NEAR_NORMAL_SHARE), n) * shifted
    direction = np.array(SHIFT) * np.array(SPREAD)
    wobble = 1.0 + 0.3 * rng.normal(size=(n, len(V_COLUMNS)))
    return magnitude[:, None] * direction * wobble


def _amounts(latent: np.ndarray, is_fraud: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Normal amounts are log-normal; many frauds are tiny test charges, the rest spread wider."""
    n = len(latent)
    normal = rng.lognormal(3.0 + 0.4 * latent, 1.3)
    tiny = rng.random(n) < 0.4
    fraud = np.where(tiny, rng.uniform(0.0, 2.0, n), rng.lognormal(4.0, 1.8, n))
    return np.where(is_fraud, fraud, normal)
