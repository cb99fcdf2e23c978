"""Per-feature scaling fitted on training rows only and stored in the bundle as plain numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.errors import OptionError

METHODS = ("central", "robust", "standard")
# Dividing a central range of a standard normal by these makes the scale of a well-behaved
# column comparable to its standard deviation: the interquartile range (robust), and the
# range from the 5th to the 95th percentile (central).
_NORMAL_IQR = 1.3489795
_NORMAL_CENTRAL_90 = 3.2897073
_CENTRAL_PERCENTILES = (5.0, 95.0)


@dataclass(frozen=True)
class Scaler:
    """Per-feature scaling: an optional signed log, an affine map, then optional clipping.

    `log` marks the columns that go through sign(x) * log1p(|x|) first: the usual treatment of
    money amounts, whose tails span orders of magnitude.
    """

    method: str
    center: np.ndarray
    scale: np.ndarray
    clip: float | None = None
    log: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        # A mask of 0/1 integers would otherwise index columns by position.
        object.__setattr__(self, "log", np.asarray(self.log, dtype=bool))

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Scale a (rows, features) matrix.

        >>> s = Scaler("standard", np.array([1.0]), np.array([2.0]), clip=1.0)
        >>> s.transform(np.array([[3.0], [9.0]])).ravel().tolist()
        [1.0, 1.0]
        >>> s = Scaler("standard", np.zeros(2), np.ones(2), log=np.array([False, True]))
        >>> s.transform(np.array([[-9.0, np.e - 1], [9.0, 1 - np.e]])).round(6).tolist()
        [[-9.0, 1.0], [9.0, -1.0]]
        """
        features = logged(np.asarray(features, dtype=np.float64), self.log)
        scaled = (features - self.center) / self.scale
        if self.clip is not None:
            np.clip(scaled, -self.clip, self.clip, out=scaled)
        return scaled

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "clip": self.clip,
            "log": [bool(v) for v in _full_mask(self.log, len(self.center))],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        center = np.asarray(data["center"], dtype=np.float64)
        log = data.get("log")
        return cls(
            method=str(data["method"]),
            center=center,
            scale=np.asarray(data["scale"], dtype=np.float64),
            clip=None if data.get("clip") is None else float(data["clip"]),
            # Bundles check the mask's length; one without a mask logs no column.
            log=np.zeros(len(center), dtype=bool) if log is None else np.asarray(log, dtype=bool),
        )


def logged(features: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return `features` with sign(x) * log1p(|x|) applied to the columns `mask` marks.

    >>> logged(np.array([[0.0, 99.0]]), np.array([False, True])).round(3).tolist()
    [[0.0, 4.605]]
    """
    if not mask.any():
        return features
    out = np.array(features, dtype=np.float64)
    out[:, mask] = np.sign(out[:, mask]) * np.log1p(np.abs(out[:, mask]))
    return out


def fit_scaler(
    features: np.ndarray,
    method: str = "central",
    clip: float | None = None,
    log: np.ndarray | None = None,
) -> Scaler:
    """Fit a scaler on training rows, after the signed log of the columns `log` marks.

    - `standard`: mean and standard deviation.
    - `robust`: median and interquartile range, scaled to a standard deviation.
    - `central`: median and the range from the 5th to the 95th percentile, scaled to a
      standard deviation. Frauds in a training set as it comes (up to 5% of rows) cannot
      inflate it, as they inflate a standard deviation; and unlike the interquartile range it
      does not shrink to almost nothing on a column that mostly holds one value.

    A constant column gets scale 1 so it cannot divide by zero; a quantile scale of zero (a
    column that is mostly one value) falls back to the standard deviation.
    """
    if method not in METHODS:
        raise OptionError(f"unknown scaling {method!r}; choose one of {', '.join(METHODS)}")
    if clip is not None and clip <= 0:
        raise OptionError(f"clip must be positive, got {clip}")
    features = np.asarray(features, dtype=np.float64)
    mask = _full_mask(np.zeros(0, dtype=bool) if log is None else log, features.shape[1])
    features = logged(features, mask)
    std = features.std(axis=0)
    if method == "standard":
        center, scale = features.mean(axis=0), std
    else:
        low, high = (25.0, 75.0) if method == "robust" else _CENTRAL_PERCENTILES
        q_low, center, q_high = np.percentile(features, [low, 50.0, high], axis=0)
        scale = (q_high - q_low) / (_NORMAL_IQR if method == "robust" else _NORMAL_CENTRAL_90)
        scale = np.where(scale > 0, scale, std)
    scale = np.where(scale > 0, scale, 1.0)
    return Scaler(method, center, scale, clip, mask)


def _full_mask(mask: np.ndarray, n_features: int) -> np.ndarray:
    """An empty mask means no logged column; any other must have one entry per feature."""
    mask = np.asarray(mask, dtype=bool)
    if mask.size == 0:
        return np.zeros(n_features, dtype=bool)
    if mask.shape != (n_features,):
        raise OptionError(f"log mask has {mask.size} entries for {n_features} features")
    return mask
