"""The supervised stage's part of a model bundle: a manifest entry and LightGBM's model text.

The manifest's `supervised` entry holds the stage's inputs, calibration, the SHA-256 of the
model file and the decision's two thresholds and veto floor; `supervised.txt` holds the trees
in LightGBM's text format. Loading checks all of it, and a bundle without the entry scores with the
autoencoder alone (without LightGBM installed).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from training import bundle
from training.decision import Decision
from training.errors import BundleError
from training.stages import Scorer
from training.supervised import StageError, SupervisedStage, stage_from_dict, stage_to_dict

STAGE_FILE = "supervised.txt"
ENTRY = "supervised"


def stage_entry(stage: SupervisedStage, decision: Decision, feature_names: tuple[str, ...]):
    """Return the manifest entry for a stage and the decision that joins it to the autoencoder."""
    return stage_to_dict(stage, feature_names) | {
        "model_file": STAGE_FILE,
        "decision": decision.to_dict(),
    }


def write_stage(staging: Path, stage: SupervisedStage) -> None:
    """Write the stage's model text into a bundle being staged."""
    (staging / STAGE_FILE).write_text(stage.trees.to_text())


def load_scorer(path: str | Path) -> tuple[dict[str, Any], Scorer]:
    """Load a bundle as a Scorer: the autoencoder, and the supervised stage when it has one.

    Raises BundleError naming the file and the problem.
    """
    path = Path(path)
    manifest, detector = bundle.load_bundle(path)
    entry = manifest.get(ENTRY)
    if entry is None:
        return manifest, Scorer(detector)
    where = path / bundle.MANIFEST
    if not isinstance(entry, dict):
        raise BundleError(f"{where}: the {ENTRY!r} entry must be an object")
    decision = _decision(where, entry.get("decision"), detector.threshold)
    model_file = path / STAGE_FILE
    if entry.get("model_file") != STAGE_FILE:
        raise BundleError(f"{where}: the stage's model_file must be {STAGE_FILE!r}")
    try:
        text = model_file.read_text()
    except FileNotFoundError:
        raise BundleError(f"{model_file}: missing; the bundle is incomplete") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"{model_file}: unreadable ({exc})") from exc
    try:
        stage = stage_from_dict(entry, text, detector.feature_names)
    except StageError as exc:
        raise BundleError(f"{model_file}: {exc}") from exc
    return manifest, Scorer(detector, stage, decision)


def _decision(where: Path, entry: Any, score_threshold: float) -> Decision:
    if not isinstance(entry, dict):
        raise BundleError(f"{where}: the stage needs a 'decision' object with two thresholds")
    values = [entry.get(k) for k in ("probability_threshold", "score_threshold", "share")]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise BundleError(f"{where}: decision thresholds and share must be numbers")
    p, s, share = (float(v) for v in values)  # type: ignore[arg-type]
    # A probability threshold of 1 or more is allowed: the stage then never alerts alone.
    if not (math.isfinite(p) and p >= 0 and 0 <= share <= 1):
        raise BundleError(f"{where}: decision probability_threshold or share is out of range")
    if s != score_threshold:
        raise BundleError(f"{where}: decision score_threshold differs from threshold.value")
    # Bundles written before the veto floor have none: 0 vetoes nothing.
    floor = entry.get("probability_floor", 0.0)
    if not (isinstance(floor, int | float) and not isinstance(floor, bool)):
        raise BundleError(f"{where}: decision probability_floor must be a number")
    if not 0 <= floor <= 1:
        raise BundleError(f"{where}: decision probability_floor must be in [0, 1]")
    return Decision(p, s, share, float(floor))
