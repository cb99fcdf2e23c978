"""Decide whether `fit` trains the supervised stage, and train it with its alert decision."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.config import STAGES
from training.decision import (
    COMBINED_CUT,
    DEFAULT_SHARE,
    Decision,
    probability_floor,
    share_budget,
)
from training.errors import OptionError
from training.metrics import ULB_PREVALENCE, split_metrics
from training.scoring import Detector
from training.supervised import MIN_FRAUDS, StageError, SupervisedStage, fit_stage
from training.threshold import Threshold, ThresholdStrategy


@dataclass(frozen=True)
class FittedStage:
    """The supervised stage and the decision that joins it to the autoencoder."""

    stage: SupervisedStage
    decision: Decision


def stage_refusal(stage: str, labels: np.ndarray | None, strategy: ThresholdStrategy) -> str | None:
    """Return why `fit` trains the autoencoder only, or None when it trains both stages.

    With `--stage both` a reason is an error (OptionError); with `auto` it is logged.

    >>> stage_refusal("auto", None, ThresholdStrategy("rate", 0.002))
    'the data has no labels'
    >>> stage_refusal("auto", np.array([0, 1] * 40), ThresholdStrategy("rate", 0.002)) is None
    True
    """
    if stage not in STAGES:
        raise OptionError(f"--stage {stage!r} must be one of {', '.join(STAGES)}")
    if stage == "autoencoder":
        return "--stage autoencoder"
    reason = None
    if labels is None:
        reason = "the data has no labels"
    elif int(labels.sum()) < MIN_FRAUDS:
        reason = f"{int(labels.sum())} labelled frauds, fewer than the {MIN_FRAUDS} it needs"
    elif importlib.util.find_spec("lightgbm") is None:
        reason = "LightGBM is not installed (pip install 'fraudstream[stage]')"
    elif strategy.kind != "rate":
        reason = f"--threshold {strategy} is not an alert budget; the two stages share one (rate:A)"
    if reason is not None and stage == "both":
        raise OptionError(f"--stage both: {reason}; use --stage auto or autoencoder")
    return reason


def fit_supervised(
    detector: Detector,
    features: np.ndarray,
    labels: np.ndarray,
    fit_rows: np.ndarray,
    validation_rows: np.ndarray,
    rate: float,
    seed: int,
    log: Callable[[str], None],
    share: float = DEFAULT_SHARE,
    veto: bool = True,
) -> FittedStage:
    """Fit the stage on all labelled fit rows and share the budget `rate` on validation rows.

    Parameters:
        detector: the fitted autoencoder (its threshold is ignored).
        features, labels: every row's raw features and 0/1 labels.
        fit_rows, validation_rows: the splits, frauds included.
        rate: the alert budget, a share of transactions.
        seed: LightGBM's seed.
        log: progress lines.
        share: the supervised stage's share of the budget.
        veto: let the stage overrule autoencoder alerts on rows below the validation fraud
            share (the floor); without it the floor is 0 and either stage alerts alone.

    Raises:
        StageError: the trees do not rank the validation frauds above its normal rows (a
            calibration slope that is not positive), so the stage would only add noise.
    """
    stage = fit_stage(detector, features, labels, fit_rows, validation_rows, seed=seed)
    slope = stage.calibration.slope
    if not (np.isfinite(slope) and slope > 0):
        raise StageError(
            f"its trees do not rank the validation split's frauds above its normal rows "
            f"(calibration slope {slope:.3g}); more labelled frauds may help"
        )
    probability = stage.probability(detector, features[validation_rows])
    floor = probability_floor(labels[validation_rows], veto)
    score = detector.score(features[validation_rows])
    decision = share_budget(probability, score, rate, share, probability_floor=floor)
    log(
        f"supervised stage: {int(labels[fit_rows].sum())} frauds in {len(fit_rows)} rows; "
        f"alert when probability > {decision.probability_threshold:.4g} "
        f"or autoencoder score > {decision.score_threshold:.4g} "
        f"with probability >= {floor:.4g}"
    )
    return FittedStage(stage, decision)


def shared_threshold(
    fitted: FittedStage,
    detector: Detector,
    features: np.ndarray,
    validation_rows: np.ndarray,
    strategy: ThresholdStrategy,
) -> Threshold:
    """Return the autoencoder's threshold under the shared budget, with the combined rate."""
    x = features[validation_rows]
    alerts = fitted.decision.alerts(fitted.stage.probability(detector, x), detector.score(x))
    return Threshold(fitted.decision.score_threshold, strategy, float(alerts.mean()), met=True)


def stage_metrics(
    fitted: FittedStage,
    detector: Detector,
    features: np.ndarray,
    rows: dict[str, np.ndarray],
    labels: dict[str, np.ndarray | None],
) -> dict[str, Any]:
    """Return per split the metrics of the probability alone and of both stages together.

    `both` ranks rows by `Decision.combined`, which alerts exactly where the decision does.
    """
    probability, combined = {}, {}
    for name, split in rows.items():
        x = features[split]
        p = fitted.stage.probability(detector, x)
        probability[name] = p
        combined[name] = fitted.decision.combined(p, detector.score(x))
    threshold = fitted.decision.probability_threshold
    return {
        "supervised": split_metrics(probability, labels, threshold, ULB_PREVALENCE),
        "both": split_metrics(combined, labels, COMBINED_CUT, ULB_PREVALENCE),
    }


def stage_summary(metrics: dict[str, Any]) -> str:
    """Return the test split's line per stage: ROC AUC, AP, precision and recall at the alerts."""
    lines = ["stage        ROC AUC    AP   precision  recall  (test split, alerts of the stage)"]
    for name in ("supervised", "both"):
        m = metrics[name].get("test", {})
        if m.get("roc_auc") is None:
            continue
        lines.append(
            f"{name:<11} {m['roc_auc']:>8.4f} {m['average_precision']:>6.3f} "
            f"{m['precision']:>10.3f} {m['recall']:>7.3f}"
        )
    return "\n".join(lines)
