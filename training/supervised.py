"""The supervised stage: gradient-boosted trees on the raw features.

A LightGBM binary classifier learns from labelled training rows (by default from the raw
features alone; bundles may also give it the autoencoder's score parts or per-feature
residuals, see `INPUTS`); its raw scores (log-odds) are
calibrated into fraud probabilities on the validation split by Platt scaling. The model is
stored as LightGBM's own text format, never pickled. LightGBM is imported only when a stage is
fitted or loaded, so an install without it still scores autoencoder-only bundles.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.scoring import Detector, squared_errors

# `raw`: the features alone (the default, measured best in docs/supervised.md); `parts` and
# `residuals` add the autoencoder's outputs (see `autoencoder_outputs`).
INPUTS = ("raw", "parts", "residuals")
DEFAULT_INPUTS = "raw"
PART_NAMES = ("ae_error", "ae_code_distance", "ae_reconstruction_distance")
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


class StageError(ValueError):
    """A supervised stage's model text or settings are not usable."""


def autoencoder_outputs(detector: Detector, features: np.ndarray, inputs: str) -> np.ndarray:
    """Return the columns the stage adds to the raw features, one row per input row.

    `raw`: none (an empty matrix). `parts`: the three parts of the autoencoder's score
    (reconstruction error, code distance, reconstruction distance; 0 for a part the detector
    lacks), averaged over its networks.
    `residuals`: those three, then each feature's signed residual in units of its share of
    the error (`(scaled - reconstruction) * sqrt(weight / error_scale)`), averaged likewise.
    Part sums match `Detector.score`.
    """
    if inputs not in INPUTS:
        raise StageError(f"stage inputs {inputs!r} must be one of {', '.join(INPUTS)}")
    if inputs == "raw":
        return np.zeros((len(features), 0))
    if inputs == "parts":
        return detector.outputs(features).parts
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = detector.scaler.transform(features)
        parts = np.zeros((len(scaled), len(PART_NAMES)))
        residuals = np.zeros_like(scaled)
        for network in detector.networks:
            code, reconstruction = network.forward(scaled)
            errors = squared_errors(scaled, reconstruction, detector.feature_weights)
            parts[:, 0] += errors.sum(axis=1) / network.error_scale
            if network.distance is not None:
                parts[:, 1] += network.distance(code)
            if network.spread is not None:
                parts[:, 2] += network.spread(reconstruction).sum(axis=1)
            unit = np.sqrt(detector.feature_weights / network.error_scale)
            residuals += (scaled - reconstruction) * unit
        count = len(detector.networks)
        if inputs == "parts":
            return parts / count
        return np.hstack([parts, residuals]) / count


def input_names(feature_names: tuple[str, ...], inputs: str) -> tuple[str, ...]:
    """Return the names of the stage's input columns, raw features first.

    >>> input_names(("a", "b"), "residuals")[2:]
    ('ae_error', 'ae_code_distance', 'ae_reconstruction_distance', 'residual_a', 'residual_b')
    >>> input_names(("a", "b"), "raw")
    ('a', 'b')
    """
    added: tuple[str, ...] = ()
    if inputs == "parts":
        added = PART_NAMES
    elif inputs == "residuals":
        added = PART_NAMES + tuple(f"residual_{name}" for name in feature_names)
    return tuple(feature_names) + added


@dataclass(frozen=True)
class Calibration:
    """Platt scaling: probability = 1 / (1 + exp(-(slope * raw + intercept)))."""

    slope: float
    intercept: float

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Return probabilities of raw scores.

        >>> Calibration(2.0, -1.0)(np.array([0.5])).tolist()
        [0.5]
        """
        return _sigmoid(self.slope * np.asarray(raw, dtype=np.float64) + self.intercept)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Return 1 / (1 + exp(-z)) without overflow; far negative z stay above 0, not tied at it."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


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
        p = _sigmoid(design @ params)
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


@dataclass(frozen=True)
class TreeModel:
    """A LightGBM booster with the number of input columns it was trained on."""

    booster: Any
    n_inputs: int

    def raw_score(self, inputs: np.ndarray) -> np.ndarray:
        """Return the log-odds of fraud for each row (all rows in one vectorised call)."""
        if inputs.shape[1] != self.n_inputs:
            raise StageError(f"the stage expects {self.n_inputs} input columns")
        # One thread: a micro-batch is small, and threads fight the consumer for its cores.
        return np.asarray(self.booster.predict(inputs, raw_score=True, num_threads=1))

    def to_text(self) -> str:
        """Return the model in LightGBM's text format."""
        return str(self.booster.model_to_string())


def fit_trees(inputs: np.ndarray, labels: np.ndarray, seed: int) -> TreeModel:
    """Fit the gradient-boosted classifier on (rows, inputs) and 0/1 labels."""
    import lightgbm

    params = TREE_PARAMS | {"seed": seed}
    dataset = lightgbm.Dataset(inputs, label=labels, params={"verbosity": -1})
    booster = lightgbm.train(params, dataset, num_boost_round=ROUNDS)
    return TreeModel(booster, inputs.shape[1])


