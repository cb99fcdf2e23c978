"""Small detectors and labelled rows for the supervised stage's tests."""

import numpy as np

from training.scoring.detector import Detector
from training.scoring.network import CodeDistance, Dense, Network, ReconstructionDistance
from training.scoring.scaling import Scaler


def small_detector(rng, networks=1, n=4) -> Detector:
    nets = tuple(
        Network(
            (
                Dense(rng.normal(size=(n, 2)), rng.normal(size=2), "tanh"),
                Dense(rng.normal(size=(2, n)), rng.normal(size=n), "linear"),
            ),
            error_scale=float(i + 2),
            code_layer=0,
            distance=CodeDistance(rng.normal(size=2), np.array([[2.0, 0.5], [0.5, 1.0]]), 3.0),
            spread=ReconstructionDistance(rng.normal(size=n), 2.5),
        )
        for i in range(networks)
    )
    scaler = Scaler("standard", np.zeros(n), np.ones(n))
    names = tuple(f"f{j}" for j in range(n))
    return Detector(names, scaler, nets, np.linspace(0.5, 2.0, n), threshold=1.0)


def labelled_rows(rng, rows=1200, frauds=60, n=4):
    x = rng.normal(size=(rows, n))
    y = np.zeros(rows, dtype=int)
    y[:frauds] = 1
    x[:frauds, 0] += 3.0  # frauds lie off to one side, with overlap
    return x, y


def fit_test_stage(detector, x, y, fit_rows, val_rows, inputs="raw", seed=0):
    """Fit a stage on `inputs` built from raw rows as the product builds them."""
    from training.fitting.stage import fit_stage
    from training.scoring.stage import autoencoder_outputs

    columns = np.hstack([x, autoencoder_outputs(detector, x, inputs)])
    return fit_stage(columns[fit_rows], y[fit_rows], columns[val_rows], y[val_rows], seed, inputs)
