"""`--scaling auto`: standard scaling for clean training rows, central when many lie far out."""

import numpy as np
import pytest

from training.console import quiet
from training.fitting.config import FitConfig
from training.fitting.contamination import CENTRAL_ABOVE, choose_scaling, far_out_share
from training.fitting.detector import fit_networks

NAMES = tuple(f"V{i}" for i in range(1, 7))


def _rows(far: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clean = rng.normal(size=(2000, len(NAMES)))
    return np.r_[clean, rng.normal(15, 1, size=(far, len(NAMES)))]


def test_the_far_out_share_follows_the_rows_planted_far_out():
    assert far_out_share(_rows(0), seed=1) < CENTRAL_ABOVE
    assert far_out_share(_rows(100), seed=1) == pytest.approx(100 / 2100, abs=0.01)


def test_the_choice_switches_at_the_cut():
    assert choose_scaling(CENTRAL_ABOVE) == "standard"
    assert choose_scaling(np.nextafter(CENTRAL_ABOVE, 1)) == "central"


@pytest.mark.keras
@pytest.mark.parametrize(("far", "expected"), [(0, "standard"), (100, "central")])
def test_fit_resolves_auto_scaling_from_the_training_rows(far, expected):
    features = _rows(far)
    rows = np.arange(len(features))
    config = FitConfig(scaling="auto", epochs=1, patience=0, label_column=None)
    messages: list[str] = []
    fitted = fit_networks(features, NAMES, rows, rows[:0], config, messages.append)
    assert fitted.scaler.method == expected
    assert any(m.startswith(f"scaling: {expected} (") for m in messages)


@pytest.mark.keras
def test_a_named_scaling_is_kept_whatever_the_rows():
    features = _rows(100)
    rows = np.arange(len(features))
    config = FitConfig(scaling="standard", epochs=1, patience=0, label_column=None)
    assert fit_networks(features, NAMES, rows, rows[:0], config, quiet).scaler.method == "standard"
