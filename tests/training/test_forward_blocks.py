"""The forward pass gives each row the same float in a batch of any size (network.PRODUCT_ROWS)."""

from __future__ import annotations

import numpy as np

from training.scoring.network import PRODUCT_ROWS, Dense, Network


def test_a_row_has_the_same_code_and_reconstruction_whatever_the_batch_around_it():
    rng = np.random.default_rng(5)
    widths = (29, 58, 7, 58, 29)  # the default bundle's shape, whose products once differed
    layers = tuple(
        Dense(rng.normal(size=(a, b)), rng.normal(size=b), "tanh" if k % 2 == 0 else "linear")
        for k, (a, b) in enumerate(zip(widths, widths[1:], strict=False))
    )
    network = Network(layers, 1.0, code_layer=1)
    rows = rng.normal(size=(3 * PRODUCT_ROWS + 5, 29))
    code, reconstruction = network.forward(rows)
    for size in (1, 2, 3, 7, PRODUCT_ROWS - 1, PRODUCT_ROWS + 1, len(rows)):
        parts = [network.forward(rows[i : i + size]) for i in range(0, len(rows), size)]
        assert np.concatenate([c for c, _ in parts]).tobytes() == code.tobytes()
        assert np.concatenate([r for _, r in parts]).tobytes() == reconstruction.tobytes()
    assert code.shape == (len(rows), 7) and reconstruction.shape == rows.shape
    empty = network.forward(rows[:0])
    assert empty[0].shape == (0, 7) and empty[1].shape == (0, 29)
