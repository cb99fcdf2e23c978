"""Fit a detector end to end: read, split, scale, train, choose a threshold, evaluate, bundle."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from training import bundle, data, evaluate, report
from training.config import FitConfig
from training.errors import BundleError, DataError
from training.reference import held_out_reference
from training.scaling import fit_scaler
from training.scoring import (
    CodeDistance,
    Detector,
    Network,
    ReconstructionDistance,
    squared_errors,
)
from training.stage_bundle import load_scorer, stage_entry, write_stage
from training.stage_fit import (
    fit_supervised,
    shared_threshold,
    stage_metrics,
    stage_refusal,
    stage_summary,
)
from training.stages import Scored
from training.threshold import Threshold, choose_threshold, parse_strategy

Log = Callable[[str], None]


@dataclass(frozen=True)
class Splits:
    """Row indices of the three splits: fit (training), validation and test."""

    fit: np.ndarray
    validation: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class FittedDetector:
    """A detector (threshold still 0) with the Keras models and histories behind it."""

    detector: Detector
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
) -> FittedDetector:
    """Fit the scaler and the networks; the threshold is left at 0 for the caller.

    Score constants come from the validation rows (clipped like the training rows), or from
    the fit rows when there are none: feature weights (with `inverse_error`, one over each
    feature's mean squared error, so every feature's error is in units of its typical error)
    and the scales of the error and of the two distances (their `score_quantile`, so that every
    part of the score is on one scale).
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
    detector = Detector(feature_names, scaler, networks, weights, threshold=0.0)
    return FittedDetector(detector, models, histories)


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


def run_fit(data_path: Path, model_dir: Path, config: FitConfig, log: Log | None = None) -> dict:
    """Train on a CSV and write a bundle to `model_dir`; return the bundle's manifest."""
    log = log or _stderr
    config = config.validated()
    strategy = parse_strategy(config.threshold)
    if model_dir.exists():
        raise BundleError(f"{model_dir}: already exists; choose a new --model-dir or remove it")
    frame = data.read_csv(data_path)
    names = data.choose_features(
        list(frame.columns), config.label_column, config.drop_columns, config.features
    )
    dataset = data.to_dataset(frame, names, config.label_column, str(data_path), data.MIN_ROWS)
    splits = split_rows(dataset.labels, dataset.n_rows, config)
    fit_rows = training_rows(dataset.labels, splits.fit, config)
    val_rows = training_rows(dataset.labels, splits.validation, config)
    if len(fit_rows) < data.MIN_ROWS // 2:
        raise DataError(f"{data_path}: only {len(fit_rows)} rows left to train on; add data")
    log(
        f"data: {dataset.n_rows} rows, {len(names)} features, "
        + ("unlabelled" if dataset.labels is None else f"{int(dataset.labels.sum())} positives")
        + f"; training on {len(fit_rows)} rows, validating on {len(splits.validation)}, "
        f"testing on {len(splits.test)}"
    )
    refusal = stage_refusal(config.stage, dataset.labels, strategy)
    started = time.perf_counter()
    fitted = fit_detector(dataset.features, names, fit_rows, val_rows, config, log)
    seconds = time.perf_counter() - started
    rows = {"validation": splits.validation, "test": splits.test}
    scores = {name: fitted.detector.score(dataset.features[r]) for name, r in rows.items()}
    labels = {
        name: None if dataset.labels is None else dataset.labels[r] for name, r in rows.items()
    }
    threshold = choose_threshold(strategy, scores["validation"], labels["validation"])
    supervised = None
    if refusal is None and dataset.labels is not None:
        supervised = fit_supervised(
            fitted.detector,
            dataset.features,
            dataset.labels,
            splits.fit,
            splits.validation,
            strategy.target,
            config.seed,
            log,
        )
        threshold = shared_threshold(
            supervised, fitted.detector, dataset.features, splits.validation, strategy
        )
    else:
        log(f"training the autoencoder only: {refusal}")
    detector = replace(fitted.detector, threshold=threshold.value)
    metrics = report.split_metrics(scores, labels, threshold.value)
    fields = _manifest_fields(config, dataset, splits, fit_rows, threshold, metrics, seconds)
    report_metrics = metrics
    if supervised is not None:
        by_stage = stage_metrics(supervised, detector, dataset.features, rows, labels)
        fields["supervised"] = stage_entry(supervised.stage, supervised.decision, names) | {
            "metrics": by_stage
        }
        report_metrics = metrics | by_stage
    drift_reference = held_out_reference(scores["validation"], labels["validation"])
    if drift_reference is not None:
        fields["score_reference"] = drift_reference.to_dict()

    def write_extras(staging: Path) -> None:
        for i, model in enumerate(fitted.models):
            model.save(staging / f"network-{i}.keras")
        (staging / "metrics.json").write_text(json.dumps(report_metrics, indent=2) + "\n")
        (staging / "history.json").write_text(json.dumps(fitted.histories, indent=2) + "\n")
        evaluate.write_history_plot(staging / "history.png", fitted.histories)
        report.write_test_plots(staging, scores["test"], labels["test"], threshold.value)
        if supervised is not None:
            write_stage(staging, supervised.stage)

    manifest = bundle.save_bundle(model_dir, detector, fields, write_extras)
    log(report.summary_table(manifest))
    if supervised is not None:
        log(stage_summary(fields["supervised"]["metrics"]))
    return manifest


def run_score(model_dir: Path, data_path: Path) -> Scored:
    """Score every row of a CSV with a bundle's stages, rows in input order."""
    _, scorer = load_scorer(model_dir)
    frame = data.read_csv(data_path)
    dataset = data.to_dataset(frame, scorer.feature_names, None, str(data_path))
    return scorer.score(dataset.features)


def run_evaluate(model_dir: Path, data_path: Path, report_dir: Path) -> dict[str, Any]:
    """Evaluate a bundle on a labelled CSV and write metrics.json and plots to `report_dir`."""
    manifest, scorer = load_scorer(model_dir)
    detector = scorer.detector
    label_column = manifest.get("training", {}).get("config", {}).get("label_column") or "Class"
    frame = data.read_csv(data_path)
    if label_column not in frame.columns:
        raise DataError(f"{data_path}: no label column {label_column!r}; evaluate needs labels")
    dataset = data.to_dataset(frame, detector.feature_names, label_column, str(data_path))
    labels = dataset.require_labels(str(data_path))
    scored = scorer.score(dataset.features)
    scores = scored.score
    metrics = evaluate.detection_metrics(scores, labels, detector.threshold)
    if scorer.stage is not None and scorer.decision is not None:
        assert scored.probability is not None
        t_p = scorer.decision.probability_threshold
        combined = scorer.decision.combined(scored.probability, scores)
        metrics["supervised"] = evaluate.detection_metrics(scored.probability, labels, t_p)
        metrics["both"] = evaluate.detection_metrics(combined, labels, t_p)
    metrics["model_version"] = manifest["model_version"]
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    evaluate.write_plots(report_dir, scores, labels, detector.threshold, data_path.name)
    return metrics


def _manifest_fields(config, dataset, splits, fit_rows, threshold: Threshold, metrics, seconds):
    return {
        "threshold": threshold.to_dict() | {"chosen_on": "validation"},
        "metrics": metrics,
        "training": {
            "config": config.to_dict(),
            "data_fingerprint": data.fingerprint(dataset),
            "rows": {
                "total": dataset.n_rows,
                "fit": len(fit_rows),
                "validation": len(splits.validation),
                "test": len(splits.test),
            },
            "labelled": dataset.labels is not None,
            "fit_seconds": round(seconds, 2),
        },
    }


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
