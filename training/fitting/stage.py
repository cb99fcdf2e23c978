"""Fit the supervised stage: gradient-boosted trees, calibrated to a fraud probability.

One stage fitter (`fit_stage`) serves `fit`, `compare`'s methods and the new-fraud protocol:
LightGBM trees on the fit rows, Platt scaling on the validation rows' raw scores. The stage's
alert decision is chosen in `training.fitting.decision`; applying both is runtime code
(`training.scoring.stage`).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from training.fitting.config import STAGES
from training.fitting.threshold import ThresholdStrategy
from training.scoring.errors import OptionError
from training.scoring.stage import DEFAULT_INPUTS, Calibration, StageError, SupervisedStage, sigmoid
from training.scoring.trees import TreeModel

# The fewest labelled frauds `fit` trains the stage with; see docs/supervised.md for why.
MIN_FRAUDS = 30
# LightGBM's defaults, stated so that a library upgrade cannot change a bundle silently; one
# thread keeps fitting deterministic and polite on a shared machine.
TREE_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}
ROUNDS = 100


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


def fit_stage(
    fit_inputs: np.ndarray,
    fit_labels: np.ndarray,
    validation_inputs: np.ndarray,
    validation_labels: np.ndarray,
    seed: int = 0,
    inputs: str = DEFAULT_INPUTS,
) -> SupervisedStage:
    """Fit the trees on the fit rows (frauds included) and calibrate them on validation rows.

    Parameters:
        fit_inputs, fit_labels: the stage's input matrix and 0/1 labels of the fit rows.
        validation_inputs, validation_labels: the same for the validation rows, which need
            frauds and normal rows.
        seed: LightGBM's seed.
        inputs: what the input matrices hold (`raw`, `parts` or `residuals`; see
            `training.scoring.stage.autoencoder_outputs`), recorded in the bundle.

    Raises:
        StageError: the validation rows lack frauds or normal rows.
    """
    trees = fit_trees(fit_inputs, fit_labels, seed)
    calibration = fit_calibration(trees.raw_score(validation_inputs), validation_labels)
    return SupervisedStage(trees, calibration, inputs)


def fit_trees(inputs: np.ndarray, labels: np.ndarray, seed: int) -> TreeModel:
    """Fit the gradient-boosted classifier on (rows, inputs) and 0/1 labels."""
    import lightgbm

    params = TREE_PARAMS | {"seed": seed}
    dataset = lightgbm.Dataset(inputs, label=labels, params={"verbosity": -1})
    booster = lightgbm.train(params, dataset, num_boost_round=ROUNDS)
    return TreeModel(str(booster.model_to_string()))


def fit_calibration(raw: np.ndarray, labels: np.ndarray, iterations: int = 100) -> Calibration:
    """Fit Platt scaling by Newton's method on Platt's smoothed targets.

    The targets (N+ + 1) / (N+ + 2) for positives and 1 / (N- + 2) for negatives keep the fit
    finite when the validation rows are perfectly separated, as they often are with a few
    dozen frauds.

    >>> c = fit_calibration(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0, 0, 1, 1]))
    >>> c.slope > 0, round(float(c(np.array([0.0]))[0]), 6)
    (True, 0.5)
    """
    raw = np.asarray(raw, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        raise StageError("calibration needs both frauds and normal rows in the validation split")
    target = np.where(labels, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    design = np.column_stack([raw, np.ones_like(raw)])

    def loss(params: np.ndarray) -> float:
        z = design @ params
        # log(1 + e^z) - target * z, computed without overflow
        return float(np.sum(np.logaddexp(0.0, z) - target * z))

    params = np.array([1.0, 0.0])
    current = loss(params)
    for _ in range(iterations):
        p = sigmoid(design @ params)
        gradient = design.T @ (p - target)
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        # Newton's step can overshoot far from the optimum: halve it until the loss falls.
        scale = 1.0
        while scale > 1e-10 and loss(params - scale * step) > current:
            scale /= 2
        params = params - scale * step
        previous, current = current, loss(params)
        if previous - current < 1e-12 * max(1.0, abs(current)):
            break
    return Calibration(float(params[0]), float(params[1]))


def check_ranking(stage: SupervisedStage) -> None:
    """Refuse a stage whose trees rank the validation frauds below its normal rows.

    Raises:
        StageError: the calibration slope is not positive, so the stage would only add noise.
    """
    slope = stage.calibration.slope
    if not (np.isfinite(slope) and slope > 0):
        raise StageError(
            f"its trees do not rank the validation split's frauds above its normal rows "
            f"(calibration slope {slope:.3g}); more labelled frauds may help"
        )
