"""How far a transaction lies outside what the model learned from: each feature's training range.

The autoencoder and the trees extrapolate: past the last value they saw, the trees answer flat
and a logged amount barely moves the score. A value far outside the range of the rows the
autoencoder learned from is therefore an alert of its own, whatever the models say, and its
reason names the feature. "Far" is more than `margin` times the range's width beyond either
end; docs/results.md gives how often that flags normal and fraudulent rows (measured by
`bench/range_margin.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

OUT_OF_RANGE = "out_of_range"
MARGIN = 0.5


@dataclass(frozen=True)
class FeatureRanges:
    """Each feature's lowest and highest value in the rows the autoencoder learned from."""

    low: np.ndarray
    high: np.ndarray
    margin: float = MARGIN

    def outside(self, features: np.ndarray) -> np.ndarray:
        """Return which values lie far outside their feature's range, shape (rows, features).

        A feature that took one value in training counts a width of one unit around it.

        >>> ranges = FeatureRanges(np.array([0.0, 5.0]), np.array([10.0, 5.0]))
        >>> ranges.outside(np.array([[14.0, 5.4], [16.0, 6.0], [-6.0, 5.0]])).tolist()
        [[False, False], [True, True], [True, False]]
        """
        width = np.where(self.high > self.low, self.high - self.low, 1.0)
        with np.errstate(invalid="ignore"):
            return (features < self.low - self.margin * width) | (
                features > self.high + self.margin * width
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the manifest entry."""
        return {
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "margin": self.margin,
            "rows": "the rows the autoencoder learned from (fit and validation)",
        }

    @classmethod
    def from_dict(cls, entry: Any, n_features: int) -> FeatureRanges:
        """Read and check a manifest entry.

        Raises:
            ValueError: what is wrong with the entry, in one sentence.
        """
        if not isinstance(entry, dict):
            raise ValueError("must be an object with low, high and margin")
        bounds = [entry.get("low"), entry.get("high")]
        if not all(isinstance(b, list) and len(b) == n_features for b in bounds):
            raise ValueError(f"low and high must be lists of {n_features} numbers")
        if not all(_is_number(v) for b in bounds for v in b):  # type: ignore[union-attr]
            raise ValueError("low and high must hold numbers only")
        low, high = (np.asarray(b, dtype=np.float64) for b in bounds)
        margin = entry.get("margin", MARGIN)
        if not (np.isfinite(low).all() and np.isfinite(high).all() and (low <= high).all()):
            raise ValueError("low and high must be finite with low <= high")
        if not _is_number(margin) or not 0 <= margin < 1e6:
            raise ValueError("margin must be a number of 0 or more")
        return cls(low, high, float(margin))


def training_ranges(features: np.ndarray, margin: float = MARGIN) -> FeatureRanges:
    """Return the ranges of raw training rows.

    >>> training_ranges(np.array([[1.0, -2.0], [3.0, 4.0]])).to_dict()["low"]
    [1.0, -2.0]
    """
    features = np.asarray(features, dtype=np.float64)
    return FeatureRanges(features.min(axis=0), features.max(axis=0), margin)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
