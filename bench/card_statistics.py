"""Print the per-column statistics of a ULB-schema CSV that `training.datasets.synth` reproduces.

    .venv/bin/python bench/card_statistics.py --data ../shared/datasets/ulb-slice.csv

For V1..V28 on normal rows: the standard deviation and the excess kurtosis; for every V column
the fraud/normal shift (difference of the class means in normal standard deviations). The
printed tuples are the targets in `training/datasets/synth.py`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kurtosis

from training.datasets.synth import V_COLUMNS


def card_statistics(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Return per-V-column spread, excess kurtosis of normal rows and the fraud shift."""
    fraud = frame["Class"].to_numpy() == 1
    v = frame[list(V_COLUMNS)].to_numpy(dtype=np.float64)
    normal_sd = v[~fraud].std(axis=0)
    return {
        "spread": normal_sd,
        "kurtosis": kurtosis(v[~fraud], axis=0),
        "shift": (v[fraud].mean(axis=0) - v[~fraud].mean(axis=0)) / normal_sd,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="ULB-schema CSV with Class")
    args = parser.parse_args()
    for name, values in card_statistics(pd.read_csv(args.data)).items():
        print(f"{name.upper()} = (" + ", ".join(f"{v:.2f}" for v in values) + ")")


if __name__ == "__main__":
    main()
