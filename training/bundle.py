"""The model bundle: a directory that the consumer loads, written atomically, nothing pickled.

Layout::

    manifest.json      schema version, model version, features, scaler, networks, threshold,
                       metrics, training settings, data fingerprint, library versions
    weights.npz        every network's dense kernels and biases (numpy, allow_pickle=False)
    network-N.keras    each network in Keras' native format, for inspection and retraining
    metrics.json, history.json, *.png   the evaluation report
"""

from __future__ import annotations

import hashlib
import io
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

from training.errors import BundleError
from training.reference import reference_of
from training.scaling import Scaler
from training.scoring import (
    ACTIVATIONS,
    CodeDistance,
    Dense,
    Detector,
    Network,
    ReconstructionDistance,
)

SCHEMA_VERSION = 2
# Version 1 is version 2 without the scaler's log mask and the reconstruction distance.
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"


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
    weights = _weights_bytes(detector)
    created = datetime.now(UTC)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "model_version": f"{created:%Y%m%dT%H%M%SZ}-{hashlib.sha256(weights).hexdigest()[:8]}",
        "created_at": created.isoformat(timespec="seconds"),
        "features": list(detector.feature_names),
        "scaler": detector.scaler.to_dict(),
        "feature_weights": detector.feature_weights.tolist(),
        "networks": [
            {
                "error_scale": network.error_scale,
                "code_layer": network.code_layer,
                "distance_scale": None if network.distance is None else network.distance.scale,
                "reconstruction_scale": None if network.spread is None else network.spread.scale,
                "layers": [
                    {"units": int(layer.bias.shape[0]), "activation": layer.activation}
                    for layer in network.layers
                ],
            }
            for network in detector.networks
        ],
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
            _load_network(path, manifest, i, spec) for i, spec in enumerate(manifest["networks"])
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
    _check_score_reference(file, manifest)
    if not (_finite(scaler.center) and _finite(scaler.scale) and (scaler.scale > 0).all()):
        raise BundleError(f"{file}: scaler values must be finite with positive scales")
    if not (_finite(feature_weights) and (feature_weights >= 0).all()):
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


def _check_log_mask(file: Path, manifest: dict[str, Any], n: int) -> None:
    """From version 2 on, the scaler must say, with one JSON boolean per feature, what it logs."""
    if manifest["schema_version"] < 2:
        return
    log = manifest["scaler"].get("log") if isinstance(manifest["scaler"], dict) else None
    if not (isinstance(log, list) and len(log) == n and all(isinstance(v, bool) for v in log)):
        raise BundleError(f"{file}: scaler 'log' must be a list of {n} booleans, one per feature")


def _check_score_reference(file: Path, manifest: dict[str, Any]) -> None:
    """The optional score reference (the consumer's drift baseline) must be well formed."""
    try:
        reference_of(manifest)
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


def _load_network(path: Path, manifest: dict, index: int, spec: dict) -> Network:
    weights_file = path / manifest.get("weights_file", WEIGHTS)
    error_scale = _scale(path, index, spec, "error_scale")
    distance_scale = _scale(path, index, spec, "distance_scale")
    reconstruction_scale = _scale(path, index, spec, "reconstruction_scale")
    try:
        with np.load(weights_file, allow_pickle=False) as arrays:
            layers = []
            for j, layer in enumerate(spec["layers"]):
                if layer["activation"] not in ACTIVATIONS:
                    raise BundleError(
                        f"{path / MANIFEST}: unknown activation {layer['activation']!r}"
                    )
                kernel = arrays[f"network{index}_layer{j}_kernel"].astype(np.float64)
                bias = arrays[f"network{index}_layer{j}_bias"].astype(np.float64)
                if kernel.ndim != 2 or bias.shape != (kernel.shape[1],):
                    raise BundleError(
                        f"{weights_file}: network {index} layer {j} has kernel "
                        f"{kernel.shape} and bias {bias.shape}; they do not fit"
                    )
                if not (_finite(kernel) and _finite(bias)):
                    raise BundleError(f"{weights_file}: network {index} layer {j} is not finite")
                layers.append(Dense(kernel, bias, layer["activation"]))
            distance = None
            if distance_scale is not None:
                distance = CodeDistance(
                    arrays[f"network{index}_code_center"].astype(np.float64),
                    arrays[f"network{index}_code_precision"].astype(np.float64),
                    distance_scale,
                )
            spread = None
            if reconstruction_scale is not None:
                spread = ReconstructionDistance(
                    arrays[f"network{index}_reconstruction_center"].astype(np.float64),
                    reconstruction_scale,
                )
    except FileNotFoundError:
        raise BundleError(f"{weights_file}: missing; the bundle is incomplete") from None
    except KeyError as exc:
        raise BundleError(f"{weights_file}: lacks array {exc}; the bundle is incomplete") from exc
    except (OSError, ValueError) as exc:
        raise BundleError(f"{weights_file}: unreadable ({exc})") from exc
    if error_scale is None or not (np.isfinite(error_scale) and error_scale > 0):
        raise BundleError(f"{path / MANIFEST}: network {index} needs a positive error_scale")
    code_layer = int(spec.get("code_layer", 0))
    if not 0 <= code_layer < len(layers):
        raise BundleError(f"{path / MANIFEST}: network {index} code_layer is out of range")
    if distance is not None:
        width = layers[code_layer].bias.shape[0]
        if distance.center.shape != (width,) or distance.precision.shape != (width, width):
            raise BundleError(f"{weights_file}: network {index} code arrays do not match its code")
        if not (_finite(distance.center) and _finite(distance.precision)):
            raise BundleError(f"{weights_file}: network {index} code arrays are not finite")
        if not (np.isfinite(distance.scale) and distance.scale > 0):
            raise BundleError(f"{path / MANIFEST}: network {index} distance_scale must be positive")
    if spread is not None:
        if spread.center.shape != (layers[-1].bias.shape[0],) or not _finite(spread.center):
            raise BundleError(
                f"{weights_file}: network {index} reconstruction center must be finite, "
                "one value per feature"
            )
        if not (np.isfinite(spread.scale) and spread.scale > 0):
            raise BundleError(
                f"{path / MANIFEST}: network {index} reconstruction_scale must be positive"
            )
    return Network(tuple(layers), error_scale, code_layer, distance, spread)


def _scale(path: Path, index: int, spec: dict, key: str) -> float | None:
    """Read an optional scale of a network's spec; a value that is not a number names the key."""
    value = spec.get(key) if isinstance(spec, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BundleError(f"{path / MANIFEST}: network {index} {key} must be a number")
    return float(value)


def _finite(array: np.ndarray) -> bool:
    return bool(np.isfinite(array).all())


def _weights_bytes(detector: Detector) -> bytes:
    arrays = {}
    for i, network in enumerate(detector.networks):
        for j, layer in enumerate(network.layers):
            arrays[f"network{i}_layer{j}_kernel"] = layer.kernel
            arrays[f"network{i}_layer{j}_bias"] = layer.bias
        if network.distance is not None:
            arrays[f"network{i}_code_center"] = network.distance.center
            arrays[f"network{i}_code_precision"] = network.distance.precision
        if network.spread is not None:
            arrays[f"network{i}_reconstruction_center"] = network.spread.center
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


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
