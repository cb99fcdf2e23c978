"""Fit the per-feature scaling on training rows only (see `training.scoring.scaling.Scaler`)."""

from __future__ import annotations

import numpy as np

from training.scoring.errors import OptionError
from training.scoring.scaling import Scaler, full_mask, logged

METHODS = ("central", "robust", "standard")
# Dividing a central range of a standard normal by these makes the scale of a well-behaved
# column comparable to its standard deviation: the interquartile range (robust), and the
# range from the 5th to the 95th percentile (central).
_NORMAL_IQR = 1.3489795
_NORMAL_CENTRAL_90 = 3.2897073
_CENTRAL_PERCENTILES = (5.0, 95.0)


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
    mask = full_mask(np.zeros(0, dtype=bool) if log is None else log, features.shape[1])
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
