"""Measure how well each part of the default score ranks frauds on its own, and summed.

    .venv/bin/python bench/score_parts.py --data ../shared/datasets/ulb-slice.csv \
        --scaling central --protocol production --seeds 3

Fits the default autoencoder (with `--scaling`) on each seed's split of a `compare` protocol,
then prints the mean test ROC AUC, and the average precision re-weighted to the production
fraud rate (AP@p), over seeds of the reconstruction error, the code distance and the
reconstruction distance alone, and of the score (their sum, each part divided by its 90th
percentile on validation rows, as `fit` does).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from training.comparison.compare import PROTOCOLS, protocol_splits
from training.console import quiet
from training.datasets.dataset import read_labelled
from training.evaluation.metrics import ULB_PREVALENCE, at_prevalence
from training.fitting.config import PRESETS
from training.fitting.detector import FittedNetworks, fit_networks
from training.scoring.network import squared_errors


def score_parts(detector: FittedNetworks, features: np.ndarray) -> dict[str, np.ndarray]:
    """Return each part of the score of raw rows, as `fit` scales them."""
    scaled = detector.scaler.transform(features)
    (network,) = detector.networks
    code, reconstruction = network.forward(scaled)
    errors = squared_errors(scaled, reconstruction, detector.feature_weights).sum(axis=1)
    parts = {"error": errors / network.error_scale}
    if network.distance is not None:
        parts["code distance"] = network.distance(code)
    if network.spread is not None:
        parts["reconstruction distance"] = network.spread(reconstruction).sum(axis=1)
    parts["score (sum)"] = sum(parts.values())
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="labelled CSV")
    parser.add_argument("--scaling", default="central", help="central, standard or robust")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="production")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    dataset, labels = read_labelled(args.data)
    aucs: dict[str, list[float]] = {}
    production_aps: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        splits = protocol_splits(labels, args.protocol, ULB_PREVALENCE, seed)
        config = dataclasses.replace(PRESETS["default"], scaling=args.scaling, seed=seed * 1000)
        fitted = fit_networks(
            dataset.features, dataset.feature_names, splits.fit, splits.validation, config, quiet
        )
        parts = score_parts(fitted, dataset.features[splits.test])
        test_labels = labels[splits.test]
        for name, values in parts.items():
            aucs.setdefault(name, []).append(roc_auc_score(test_labels, values))
            production = at_prevalence(values, test_labels, ULB_PREVALENCE)
            production_aps.setdefault(name, []).append(production["average_precision"])
    print(f"{args.data.name}, {args.protocol} protocol, {args.scaling} scaling, {args.seeds} seeds")
    for name, auc in aucs.items():
        ap = production_aps[name]
        print(
            f"  {name:<24} ROC AUC {np.mean(auc):.3f} ± {np.std(auc):.3f}"
            f"   AP@p {np.mean(ap):.3f} ± {np.std(ap):.3f}"
        )


if __name__ == "__main__":
    main()
