"""Which rows each split holds: fit (training), validation and test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from training.fitting.config import FitConfig


@dataclass(frozen=True)
class Splits:
    """Row indices of the three splits: fit (training), validation and test."""

    fit: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def split_rows(labels: np.ndarray | None, n_rows: int, config: FitConfig) -> Splits:
    """Split rows into fit / validation / test, stratified by label where labels allow it."""
    index = np.arange(n_rows)
    train, test = train_test_split(
        index,
        test_size=config.test_size,
        random_state=config.split_seed,
        stratify=_stratify(labels, index),
    )
    fit, validation = train_test_split(
        train,
        test_size=config.validation_size,
        random_state=config.split_seed,
        stratify=_stratify(labels, train),
    )
    return Splits(np.sort(fit), np.sort(validation), np.sort(test))


def _stratify(labels: np.ndarray | None, index: np.ndarray) -> np.ndarray | None:
    if labels is None:
        return None
    counts = np.bincount(labels[index], minlength=2)
    return labels[index] if counts.min() >= 2 else None


def training_rows(labels: np.ndarray | None, rows: np.ndarray, config: FitConfig) -> np.ndarray:
    """Return the rows the networks learn from: normal rows only, or all of them."""
    normal_only = config.train_on == "normal" or (config.train_on == "auto" and labels is not None)
    if normal_only and labels is not None:
        return rows[labels[rows] == 0]
    return rows
