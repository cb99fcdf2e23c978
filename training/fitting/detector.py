"""Fit the autoencoder on rows in memory: scaler, networks and the constants of its score.

No threshold here: `training.fitting.fit` chooses it once, from the validation scores, with the
supervised stage's decision when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.console import Log
from training.fitting.config import FitConfig
from training.fitting.contamination import CENTRAL_ABOVE, choose_scaling, far_out_share
from training.fitting.scaler import fit_scaler
from training.scoring.detector import Detector, ScoreOutputs, score_outputs
from training.scoring.network import (
    CodeDistance,
    Network,
    ReconstructionDistance,
    squared_errors,
)
from training.scoring.scaling import Scaler


@dataclass(frozen=True)
class FittedNetworks:
    """The autoencoder's scaler, networks and feature weights, with the Keras models behind them."""

    feature_names: tuple[str, ...]
    scaler: Scaler
    networks: tuple[Network, ...]
    feature_weights: np.ndarray
    models: list
    histories: list[dict[str, list[float]]]

    def outputs(self, features: np.ndarray, residuals: bool = False) -> ScoreOutputs:
        """Return what one forward pass gives (see `training.scoring.detector.score_outputs`)."""
        return score_outputs(self.scaler, self.networks, self.feature_weights, features, residuals)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Return the autoencoder's score of raw rows (as `Detector.score`)."""
        return self.outputs(features).contributions.sum(axis=1)

    def detector(self, threshold: float) -> Detector:
        """Return the detector that alerts above `threshold`."""
        return Detector(
            self.feature_names, self.scaler, self.networks, self.feature_weights, threshold
        )


def fit_networks(
    features: np.ndarray,
    feature_names: tuple[str, ...],
    fit_rows: np.ndarray,
    validation_rows: np.ndarray,
    config: FitConfig,
    log: Log,
) -> FittedNetworks:
    """Fit the scaler and the networks on `fit_rows`, the score's constants on `validation_rows`.

    Score constants come from the validation rows (clipped like the training rows), or from
    the fit rows when there are none: feature weights (with `inverse_error`, one over each
    feature's mean squared error, so every feature's error is in units of its typical error)
    and the scales of the error and of the two distances (their `score_quantile`, so that every
    part of the score is on one scale).
    """
    from training.fitting.network import export_layers, fit_autoencoder, layer_widths

    logged = np.array([name in config.log_columns for name in feature_names], dtype=bool)
    if logged.any():
        log("signed log before scaling: " + ", ".join(np.array(feature_names)[logged]))
    skipped = [name for name in config.log_columns if name not in feature_names]
    if skipped:
        log("log columns not among the features, skipped: " + ", ".join(skipped))
    scaler = fit_scaler(
        features[fit_rows], _scaling(features[fit_rows], config, log), config.clip, logged
    )
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
    return FittedNetworks(feature_names, scaler, networks, weights, models, histories)


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


def _scaling(rows: np.ndarray, config: FitConfig, log: Log) -> str:
    """Return the scaling `config` names, choosing it from the rows when it says `auto`."""
    if config.scaling != "auto":
        return config.scaling
    share = far_out_share(rows, config.seed)
    chosen = choose_scaling(share)
    log(
        f"scaling: {chosen} ({share:.2%} of training rows far out; "
        f"central above {CENTRAL_ABOVE:.1%})"
    )
    return chosen


def _clipped(scaled: np.ndarray, limit: float | None) -> np.ndarray:
    return scaled if limit is None else np.clip(scaled, -limit, limit)


def _quantile_or_one(values: np.ndarray, quantile: float) -> float:
    value = float(np.quantile(values, quantile)) if len(values) else 0.0
    return value if value > 0 else 1.0
