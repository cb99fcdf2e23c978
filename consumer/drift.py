"""Score drift: how far the last scores have moved from the model's held-out normal scores.

The window keeps, for each of the last `size` scores, only its baseline bin and whether it
alerted, so a batch costs one `searchsorted` and two `bincount`s, and a scrape reads ten
counts.
"""

from __future__ import annotations

import threading

import numpy as np

from training.scoring.baseline import ScoreBaseline
from training.scoring.detector import is_alert

WINDOW = 10_000
MIN_SCORES = 500  # a smaller window is too noisy to report (PSI noise grows as bins / scores)
SMOOTHING = 1e-4  # an empty bin counts as this share: PSI stays finite


def population_stability_index(expected: np.ndarray, counts: np.ndarray) -> float:
    """Return the PSI of observed bin `counts` against `expected` shares.

    sum((actual - expected) * ln(actual / expected)); 0 for identical shares, about 0.1 for a
    small shift, above 0.25 for a large one. Empty bins count as a tiny share.

    >>> round(population_stability_index(np.array([0.5, 0.5]), np.array([50, 50])), 6)
    0.0
    >>> round(population_stability_index(np.array([0.5, 0.5]), np.array([80, 20])), 3)
    0.416
    """
    actual = np.maximum(counts / max(int(counts.sum()), 1), SMOOTHING)
    baseline = np.maximum(expected, SMOOTHING)
    return float(np.sum((actual - baseline) * np.log(actual / baseline)))


class ScoreWindow:
    """The baseline bins and alert flags of the last `size` scores, updated a batch at a time.

    >>> baseline = ScoreBaseline(np.array([1.0]), np.array([0.5, 0.5]), rows=100)
    >>> window = ScoreWindow(baseline, threshold=1.5, size=4, min_scores=2)
    >>> window.observe(np.array([0.5, 2.0]))
    >>> window.observe(np.array([0.7, 0.9, 0.1]))  # 0.5 leaves the window
    >>> window.bin_counts().tolist(), window.alert_ratio()
    ([3, 1], 0.25)
    """

    def __init__(
        self,
        baseline: ScoreBaseline | None,
        threshold: float,
        size: int = WINDOW,
        min_scores: int = MIN_SCORES,
    ):
        self.baseline = baseline
        self.threshold = threshold
        self.size = size
        self.min_scores = min(min_scores, size)
        self.edges = np.empty(0) if baseline is None else baseline.edges
        self.bins = np.zeros(size, dtype=np.int32)
        self.alerts = np.zeros(size, dtype=bool)
        self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)
        self.alert_count = 0
        self.filled = 0
        self.next = 0
        self.lock = threading.Lock()

    def observe(self, scores: np.ndarray) -> None:
        """Add a batch of scores (NaN and infinite ones in the top bin), forgetting the oldest."""
        scores = np.asarray(scores, dtype=np.float64)[-self.size :]
        bins = np.searchsorted(self.edges, scores, side="right")
        bins[np.isnan(scores)] = len(self.edges)
        alerts = is_alert(scores, self.threshold)
        slots = (self.next + np.arange(len(scores))) % self.size
        with self.lock:
            old = slots[slots < self.filled]  # slots still holding a score: it leaves the window
            self.counts -= np.bincount(self.bins[old], minlength=len(self.counts))
            self.alert_count -= int(self.alerts[old].sum())
            self.bins[slots] = bins
            self.alerts[slots] = alerts
            self.counts += np.bincount(bins, minlength=len(self.counts))
            self.alert_count += int(alerts.sum())
            self.next = (self.next + len(scores)) % self.size
            self.filled = min(self.filled + len(scores), self.size)

    def bin_counts(self) -> np.ndarray:
        """Return how many scores of the window fell in each baseline bin."""
        with self.lock:
            return self.counts.copy()

    def alert_ratio(self) -> float | None:
        """Return the share of the window's scores that alerted; None until min_scores are in."""
        with self.lock:
            return None if self.filled < self.min_scores else self.alert_count / self.filled

    def drift(self) -> float | None:
        """Return the window's PSI against the baseline; None without one or too few scores."""
        with self.lock:
            if self.baseline is None or self.filled < self.min_scores:
                return None
            counts = self.counts.copy()
        return population_stability_index(self.baseline.shares, counts)
