"""The commands' edges: read a CSV, fit or load a detector, write the bundle or the report."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from training import bundle, data, plots
from training.compare import Method, format_table, run_comparison, summarise
from training.config import FitConfig
from training.console import Log, stderr
from training.decision import COMBINED_CUT
from training.errors import BundleError, DataError
from training.fitting import fit_detector, split_rows, training_rows
from training.metrics import ULB_PREVALENCE, detection_metrics, split_metrics, summary_table
from training.reference import held_out_reference
from training.stage_bundle import load_scorer, stage_entry, write_stage
from training.stage_fit import (
    fit_supervised,
    shared_threshold,
    stage_metrics,
    stage_refusal,
    stage_summary,
)
from training.stages import Scored
from training.supervised import StageError
from training.threshold import Threshold, parse_strategy


def run_fit(data_path: Path, model_dir: Path, config: FitConfig, log: Log | None = None) -> dict:
    """Train on a CSV and write a bundle to `model_dir`; return the bundle's manifest."""
    log = log or stderr
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
    strategy = parse_strategy(config.threshold)
    refusal = stage_refusal(config.stage, dataset.labels, strategy)
    started = time.perf_counter()
    val_labels = None if dataset.labels is None else dataset.labels[val_rows]
    fitted = fit_detector(dataset.features, names, fit_rows, val_rows, config, log, val_labels)
    seconds = time.perf_counter() - started
    detector = fitted.detector
    rows = {"validation": splits.validation, "test": splits.test}
    scores = {name: detector.score(dataset.features[r]) for name, r in rows.items()}
    labels = {
        name: None if dataset.labels is None else dataset.labels[r] for name, r in rows.items()
    }
    threshold = fitted.threshold
    supervised = None
    if refusal is None and dataset.labels is not None:
        try:
            supervised = fit_supervised(
                detector,
                dataset.features,
                dataset.labels,
                splits.fit,
                splits.validation,
                strategy.target,
                config.seed,
                log,
                veto=config.vetoes,
            )
        except StageError as exc:
            if config.stage == "both":
                raise DataError(f"cannot train the supervised stage: {exc}") from exc
            refusal = f"the supervised stage was dropped: {exc}"
    if supervised is not None:
        threshold = shared_threshold(
            supervised, detector, dataset.features, splits.validation, strategy
        )
        detector = dataclasses.replace(detector, threshold=threshold.value)
    else:
        log(f"training the autoencoder only: {refusal}")
    metrics = split_metrics(scores, labels, detector.threshold, ULB_PREVALENCE)
    fields = _manifest_fields(config, dataset, splits, fit_rows, threshold, metrics, seconds)
    if supervised is not None:
        by_stage = stage_metrics(supervised, detector, dataset.features, rows, labels)
        fields["supervised"] = stage_entry(supervised.stage, supervised.decision, names) | {
            "metrics": by_stage
        }
    drift_reference = held_out_reference(scores["validation"], labels["validation"])
    if drift_reference is not None:
        fields["score_reference"] = drift_reference.to_dict()

    def write_extras(staging: Path) -> None:
        for i, model in enumerate(fitted.models):
            model.save(staging / f"network-{i}.keras")
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (staging / "history.json").write_text(json.dumps(fitted.histories, indent=2) + "\n")
        plots.write_history_plot(staging / "history.png", fitted.histories)
        test_labels = labels["test"]
        plots.write_plots(
            staging,
            scores["test"],
            np.zeros(len(scores["test"]), bool) if test_labels is None else test_labels,
            detector.threshold,
            "test split",
        )
        if supervised is not None:
            write_stage(staging, supervised.stage)

    manifest = bundle.save_bundle(model_dir, detector, fields, write_extras)
    log(summary_table(manifest))
    if supervised is not None:
        log(stage_summary(fields["supervised"]["metrics"]))
    return manifest


def run_score(model_dir: Path, data_path: Path) -> Scored:
    """Score every row of a CSV with a bundle's stages, rows in input order."""
    _, scorer = load_scorer(model_dir)
    frame = data.read_csv(data_path)
    dataset = data.to_dataset(frame, scorer.feature_names, None, str(data_path))
    return scorer.score(dataset.features)


def run_evaluate(
    model_dir: Path, data_path: Path, report_dir: Path, prevalence: float = ULB_PREVALENCE
) -> dict[str, Any]:
    """Evaluate a bundle on a labelled CSV and write metrics.json and plots to `report_dir`.

    Beside the file's own metrics, `at_prevalence` re-weights them to the production fraud
    rate `prevalence`.
    """
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
    metrics = detection_metrics(scores, labels, detector.threshold, prevalence)
    if scorer.decision is not None and scored.probability is not None:
        t_p = scorer.decision.probability_threshold
        combined = scorer.decision.combined(scored.probability, scores)
        metrics["supervised"] = detection_metrics(scored.probability, labels, t_p, prevalence)
        metrics["both"] = detection_metrics(combined, labels, COMBINED_CUT, prevalence)
    metrics["model_version"] = manifest["model_version"]
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plots.write_plots(report_dir, scores, labels, detector.threshold, data_path.name)
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


def run_compare(
    data_path: Path,
    methods: dict[str, Method],
    seeds: int,
    protocols: tuple[str, ...],
    prevalence: float,
    label_column: str,
    drop_columns: tuple[str, ...],
    report_dir: Path | None = None,
    log: Log | None = None,
) -> str:
    """Compare methods on a labelled CSV; write the report when asked; return the table."""
    dataset, labels = data.read_labelled(data_path, label_column, drop_columns, "compare")
    curves: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def keep_first_seed(method, protocol, seed, labels, scores):
        if seed == 0:
            curves[(protocol, method)] = (labels, scores)

    outcomes = run_comparison(
        dataset, seeds, protocols, methods, log or stderr, keep_first_seed, prevalence
    )
    rows = summarise(outcomes)
    positives = int(labels.sum())
    n_features = len(dataset.feature_names)
    title = f"{data_path.name}: {dataset.n_rows} rows, {n_features} features, {positives} positives"
    table = format_table(rows, title, prevalence)
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "summary.md").write_text(table + "\n")
        runs = [dataclasses.asdict(o) for o in outcomes]
        (report_dir / "results.json").write_text(
            json.dumps({"prevalence": prevalence, "summary": rows, "runs": runs}, indent=2) + "\n"
        )
        for protocol in dict.fromkeys(p for p, _ in curves):
            series = {m: c for (p, m), c in curves.items() if p == protocol}
            plots.write_overlaid_curves(
                report_dir, series, f"{protocol} protocol, seed 0", protocol
            )
    return table


def run_new_fraud_compare(
    data_path: Path,
    seeds: int,
    prevalence: float,
    label_column: str,
    drop_columns: tuple[str, ...],
    log: Log | None = None,
) -> str:
    """Run the new-fraud protocol on a labelled CSV; return its table with a title."""
    from training.metrics import prevalence_weights
    from training.stage_methods import format_new_fraud_table, run_new_fraud

    dataset, _ = data.read_labelled(data_path, label_column, drop_columns, "compare")
    outcomes = run_new_fraud(
        dataset, seeds, lambda y: prevalence_weights(y, prevalence), log or stderr
    )
    return (
        f"**{data_path.name}, new-fraud protocol**: recall on the hidden group's test frauds at "
        f"the alert budget, spent at a fraud rate of {prevalence:g}; mean ± sd over {seeds} "
        "seeds\n\n" + format_new_fraud_table(outcomes)
    )
