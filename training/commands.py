"""The commands' edges: read a CSV, fit or load a scorer, write the bundle or the report.

Each command reads at its start and writes at its end; the work in between is pure
(`training.fitting.fit.fit`, `Scorer.score`, `training.comparison.compare.run_comparison`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from training.comparison.compare import Method, format_table, run_comparison, summarise
from training.comparison.methods import format_new_fraud_table, run_new_fraud
from training.console import Log, stderr
from training.datasets.dataset import (
    MIN_ROWS,
    choose_features,
    read_csv,
    read_labelled,
    to_dataset,
)
from training.evaluation import plots
from training.evaluation.metrics import (
    ULB_PREVALENCE,
    detection_metrics,
    prevalence_weights,
    stage_summary,
    summary_table,
)
from training.fitting.config import FitConfig
from training.fitting.fit import fit
from training.scoring.bundle import load_scorer, save_bundle, write_stage
from training.scoring.decision import COMBINED_CUT
from training.scoring.errors import BundleError, DataError
from training.scoring.scorer import Scored


def run_fit(data_path: Path, model_dir: Path, config: FitConfig, log: Log | None = None) -> dict:
    """Train on a CSV and write a bundle to `model_dir`; return the bundle's manifest."""
    log = log or stderr
    if model_dir.exists():
        raise BundleError(f"{model_dir}: already exists; choose a new --model-dir or remove it")
    frame = read_csv(data_path)
    names = choose_features(
        list(frame.columns), config.label_column, config.drop_columns, config.features
    )
    rows = to_dataset(frame, names, config.label_column, str(data_path), MIN_ROWS)
    fitted = fit(rows, config, log, str(data_path))
    detector = fitted.scorer.detector

    def write_extras(staging: Path) -> None:
        for i, model in enumerate(fitted.networks.models):
            model.save(staging / f"network-{i}.keras")
        metrics = fitted.fields["metrics"]
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        histories = fitted.networks.histories
        (staging / "history.json").write_text(json.dumps(histories, indent=2) + "\n")
        plots.write_history_plot(staging / "history.png", histories)
        test_labels = fitted.test_labels
        plots.write_plots(
            staging,
            fitted.test_scores,
            np.zeros(len(fitted.test_scores), bool) if test_labels is None else test_labels,
            detector.threshold,
            "test split",
        )
        if fitted.scorer.stage is not None:
            write_stage(staging, fitted.scorer.stage)

    manifest = save_bundle(model_dir, detector, fitted.fields, write_extras)
    log(summary_table(manifest))
    if "supervised" in manifest:
        log(stage_summary(manifest["supervised"]["metrics"]))
    return manifest


def run_score(model_dir: Path, data_path: Path) -> Scored:
    """Score every row of a CSV with a bundle's stages, rows in input order."""
    _, scorer = load_scorer(model_dir)
    frame = read_csv(data_path)
    rows = to_dataset(frame, scorer.feature_names, None, str(data_path))
    return scorer.score(rows.features)


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
    frame = read_csv(data_path)
    if label_column not in frame.columns:
        raise DataError(f"{data_path}: no label column {label_column!r}; evaluate needs labels")
    rows = to_dataset(frame, detector.feature_names, label_column, str(data_path))
    labels = rows.require_labels(str(data_path))
    scored = scorer.score(rows.features)
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
    labelled, labels = read_labelled(data_path, label_column, drop_columns, "compare")
    curves: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def keep_first_seed(method, protocol, seed, labels, scores):
        if seed == 0:
            curves[(protocol, method)] = (labels, scores)

    outcomes = run_comparison(
        labelled, seeds, protocols, methods, log or stderr, keep_first_seed, prevalence
    )
    rows = summarise(outcomes)
    positives = int(labels.sum())
    n_features = len(labelled.feature_names)
    title = (
        f"{data_path.name}: {labelled.n_rows} rows, {n_features} features, {positives} positives"
    )
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
    labelled, _ = read_labelled(data_path, label_column, drop_columns, "compare")
    outcomes = run_new_fraud(
        labelled, seeds, lambda y: prevalence_weights(y, prevalence), log or stderr
    )
    return (
        f"**{data_path.name}, new-fraud protocol**: recall on the hidden group's test frauds at "
        f"the alert budget, spent at a fraud rate of {prevalence:g}; mean ± sd over {seeds} "
        "seeds\n\n" + format_new_fraud_table(outcomes)
    )
