"""Fit a bundle's models on a data set in memory: the pure middle of `fit`.

Nothing here reads or writes a file: `training.commands.run_fit` reads the CSV before and
writes the bundle after. The validation and test rows are scored once each, and the threshold,
or the two stages' shared decision, is chosen once from those validation scores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.console import Log, quiet
from training.datasets.dataset import MIN_ROWS, Dataset, fingerprint
from training.evaluation.metrics import ULB_PREVALENCE, split_metrics
from training.fitting.config import FitConfig
from training.fitting.decision import probability_floor, share_budget
from training.fitting.detector import FittedNetworks, fit_networks
from training.fitting.splits import Splits, split_rows, training_rows
from training.fitting.stage import check_ranking, fit_stage, stage_refusal
from training.fitting.threshold import (
    Threshold,
    ThresholdStrategy,
    choose_threshold,
    parse_strategy,
)
from training.scoring.baseline import held_out_baseline
from training.scoring.bundle import stage_entry
from training.scoring.decision import COMBINED_CUT, Decision
from training.scoring.errors import DataError
from training.scoring.scorer import Scorer
from training.scoring.stage import StageError, SupervisedStage

Labels = dict[str, np.ndarray | None]


@dataclass(frozen=True)
class Fitted:
    """What `fit` made of a data set: the scorer, and everything its bundle records.

    `fields` go into the manifest beside what the scorer defines (threshold details, metrics,
    training settings, the stage's entry, the drift baseline); `networks` holds the Keras models
    and their histories; the test split's scores and labels draw the report's plots.
    """

    scorer: Scorer
    threshold: Threshold
    fields: dict[str, Any]
    networks: FittedNetworks
    test_scores: np.ndarray
    test_labels: np.ndarray | None


def fit(dataset: Dataset, config: FitConfig, log: Log = quiet, source: str = "data") -> Fitted:
    """Split the rows, fit the autoencoder (and the stage when it can), choose the alerts.

    Parameters:
        dataset: the features, with labels when the data has them.
        config: every training setting.
        log: progress lines.
        source: the data's name in error messages.

    Raises:
        DataError: too few rows to train on, or `--stage both` and the stage cannot be fitted.
        OptionError: an option that does not fit the data (`--stage both` without labels...).
    """
    labels = dataset.labels
    splits = split_rows(labels, dataset.n_rows, config)
    fit_rows = training_rows(labels, splits.fit, config)
    val_rows = training_rows(labels, splits.validation, config)
    if len(fit_rows) < MIN_ROWS // 2:
        raise DataError(f"{source}: only {len(fit_rows)} rows left to train on; add data")
    log(
        f"data: {dataset.n_rows} rows, {len(dataset.feature_names)} features, "
        + ("unlabelled" if labels is None else f"{int(labels.sum())} positives")
        + f"; training on {len(fit_rows)} rows, validating on {len(splits.validation)}, "
        f"testing on {len(splits.test)}"
    )
    strategy = parse_strategy(config.threshold)
    refusal = stage_refusal(config.stage, labels, strategy)
    started = time.perf_counter()
    networks = fit_networks(
        dataset.features, dataset.feature_names, fit_rows, val_rows, config, log
    )
    seconds = time.perf_counter() - started
    rows = {"validation": splits.validation, "test": splits.test}
    scores = {name: networks.score(dataset.features[r]) for name, r in rows.items()}
    split_labels: Labels = {name: None if labels is None else labels[r] for name, r in rows.items()}
    stage = None
    if refusal is None and labels is not None:
        fit_frauds = int(labels[splits.fit].sum())
        try:
            stage = _fit_stage(dataset.features, labels, splits, config.seed)
        except StageError as exc:
            if config.stage == "both":
                raise DataError(f"cannot train the supervised stage: {exc}") from exc
            refusal = f"the supervised stage was dropped: {exc}"
    if stage is None:
        log(f"training the autoencoder only: {refusal}")
        threshold = _threshold(strategy, networks, dataset, scores, splits, val_rows, fit_rows)
        scorer = Scorer(networks.detector(threshold.value))
        by_stage = None
    else:
        probability = {
            name: stage.probability_of_inputs(dataset.features[r]) for name, r in rows.items()
        }
        decision = _decision(probability, scores, split_labels, strategy, config)
        log(
            f"supervised stage: {fit_frauds} frauds in {len(splits.fit)} "
            f"rows; alert when probability > {decision.probability_threshold:.4g} "
            f"or autoencoder score > {decision.score_threshold:.4g} "
            f"with probability >= {decision.probability_floor:.4g}"
        )
        alerts = decision.alerts(probability["validation"], scores["validation"])
        threshold = Threshold(decision.score_threshold, strategy, float(alerts.mean()), met=True)
        scorer = Scorer(networks.detector(threshold.value), stage, decision)
        by_stage = _stage_metrics(decision, probability, scores, split_labels)
    metrics = split_metrics(scores, split_labels, threshold.value, ULB_PREVALENCE)
    fields = _manifest_fields(config, dataset, splits, fit_rows, threshold, metrics, seconds)
    if scorer.stage is not None and scorer.decision is not None:
        entry = stage_entry(scorer.stage, scorer.decision, dataset.feature_names)
        fields["supervised"] = entry | {"metrics": by_stage}
    baseline = held_out_baseline(scores["validation"], split_labels["validation"])
    if baseline is not None:
        fields["score_reference"] = baseline.to_dict()
    return Fitted(scorer, threshold, fields, networks, scores["test"], split_labels["test"])


def _fit_stage(
    features: np.ndarray, labels: np.ndarray, splits: Splits, seed: int
) -> SupervisedStage:
    """Fit the stage on every labelled fit row (frauds included), calibrated on validation."""
    stage = fit_stage(
        features[splits.fit],
        labels[splits.fit],
        features[splits.validation],
        labels[splits.validation],
        seed,
    )
    check_ranking(stage)
    return stage


def _threshold(
    strategy: ThresholdStrategy,
    networks: FittedNetworks,
    dataset: Dataset,
    scores: dict[str, np.ndarray],
    splits: Splits,
    val_rows: np.ndarray,
    fit_rows: np.ndarray,
) -> Threshold:
    """Choose the autoencoder's threshold on the rows its score constants came from.

    Those are the validation rows the networks learnt from (normal ones only, when they learn
    from normal rows), or the fit rows when there are none.
    """
    if not len(val_rows):
        return choose_threshold(strategy, networks.score(dataset.features[fit_rows]), None)
    kept = np.isin(splits.validation, val_rows)
    labels = None if dataset.labels is None else dataset.labels[val_rows]
    return choose_threshold(strategy, scores["validation"][kept], labels)


def _decision(
    probability: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
    labels: Labels,
    strategy: ThresholdStrategy,
    config: FitConfig,
) -> Decision:
    """Share the alert budget between the stages on the validation rows."""
    validation_labels = labels["validation"]
    assert validation_labels is not None  # the stage learns from labels
    floor = probability_floor(validation_labels, config.vetoes)
    return share_budget(
        probability["validation"], scores["validation"], strategy.target, probability_floor=floor
    )


def _stage_metrics(
    decision: Decision,
    probability: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
    labels: Labels,
) -> dict[str, Any]:
    """Return per split the metrics of the probability alone and of both stages together.

    `both` ranks rows by `Decision.combined`, which alerts exactly where the decision does.
    """
    combined = {name: decision.combined(p, scores[name]) for name, p in probability.items()}
    threshold = decision.probability_threshold
    return {
        "supervised": split_metrics(probability, labels, threshold, ULB_PREVALENCE),
        "both": split_metrics(combined, labels, COMBINED_CUT, ULB_PREVALENCE),
    }


def _manifest_fields(
    config: FitConfig,
    dataset: Dataset,
    splits: Splits,
    fit_rows: np.ndarray,
    threshold: Threshold,
    metrics: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    return {
        "threshold": threshold.to_dict() | {"chosen_on": "validation"},
        "metrics": metrics,
        "training": {
            "config": config.to_dict(),
            "data_fingerprint": fingerprint(dataset),
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
