"""Shared fixtures: a small synthetic data set and one tiny bundle trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.commands import run_fit
from training.datasets.synth import synthesize
from training.fitting.config import FitConfig

TINY = FitConfig(epochs=8, patience=0, ensemble=2, batch_size=64, encoder=("1x", "0.25x"))


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "transactions.csv"
    synthesize(4000, fraud_rate=0.02, seed=7).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory, synthetic_csv: Path) -> Path:
    model_dir = tmp_path_factory.mktemp("models") / "tiny"
    run_fit(synthetic_csv, model_dir, TINY, log=lambda message: None)
    return model_dir