def load_trees(text: str, n_inputs: int) -> TreeModel:
    """Parse LightGBM model text, checking it is a binary classifier over `n_inputs` columns.

    Raises StageError saying what is wrong (not LightGBM text, another objective, another
    width, LightGBM not installed).
    """
    try:
        import lightgbm
    except ImportError as exc:
        raise StageError(
            "the bundle has a supervised stage, which needs LightGBM: "
            "pip install 'fraudstream[stage]'"
        ) from exc
    # LightGBM aborts the whole process on some malformed text instead of raising, so the
    # text's framing is checked first (and `stage_from_dict` checks its SHA-256).
    if not text.startswith("tree\n") or "\nend of trees\n" not in text:
        raise StageError("the model file is not complete LightGBM model text")
    try:
        booster = lightgbm.Booster(model_str=text)
    except lightgbm.basic.LightGBMError as exc:
        raise StageError(f"LightGBM cannot read the model ({exc})") from exc
    header = text.split("\nTree=", 1)[0].splitlines()
    objective = next((line[10:] for line in header if line.startswith("objective=")), "")
    if not objective.startswith("binary"):
        raise StageError(f"the model's objective is {objective!r}, not binary")
    if booster.num_feature() != n_inputs:
        raise StageError(
            f"the model reads {booster.num_feature()} columns, the stage has {n_inputs}"
        )
    if booster.num_trees() < 1:
        raise StageError("the model has no trees")
    return TreeModel(booster, n_inputs)


@dataclass(frozen=True)
class SupervisedStage:
    """Fraud probabilities from the raw features, and the autoencoder's outputs if `inputs` says."""

    trees: TreeModel
    calibration: Calibration
    inputs: str

    def stage_inputs(
        self, detector: Detector, features: np.ndarray, parts: np.ndarray | None = None
    ) -> np.ndarray:
        """Return the stage's input matrix: raw features, then the autoencoder's outputs.

        `parts`, the score's parts from `Detector.outputs` on the same rows, spares a `parts`
        stage the autoencoder's forward pass.
        """
        if self.inputs == "raw":
            return np.asarray(features, dtype=np.float64)
        if self.inputs == "parts" and parts is not None:
            return np.hstack([features, parts])
        return np.hstack([features, autoencoder_outputs(detector, features, self.inputs)])

    def probability(
        self, detector: Detector, features: np.ndarray, parts: np.ndarray | None = None
    ) -> np.ndarray:
        """Return each row's calibrated fraud probability (`parts`: see `stage_inputs`)."""
        return self.probability_of_inputs(self.stage_inputs(detector, features, parts))

    def probability_of_inputs(self, inputs: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities from a ready input matrix (see `stage_inputs`)."""
        # Trees compare numbers: an overflowed input (inf or nan) goes down a branch like any
        # other and gets a probability; the autoencoder side alerts on it.
        return self.calibration(self.trees.raw_score(inputs))


def fit_stage(
    detector: Detector,
    features: np.ndarray,
    labels: np.ndarray,
    fit_rows: np.ndarray,
    validation_rows: np.ndarray,
    inputs: str = DEFAULT_INPUTS,
    seed: int = 0,
) -> SupervisedStage:
    """Fit the trees on `fit_rows` (frauds included) and calibrate them on `validation_rows`.

    Parameters:
        detector: the fitted autoencoder whose outputs become inputs.
        features, labels: all rows' raw features and 0/1 labels.
        fit_rows, validation_rows: row indices; validation needs frauds and normal rows.
        inputs: `raw`, `parts` or `residuals` (see `autoencoder_outputs`).
        seed: LightGBM's seed.
    """
    x = np.hstack([features, autoencoder_outputs(detector, features, inputs)])
    trees = fit_trees(x[fit_rows], labels[fit_rows], seed)
    calibration = fit_calibration(trees.raw_score(x[validation_rows]), labels[validation_rows])
    return SupervisedStage(trees, calibration, inputs)


def stage_to_dict(stage: SupervisedStage, feature_names: tuple[str, ...]) -> dict[str, Any]:
    """Return the manifest entry that describes a stage (its model text is stored apart)."""
    return {
        "library": "lightgbm",
        "format": "lightgbm-text",
        "sha256": hashlib.sha256(stage.trees.to_text().encode()).hexdigest(),
        "inputs": stage.inputs,
        "input_names": list(input_names(feature_names, stage.inputs)),
        "calibration": {
            "method": "platt",
            "slope": stage.calibration.slope,
            "intercept": stage.calibration.intercept,
        },
    }


def stage_from_dict(
    entry: dict[str, Any], model_text: str, feature_names: tuple[str, ...]
) -> SupervisedStage:
    """Rebuild a stage from its manifest entry and model text, checking every field.

    Raises StageError naming the first problem.
    """
    if not isinstance(entry, dict):
        raise StageError("the supervised entry must be an object")
    if entry.get("format") != "lightgbm-text":
        raise StageError(f"unknown stage format {entry.get('format')!r}; expected lightgbm-text")
    inputs = entry.get("inputs")
    if inputs not in INPUTS:
        raise StageError(f"stage inputs {inputs!r} must be one of {', '.join(INPUTS)}")
    names = input_names(feature_names, inputs)
    if entry.get("input_names") != list(names):
        raise StageError("the stage's input_names do not match the bundle's features")
    calibration = entry.get("calibration")
    if not isinstance(calibration, dict) or calibration.get("method") != "platt":
        raise StageError("the stage needs a platt calibration with slope and intercept")
    values = [calibration.get("slope"), calibration.get("intercept")]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise StageError("calibration slope and intercept must be numbers")
    slope, intercept = float(values[0]), float(values[1])  # type: ignore[arg-type]
    if not (np.isfinite(slope) and np.isfinite(intercept) and slope > 0):
        raise StageError("calibration slope must be positive and both values finite")
    if hashlib.sha256(model_text.encode()).hexdigest() != entry.get("sha256"):
        raise StageError("the model text does not match the sha256 in the manifest")
    trees = load_trees(model_text, len(names))
    return SupervisedStage(trees, Calibration(slope, intercept), inputs)
