"""Per-feature scaling, kept in the bundle as plain numbers; `training.fitting.scaler` fits it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.scoring.errors import OptionError


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
            "log": [bool(v) for v in full_mask(self.log, len(self.center))],
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


def full_mask(mask: np.ndarray, n_features: int) -> np.ndarray:
    """Return a mask with one entry per feature; an empty mask means no logged column."""
    mask = np.asarray(mask, dtype=bool)
    if mask.size == 0:
        return np.zeros(n_features, dtype=bool)
    if mask.shape != (n_features,):
        raise OptionError(f"log mask has {mask.size} entries for {n_features} features")
    return mask
