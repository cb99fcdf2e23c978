"""How often a value lies far outside its feature's training range, per margin (the range rule).

    .venv/bin/python bench/range_margin.py --data ../shared/datasets/ulb-slice.csv --seeds 10

For each seed's split (the production protocol: training rows carry frauds at 0.173%, every
other fraud is tested; and, where the data has a Time column, the time-ordered split: the
earliest 60% to train on) it takes each feature's range over the training rows the autoencoder
would learn from (normal rows with labels, all rows without) and prints, per margin, the share
of test rows flagged: normal rows (extra alerts beyond the budget) and frauds (caught whatever
the models say). Runs in seconds: no model is fitted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from training.comparison.compare import production_splits
from training.datasets.dataset import read_csv, read_labelled
from training.evaluation.metrics import ULB_PREVALENCE
from training.scoring.ranges import training_ranges

MARGINS = (0.1, 0.25, 0.5, 1.0)
TRAIN_SHARE = 0.6


def flagged(features, labels, train, test, margin, labelled: bool) -> tuple[float, float]:
    """Return the shares of normal and fraud test rows with a value far out of range."""
    learned = train[labels[train] == 0] if labelled else train
    outside = np.asarray(
        training_ranges(features[learned], margin).outside(features[test]).any(axis=1)
    )
    return float(outside[labels[test] == 0].mean()), float(outside[labels[test] == 1].mean())


def splits(path: Path, labels: np.ndarray, seeds: int) -> dict[str, list[tuple]]:
    """Return (train, test) row indices per protocol and seed."""
    found: dict[str, list[tuple]] = {"production": []}
    for seed in range(seeds):
        s = production_splits(labels, ULB_PREVALENCE, seed)
        found["production"].append((np.concatenate([s.fit, s.validation]), s.test))
    frame = read_csv(path)
    if "Time" in frame.columns:
        order = np.argsort(frame["Time"].to_numpy(), kind="stable")
        cut = int(TRAIN_SHARE * len(order))
        found["time-ordered"] = [(order[:cut], order[cut:])]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="labelled CSV")
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    dataset, labels = read_labelled(args.data)
    print(f"**{args.data.name}**: share of test rows with a value far outside its training range")
    print("\n| protocol | ranges from | margin | normal rows flagged | frauds flagged |")
    print("|---|---|---|---|---|")
    for protocol, rows in splits(args.data, labels, args.seeds).items():
        for labelled in (True, False):
            for margin in MARGINS:
                shares = np.array(
                    [
                        flagged(dataset.features, labels, train, test, margin, labelled)
                        for train, test in rows
                    ]
                )
                normal, fraud = shares.mean(axis=0)
                source = "normal rows" if labelled else "all rows"
                print(f"| {protocol} | {source} | {margin:g} | {normal:.4%} | {fraud:.1%} |")


if __name__ == "__main__":
    main()
