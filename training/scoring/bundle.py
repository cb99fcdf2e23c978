"""The model bundle: a directory that the consumer loads, written atomically, nothing pickled.

Layout::

    manifest.json      schema version, model version, features, scaler, networks, threshold,
                       metrics, training settings, data fingerprint, library versions, and the
                       supervised stage's entry (inputs, calibration, decision) when it has one
    weights.npz        every network's dense kernels and biases (numpy, allow_pickle=False)
    supervised.txt     the supervised stage's trees in LightGBM's text format, when it has one
    network-N.keras    each network in Keras' native format, for inspection and retraining
    metrics.json, history.json, *.png   the evaluation report

A bundle without the `supervised` entry scores with the autoencoder alone (without LightGBM).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from training.scoring.baseline import baseline_of
from training.scoring.decision import Decision
from training.scoring.detector import Detector
from training.scoring.errors import BundleError
from training.scoring.scaling import Scaler
from training.scoring.scorer import Scorer
from training.scoring.stage import StageError, SupervisedStage, stage_from_dict, stage_to_dict
from training.scoring.weights import (
    MANIFEST,
    WEIGHTS,
    finite,
    load_network,
    network_spec,
    weights_bytes,
)

SCHEMA_VERSION = 2
# Version 1 is version 2 without the scaler's log mask and the reconstruction distance.
READABLE_VERSIONS = (1, 2)
STAGE_FILE = "supervised.txt"
STAGE_ENTRY = "supervised"


def save_bundle(
    target: str | Path,
    detector: Detector,
    fields: dict[str, Any],
    write_extras: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Write a bundle to `target` atomically and return its manifest.

    `fields` (threshold details, metrics, training settings...) go into the manifest beside
    what the detector defines. `write_extras(staging_dir)` may add files (Keras models,
    plots); if anything fails, nothing is left at `target`.
    """
    target = Path(target)
    if target.exists():
        raise BundleError(f"{target}: already exists; choose a new --model-dir or remove it")
    weights = weights_bytes(detector)
    created = datetime.now(UTC)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "model_version": f"{created:%Y%m%dT%H%M%SZ}-{hashlib.sha256(weights).hexdigest()[:8]}",
        "created_at": created.isoformat(timespec="seconds"),
        "features": list(detector.feature_names),
        "scaler": detector.scaler.to_dict(),
        "feature_weights": detector.feature_weights.tolist(),
        "networks": [network_spec(network) for network in detector.networks],
        "weights_file": WEIGHTS,
        "score": (
            "scaled = (signed_log(features) - scaler.center) / scaler.scale, where signed_log "
            "is sign(x) * log1p(|x|) on the columns scaler.log marks, then clipped to "
            "+-scaler.clip when it is set; score = mean over "
            "networks of sum(feature_weights * (scaled - reconstruction)^2) / error_scale "
            "+ (code - code_center)' code_precision (code - code_center) / distance_scale "
            "(when distance_scale is set) + sum((reconstruction - reconstruction_center)^2) / "
            "reconstruction_scale (when reconstruction_scale is set); "
            "alert when score > threshold.value"
        ),
        **fields,
        "threshold": {**fields.get("threshold", {}), "value": float(detector.threshold)},
        "versions": library_versions(),
    }
    with _staged(target) as staging:
        (staging / WEIGHTS).write_bytes(weights)
        if write_extras is not None:
            write_extras(staging)
        _write_json(staging / MANIFEST, manifest)
    return manifest


