"""Per-feature scaling fitted on training rows only and stored in the bundle as plain numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from training.errors import OptionError

METHODS = ("standard", "robust")
# The interquartile range of a standard normal; dividing the IQR by it makes robust scales
# comparable to standard deviations on well-behaved columns.
_NORMAL_IQR = 1.3489795


@dataclass(frozen=True)
class Scaler:
    """Affine per-feature scaling, then optional clipping of the scaled values to +-clip."""

    method: str
    center: np.ndarray
    scale: np.ndarray
    clip: float | None = None

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Scale a (rows, features) matrix.

        >>> s = Scaler("standard", np.array([1.0]), np.array([2.0]), clip=1.0)
        >>> s.transform(np.array([[3.0], [9.0]])).ravel().tolist()
        [1.0, 1.0]
        """
        scaled = (np.asarray(features, dtype=np.float64) - self.center) / self.scale
        if self.clip is not None:
            np.clip(scaled, -self.clip, self.clip, out=scaled)
        return scaled

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "clip": self.clip,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        return cls(
            method=str(data["method"]),
            center=np.asarray(data["center"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            clip=None if data.get("clip") is None else float(data["clip"]),
        )


def fit_scaler(features: np.ndarray, method: str = "standard", clip: float | None = None) -> Scaler:
    """Fit a scaler: `standard` (mean, std) or `robust` (median, IQR scaled to a std).

    A constant column gets scale 1 so it cannot divide by zero; a robust scale of zero (a
    column that is mostly one value) falls back to the standard deviation.
    """
    if method not in METHODS:
        raise OptionError(f"unknown scaling {method!r}; choose one of {', '.join(METHODS)}")
    if clip is not None and clip <= 0:
        raise OptionError(f"clip must be positive, got {clip}")
    features = np.asarray(features, dtype=np.float64)
    std = features.std(axis=0)
    if method == "standard":
        center, scale = features.mean(axis=0), std
    else:
        q25, center, q75 = np.percentile(features, [25, 50, 75], axis=0)
        scale = (q75 - q25) / _NORMAL_IQR
        scale = np.where(scale > 0, scale, std)
    scale = np.where(scale > 0, scale, 1.0)
    return Scaler(method, center, scale, clip)
