"""The supervised stage at scoring time: trees on the raw features, calibrated to a probability.

A LightGBM binary classifier (by default on the raw features alone; bundles may also give it
the autoencoder's score parts or per-feature residuals, see `INPUTS`) gives raw scores
(log-odds), which Platt scaling turns into fraud probabilities. `training.fitting.stage` fits
both; this module reads them back from a bundle and applies them. The model is stored as
LightGBM's own text format, never pickled.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.scoring.detector import Detector, ForwardPass
from training.scoring.trees import MissingLightGBM, TreeError, TreeModel

# `raw`: the features alone (the default, measured best in docs/supervised.md); `parts` and
# `residuals` add the autoencoder's outputs (see `autoencoder_outputs`).
INPUTS = ("raw", "parts", "residuals")
DEFAULT_INPUTS = "raw"
PART_NAMES = ("ae_error", "ae_code_distance", "ae_reconstruction_distance")


class StageError(ValueError):
    """A supervised stage's model text or settings are not usable."""


def autoencoder_outputs(detector: ForwardPass, features: np.ndarray, inputs: str) -> np.ndarray:
    """Return the columns the stage adds to the raw features, one row per input row.

    `raw`: none (an empty matrix). `parts`: the three parts of the autoencoder's score
    (reconstruction error, code distance, reconstruction distance; 0 for a part the detector
    lacks), averaged over its networks. `residuals`: those three, then each feature's signed
    residual (see `training.scoring.detector.ScoreOutputs`). Part sums match `Detector.score`.
    """
    if inputs not in INPUTS:
        raise StageError(f"stage inputs {inputs!r} must be one of {', '.join(INPUTS)}")
    if inputs == "raw":
        return np.zeros((len(features), 0))
    outputs = detector.outputs(features, residuals=inputs == "residuals")
    if outputs.residuals is None:
        return outputs.parts
    return np.hstack([outputs.parts, outputs.residuals])


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
        return sigmoid(self.slope * np.asarray(raw, dtype=np.float64) + self.intercept)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Return 1 / (1 + exp(-z)) without overflow; far negative z stay above 0, not tied at it.

    >>> sigmoid(np.array([0.0, -800.0])).tolist()[0], bool(sigmoid(np.array([-800.0]))[0] >= 0)
    (0.5, True)
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


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


def load_trees(text: str, n_inputs: int) -> TreeModel:
    """Parse LightGBM model text, checking it is a binary classifier over `n_inputs` columns.

    Raises StageError saying what is wrong (not LightGBM text, another objective, another
    width, LightGBM not installed).
    """
    # LightGBM aborts the whole process on some malformed text instead of returning an error,
    # so the text's framing is checked first (and `stage_from_dict` checks its SHA-256).
    if not text.startswith("tree\n") or "\nend of trees\n" not in text:
        raise StageError("the model file is not complete LightGBM model text")
    header = text.split("\nTree=", 1)[0].splitlines()
    objective = next((line[10:] for line in header if line.startswith("objective=")), "")
    if not objective.startswith("binary"):
        raise StageError(f"the model's objective is {objective!r}, not binary")
    try:
        trees = TreeModel(text)
    except MissingLightGBM as exc:
        raise StageError(str(exc)) from exc
    except TreeError as exc:
        raise StageError(f"LightGBM cannot read the model ({exc})") from exc
    if trees.n_inputs != n_inputs:
        raise StageError(f"the model reads {trees.n_inputs} columns, the stage has {n_inputs}")
    if trees.n_trees < 1:
        raise StageError("the model has no trees")
    return trees


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