def load_manifest(path: str | Path) -> dict[str, Any]:
    """Read and check a bundle's manifest; raise BundleError naming the path and the problem."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: no model bundle here (not a directory); train one with fit")
    file = path / MANIFEST
    try:
        manifest = json.loads(file.read_text())
    except FileNotFoundError:
        raise BundleError(f"{file}: missing; {path} is not a complete model bundle") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{file}: not valid JSON ({exc})") from exc
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if version not in READABLE_VERSIONS:
        raise BundleError(
            f"{file}: schema version {version!r} is not supported (this fraudstream reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}); retrain the bundle"
        )
    features = manifest.get("features")
    if (
        not isinstance(features, list)
        or not features
        or not all(isinstance(f, str) and f for f in features)
        or len(set(features)) != len(features)
    ):
        raise BundleError(f"{file}: 'features' must be a non-empty list of distinct names")
    for key in ("model_version", "scaler", "networks", "threshold", "feature_weights"):
        if key not in manifest:
            raise BundleError(f"{file}: missing the {key!r} entry")
    return manifest


def load_detector(path: str | Path) -> Detector:
    """Load a bundle as a TensorFlow-free Detector; see `load_bundle`."""
    return load_bundle(path)[1]


def load_bundle(path: str | Path) -> tuple[dict[str, Any], Detector]:
    """Load a bundle's manifest and its TensorFlow-free Detector, checking every array.

    Raises BundleError naming the file and the problem: a wrong shape, a value that is not
    finite, a scale that is not positive.
    """
    path = Path(path)
    manifest = load_manifest(path)
    n = len(manifest["features"])
    file = path / MANIFEST
    try:
        scaler = Scaler.from_dict(manifest["scaler"])
        feature_weights = np.asarray(manifest["feature_weights"], dtype=np.float64)
        threshold = float(manifest["threshold"]["value"])
        networks = tuple(
            load_network(path, manifest, i, spec) for i, spec in enumerate(manifest["networks"])
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise BundleError(f"{file}: malformed entry ({exc!r})") from exc
    if (
        scaler.center.shape != (n,)
        or scaler.scale.shape != (n,)
        or scaler.log.shape != (n,)
        or feature_weights.shape != (n,)
    ):
        raise BundleError(f"{file}: scaler or feature weights do not match {n} features")
    _check_log_mask(file, manifest, n)
    _check_score_baseline(file, manifest)
    if not (finite(scaler.center) and finite(scaler.scale) and (scaler.scale > 0).all()):
        raise BundleError(f"{file}: scaler values must be finite with positive scales")
    if not (finite(feature_weights) and (feature_weights >= 0).all()):
        raise BundleError(f"{file}: feature weights must be finite and not negative")
    if not networks or not np.isfinite(threshold):
        raise BundleError(f"{file}: needs at least one network and a finite threshold")
    for i, network in enumerate(networks):
        widths = [layer.kernel.shape for layer in network.layers]
        if (
            widths[0][0] != n
            or widths[-1][1] != n
            or any(a[1] != b[0] for a, b in zip(widths, widths[1:], strict=False))
        ):
            raise BundleError(f"{path / WEIGHTS}: network {i} layer shapes {widths} do not chain")
    detector = Detector(tuple(manifest["features"]), scaler, networks, feature_weights, threshold)
    return manifest, detector


def load_scorer(path: str | Path) -> tuple[dict[str, Any], Scorer]:
    """Load a bundle as a Scorer: the autoencoder, and the supervised stage when it has one.

    Raises BundleError naming the file and the problem.
    """
    path = Path(path)
    manifest, detector = load_bundle(path)
    entry = manifest.get(STAGE_ENTRY)
    if entry is None:
        return manifest, Scorer(detector)
    where = path / MANIFEST
    if not isinstance(entry, dict):
        raise BundleError(f"{where}: the {STAGE_ENTRY!r} entry must be an object")
    try:
        decision = Decision.from_dict(entry.get("decision"), detector.threshold)
    except ValueError as exc:
        raise BundleError(f"{where}: {exc}") from exc
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


def stage_entry(
    stage: SupervisedStage, decision: Decision, feature_names: tuple[str, ...]
) -> dict[str, Any]:
    """Return the manifest entry for a stage and the decision that joins it to the autoencoder."""
    return stage_to_dict(stage, feature_names) | {
        "model_file": STAGE_FILE,
        "decision": decision.to_dict(),
    }


def write_stage(staging: Path, stage: SupervisedStage) -> None:
    """Write the stage's model text into a bundle being staged."""
    (staging / STAGE_FILE).write_text(stage.trees.to_text())


def _check_log_mask(file: Path, manifest: dict[str, Any], n: int) -> None:
    """From version 2 on, the scaler must say, with one JSON boolean per feature, what it logs."""
    if manifest["schema_version"] < 2:
        return
    log = manifest["scaler"].get("log") if isinstance(manifest["scaler"], dict) else None
    if not (isinstance(log, list) and len(log) == n and all(isinstance(v, bool) for v in log)):
        raise BundleError(f"{file}: scaler 'log' must be a list of {n} booleans, one per feature")


def _check_score_baseline(file: Path, manifest: dict[str, Any]) -> None:
    """The optional score baseline (the consumer's drift baseline) must be well formed."""
    try:
        baseline_of(manifest)
    except ValueError as exc:
        raise BundleError(f"{file}: 'score_reference' {exc}") from exc


def library_versions() -> dict[str, str]:
    """Return the versions of Python and of the libraries that shape a bundle."""
    versions = {"python": platform.python_version()}
    for name in ("fraudstream", "numpy", "scikit-learn", "pandas", "tensorflow", "keras"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """Yield a fresh directory beside `target`; rename it to `target` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a consumer may run as another user
    try:
        yield staging
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
