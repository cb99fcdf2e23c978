"""Extreme but valid transactions, as a new user tried them: each must alert, saying why."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# (feature, value): far outside anything in training, yet a valid number.
EXTREMES = [
    ("V3", -60.0),
    ("V3", -200.0),
    ("V3", -10_000.0),
    ("Amount", 100_000.0),
    ("Amount", 1_000_000.0),
    ("V3", 1e300),
]


def extreme_rows(stream_csv: Path) -> pd.DataFrame:
    """Return a quiet normal row of the stream with each of EXTREMES put in, one per row."""
    frame = pd.read_csv(stream_csv)
    base = frame[frame["Class"] == 0].iloc[0].to_dict()
    rows = [
        base | {feature: value, "transaction_id": f"extreme-{i}"}
        for i, (feature, value) in enumerate(EXTREMES)
    ]
    return pd.DataFrame(rows)
