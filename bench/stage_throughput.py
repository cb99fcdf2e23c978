"""Measure what the supervised stage costs the consumer's scoring step, per micro-batch.

Usage: .venv/bin/python bench/stage_throughput.py --model-dir BUNDLE --data CSV
       [--batch-size 1000] [--repeats 50]

Loads a bundle that has the supervised stage and scores batches of rows from the CSV with
`training.scoring.scorer.Scorer` (the code the consumer runs per micro-batch), once with the
autoencoder alone and once with both stages. Prints the median time per batch and the rows
per second of each, and the bundle's load time with and without the stage.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from training.datasets.dataset import read_csv, to_dataset
from training.scoring.bundle import load_bundle, load_scorer
from training.scoring.scorer import Scorer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    _, scorer = load_scorer(args.model_dir)
    if scorer.stage is None:
        print(f"{args.model_dir}: this bundle has no supervised stage", file=sys.stderr)
        return 2
    frame = read_csv(args.data)
    features = to_dataset(frame, scorer.feature_names, None, str(args.data)).features
    batch = np.resize(features, (args.batch_size, features.shape[1]))
    alone = Scorer(scorer.detector)
    print(f"| scoring | ms per {args.batch_size}-row batch (median) | rows per second |")
    print("|---|---|---|")
    for name, candidate in (("autoencoder alone", alone), ("both stages", scorer)):
        times = [_timed(lambda c=candidate: c.score(batch)) for _ in range(args.repeats)]
        median = statistics.median(times)
        print(f"| {name} | {1000 * median:.2f} | {args.batch_size / median:,.0f} |")
    plain = statistics.median(_timed(lambda: load_bundle(args.model_dir)) for _ in range(5))
    full = statistics.median(_timed(lambda: load_scorer(args.model_dir)) for _ in range(5))
    print(f"\nbundle load: {1000 * plain:.1f} ms without the stage, {1000 * full:.1f} ms with it")
    return 0


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
