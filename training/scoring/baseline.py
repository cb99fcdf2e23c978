"""What a bundle expects of the scores it will see live: a score baseline and an alert ratio.

The score baseline is a histogram of where the scores of held-out normal rows fell, in bins cut
at their deciles; the consumer bins its recent scores the same way and compares the two shares
(the population stability index) to tell when the input has drifted from training. In the
manifest it is the `score_reference` entry (the name older bundles carry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

BINS = 10
MIN_ROWS = 50  # fewer held-out normal scores than this make too rough a baseline to keep


@dataclass(frozen=True)
class ScoreBaseline:
    """Bins of the score line and the share of held-out normal scores in each.

    `edges` are the inner bin edges, increasing; bin i holds scores in [edges[i-1], edges[i])
    (`np.searchsorted(edges, score, side="right")`), the last bin also infinite and NaN scores.
    """

    edges: np.ndarray
    shares: np.ndarray
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """Return the manifest entry."""
        return {
            "edges": self.edges.tolist(),
            "shares": self.shares.tolist(),
            "rows": self.rows,
            "scores": "held-out normal rows (validation split)",
        }

    @classmethod
    def from_dict(cls, entry: Any) -> ScoreBaseline:
        """Read and check a manifest entry.

        Raises:
            ValueError: what is wrong with the entry, in one sentence.
        """
        if not isinstance(entry, dict):
            raise ValueError("must be an object with edges, shares and rows")
        edges = _numbers(entry.get("edges"), "edges")
        shares = _numbers(entry.get("shares"), "shares")
        rows = entry.get("rows")
        if not (np.isfinite(edges).all() and (np.diff(edges) > 0).all()):
            raise ValueError("edges must be finite and strictly increasing")
        if len(shares) != len(edges) + 1:
            raise ValueError(f"needs {len(edges) + 1} shares for {len(edges)} edges")
        if not (np.isfinite(shares).all() and (shares >= 0).all()):
            raise ValueError("shares must be finite and not negative")
        if abs(float(shares.sum()) - 1.0) > 1e-6:
            raise ValueError("shares must sum to 1")
        if isinstance(rows, bool) or not isinstance(rows, int) or rows <= 0:
            raise ValueError("rows must be a positive integer")
        return cls(edges, shares, rows)


def score_baseline(scores: np.ndarray, bins: int = BINS) -> ScoreBaseline | None:
    """Return the baseline histogram of `scores`, or None when fewer than MIN_ROWS are finite.

    >>> ref = score_baseline(np.arange(100.0), bins=4)
    >>> ref.edges.tolist(), ref.shares.tolist()
    ([24.75, 49.5, 74.25], [0.25, 0.25, 0.25, 0.25])
    """
    finite = np.asarray(scores, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if len(finite) < MIN_ROWS:
        return None
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1)
    return ScoreBaseline(edges, counts / len(finite), len(finite))


def held_out_baseline(scores: np.ndarray, labels: np.ndarray | None) -> ScoreBaseline | None:
    """Return the baseline of the normal rows among held-out `scores` (all rows if unlabelled)."""
    return score_baseline(scores if labels is None else scores[np.asarray(labels) == 0])


def baseline_of(manifest: dict[str, Any]) -> ScoreBaseline | None:
    """Return a manifest's score baseline; None for bundles written before it existed.

    Raises:
        ValueError: the entry is malformed.
    """
    entry = manifest.get("score_reference")
    return None if entry is None else ScoreBaseline.from_dict(entry)


def expected_alert_ratio(manifest: dict[str, Any]) -> float | None:
    """Return the share of validation rows the bundle's model alerted on, if the bundle says.

    >>> expected_alert_ratio({"metrics": {"validation": {"alert_rate": 0.002}}})
    0.002
    """
    validation = manifest.get("metrics", {}).get("validation", {})
    value = validation.get("alert_rate") if isinstance(validation, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


def validation_precision(manifest: dict[str, Any]) -> float | None:
    """Return the precision of the bundle's alerts on its validation split at the production
    fraud rate, if the bundle says: the two stages' when it has the supervised stage.

    >>> at = {"validation": {"at_prevalence": {"precision": 0.25}}}
    >>> validation_precision({"metrics": at})
    0.25
    >>> validation_precision({"metrics": at, "supervised": {"metrics": {"both": {"validation":
    ...     {"at_prevalence": {"precision": 0.5}}}}}})
    0.5
    """
    supervised = manifest.get("supervised")
    if isinstance(supervised, dict):
        metrics = (supervised.get("metrics") or {}).get("both")
    else:
        metrics = manifest.get("metrics")
    value = _path(metrics, "validation", "at_prevalence", "precision")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


def _path(entry: Any, *keys: str) -> Any:
    """Return entry[k1][k2]..., or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(entry, dict):
            return None
        entry = entry.get(key)
    return entry


def _numbers(values: Any, name: str) -> np.ndarray:
    if not isinstance(values, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"{name} must be a list of numbers")
    return np.asarray(values, dtype=np.float64)
