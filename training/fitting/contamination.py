"""Choose the scaling from the share of training rows far out: a label-free look at contamination.

Standard scaling fits clean training rows best (card transactions trained on at the real fraud
rate: higher ROC AUC, and a much cleaner top of the ranking at that rate); central scaling
resists training rows that lie far out, which inflate a standard deviation (frauds left in at
a few percent). Which case a training set is in is read without labels: the share of its rows
an Isolation Forest calls anomalous. `docs/results.md` gives the measurements behind the cut
(`bench/default_choice.py`).
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest

# Isolation Forest's anomaly score (2 ** -(mean path length / c(n))) above which a row counts
# as far out: the rule of thumb of Liu, Ting and Zhou (2008).
FAR_OUT_SCORE = 0.6
# Central scaling when more than this share of training rows lies far out. Measured shares:
# 0.5% to 1.2% where standard scaling ranked better (real card rows at the real fraud rate,
# cardio), 1.5% and more where central did (card rows with 1.9% frauds, thyroid).
CENTRAL_ABOVE = 0.013
# The share is estimated on at most this many rows (drawn with the fit's seed).
SAMPLE_ROWS = 100_000


def far_out_share(rows: np.ndarray, seed: int) -> float:
    """Return the share of `rows` whose Isolation Forest anomaly score exceeds FAR_OUT_SCORE.

    The forest (scikit-learn's defaults, seeded) learns from the rows it judges.

    >>> rng = np.random.default_rng(0)
    >>> clean = rng.normal(size=(2000, 4))
    >>> far_out_share(clean, seed=0) < 0.01
    True
    >>> far_out_share(np.r_[clean, rng.normal(12, 1, size=(100, 4))], seed=0) > 0.03
    True
    """
    rows = np.asarray(rows, dtype=np.float64)
    if len(rows) > SAMPLE_ROWS:
        rows = rows[np.random.default_rng(seed).choice(len(rows), SAMPLE_ROWS, replace=False)]
    forest = IsolationForest(random_state=seed).fit(rows)
    return float(np.mean(-forest.score_samples(rows) > FAR_OUT_SCORE))


def choose_scaling(share: float) -> str:
    """Return the scaling for training rows of which `share` lie far out.

    >>> choose_scaling(0.008), choose_scaling(0.02)
    ('standard', 'central')
    """
    return "central" if share > CENTRAL_ABOVE else "standard"
