"""Fit a detector on rows in memory: splits, scaler, networks, score constants and threshold.

Pure of file I/O: `training.pipeline` reads the CSV and writes the bundle around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from training.config import FitConfig
from training.console import Log
from training.scaling import fit_scaler
from training.scoring import (
    CodeDistance,
    Detector,
    Network,
    ReconstructionDistance,
    score_contributions,
    squared_errors,
)
from training.threshold import Threshold, choose_threshold, parse_strategy


@dataclass(frozen=True)
class Splits:
    """Row indices of the three splits: fit (training), validation and test."""

    fit: np.ndarray
    validation: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class FittedDetector:
    """A detector with its threshold, the Keras models and histories behind it."""

    detector: Detector
    threshold: Threshold
    models: list
    histories: list[dict[str, list[float]]]


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


def fit_detector(
    features: np.ndarray,
    feature_names: tuple[str, ...],
    fit_rows: np.ndarray,
    validation_rows: np.ndarray,
    config: FitConfig,
    log: Log,
    validation_labels: np.ndarray | None = None,
) -> FittedDetector:
    """Fit the scaler and the networks, then choose the threshold on the validation rows.

    Score constants come from the validation rows (clipped like the training rows), or from
    the fit rows when there are none: feature weights (with `inverse_error`, one over each
    feature's mean squared error, so every feature's error is in units of its typical error)
    and the scales of the error and of the two distances (their `score_quantile`, so that every
    part of the score is on one scale). `validation_labels`, when given, serve threshold
    strategies that need labels (`recall:R`, `precision:P`).
    """
    from training.model import export_layers, fit_autoencoder, layer_widths

    logged = np.array([name in config.log_columns for name in feature_names], dtype=bool)
    if logged.any():
        log("signed log before scaling: " + ", ".join(np.array(feature_names)[logged]))
    skipped = [name for name in config.log_columns if name not in feature_names]
    if skipped:
        log("log columns not among the features, skipped: " + ", ".join(skipped))
    scaler = fit_scaler(features[fit_rows], config.scaling, config.clip, logged)
    x_fit = _clipped(scaler.transform(features[fit_rows]), config.train_clip)
    x_val = _clipped(scaler.transform(features[validation_rows]), config.train_clip)
    x_ref = x_val if len(x_val) else x_fit
    code_layer = len(layer_widths(config, len(feature_names))) - 1
    models, histories, bare = [], [], []
    for i in range(config.ensemble):
        label = f"net {i + 1}/{config.ensemble}"
        model, history = fit_autoencoder(x_fit, x_val, config, config.seed + i, log, label)
        models.append(model)
        histories.append(history)
        bare.append(Network(export_layers(model), 1.0, code_layer))
    # One forward pass per network over each of the two row sets: (code, reconstruction).
    fit_passes = [net.forward(x_fit) for net in bare]
    ref_passes = [net.forward(x_ref) for net in bare]
    ones = np.ones(len(feature_names))
    per_feature = [squared_errors(x_ref, reconstruction, ones) for _, reconstruction in ref_passes]
    weights = ones
    if config.weighting == "inverse_error":
        # Standardised residuals: a feature that is always hard to reconstruct must not
        # dominate the score; guard against a feature reconstructed perfectly.
        mean_error = np.mean([errors.mean(axis=0) for errors in per_feature], axis=0)
        weights = 1.0 / np.maximum(mean_error, 1e-6)
    q = config.score_quantile
    networks = tuple(
        Network(
            net.layers,
            _quantile_or_one((errors * weights).sum(axis=1), q),
            code_layer,
            fit_code_distance(fit_code, ref_code, q) if config.code_distance else None,
            fit_reconstruction_distance(fit_out, ref_out, q)
            if config.reconstruction_distance
            else None,
        )
        for net, errors, (fit_code, fit_out), (ref_code, ref_out) in zip(
            bare, per_feature, fit_passes, ref_passes, strict=True
        )
    )
    threshold_rows = validation_rows if len(validation_rows) else fit_rows
    threshold = choose_threshold(
        parse_strategy(config.threshold),
        score_contributions(scaler, networks, weights, features[threshold_rows]).sum(axis=1),
        validation_labels if len(validation_rows) else None,
    )
    detector = Detector(feature_names, scaler, networks, weights, threshold=threshold.value)
    return FittedDetector(detector, threshold, models, histories)


def fit_code_distance(
    fit_codes: np.ndarray, reference_codes: np.ndarray, quantile: float = 0.9
) -> CodeDistance:
    """Fit the code distribution on training codes; scale distances by a reference quantile."""
    center = fit_codes.mean(axis=0)
    covariance = np.atleast_2d(np.cov(fit_codes, rowvar=False))
    # pinv: a collapsed code direction gets zero weight instead of an infinite one.
    precision = np.linalg.pinv(covariance, hermitian=True)
    unscaled = CodeDistance(center, precision, 1.0)
    return CodeDistance(center, precision, _quantile_or_one(unscaled(reference_codes), quantile))


def fit_reconstruction_distance(
    fit_reconstructions: np.ndarray, reference_reconstructions: np.ndarray, quantile: float = 0.9
) -> ReconstructionDistance:
    """Center on the mean training reconstruction; scale distances by a reference quantile."""
    unscaled = ReconstructionDistance(fit_reconstructions.mean(axis=0), 1.0)
    scale = _quantile_or_one(unscaled(reference_reconstructions).sum(axis=1), quantile)
    return ReconstructionDistance(unscaled.center, scale)


def _clipped(scaled: np.ndarray, limit: float | None) -> np.ndarray:
    return scaled if limit is None else np.clip(scaled, -limit, limit)


def _quantile_or_one(values: np.ndarray, quantile: float) -> float:
    value = float(np.quantile(values, quantile)) if len(values) else 0.0
    return value if value > 0 else 1.0
