"""The decision benchmark's pure parts: how a design becomes a decision, and the table."""

import numpy as np

from bench.decision_choice import decide, report


def test_the_veto_floor_is_the_validation_fraud_share_or_nothing():
    rng = np.random.default_rng(0)
    p, ae = rng.random(100), rng.exponential(size=100)
    labels = (np.arange(100) % 10 == 0).astype(int)
    val = np.arange(50, 100)
    assert decide(p, ae, labels, val, "none", 0.9).probability_floor == 0.0
    vetoing = decide(p, ae, labels, val, "base rate", 0.9)
    assert vetoing.probability_floor == labels[val].mean() == 0.1
    assert vetoing.share == 0.9


def test_the_table_averages_over_seeds_and_leaves_missing_figures_blank():
    keys = ("roc_auc", "ap", "stage_roc_auc", "stage_ap", "recall", "spend", "hidden_recall")
    rows = [
        {"seed": s, "inputs": "raw", "veto": "none", "share": 0.9}
        | dict.fromkeys(keys, 0.5 + 0.1 * s)
        | {"stage_ap": float("nan")}
        for s in (0, 1)
    ]
    table = report(rows)
    assert "| raw | none | 0.9 | 0.550 ± 0.050 | 0.550 ± 0.050 | 0.550 ± 0.050 | - |" in table
    assert "0.5500 ± 0.0500" in table  # spend, to four places
    assert table.endswith("Seeds 0..1, mean ± sd.")
