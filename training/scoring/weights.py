"""The networks' arrays in a bundle's weights.npz: written from a Detector, read back checked.

Each network i stores `network{i}_layer{j}_kernel` and `_bias` for every dense layer, and, when
it has them, `network{i}_code_center`, `network{i}_code_precision` and
`network{i}_reconstruction_center`; the manifest's `networks` entry holds the rest (activations,
code layer, scales). numpy's npz format with allow_pickle=False: nothing is unpickled.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from training.scoring.detector import Detector
from training.scoring.errors import BundleError
from training.scoring.network import (
    ACTIVATIONS,
    CodeDistance,
    Dense,
    Network,
    ReconstructionDistance,
)

MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"


def weights_bytes(detector: Detector) -> bytes:
    """Return the npz file of every network's arrays."""
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


def network_spec(network: Network) -> dict[str, Any]:
    """Return a network's manifest entry: what its arrays do not say."""
    return {
        "error_scale": network.error_scale,
        "code_layer": network.code_layer,
        "distance_scale": None if network.distance is None else network.distance.scale,
        "reconstruction_scale": None if network.spread is None else network.spread.scale,
        "layers": [
            {"units": int(layer.bias.shape[0]), "activation": layer.activation}
            for layer in network.layers
        ],
    }


def load_network(path: Path, manifest: dict, index: int, spec: dict) -> Network:
    """Read network `index` of the bundle at `path`, checking every array.

    Raises:
        BundleError: naming the file and the problem (missing array, wrong shape, not finite).
    """
    weights_file = path / manifest.get("weights_file", WEIGHTS)
    manifest_file = path / MANIFEST
    error_scale = _scale(manifest_file, index, spec, "error_scale")
    distance_scale = _scale(manifest_file, index, spec, "distance_scale")
    reconstruction_scale = _scale(manifest_file, index, spec, "reconstruction_scale")
    try:
        with np.load(weights_file, allow_pickle=False) as arrays:
            layers = []
            for j, layer in enumerate(spec["layers"]):
                if layer["activation"] not in ACTIVATIONS:
                    raise BundleError(
                        f"{manifest_file}: unknown activation {layer['activation']!r}"
                    )
                kernel = arrays[f"network{index}_layer{j}_kernel"].astype(np.float64)
                bias = arrays[f"network{index}_layer{j}_bias"].astype(np.float64)
                if kernel.ndim != 2 or bias.shape != (kernel.shape[1],):
                    raise BundleError(
                        f"{weights_file}: network {index} layer {j} has kernel "
                        f"{kernel.shape} and bias {bias.shape}; they do not fit"
                    )
                if not (finite(kernel) and finite(bias)):
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
        raise BundleError(f"{manifest_file}: network {index} needs a positive error_scale")
    code_layer = int(spec.get("code_layer", 0))
    if not 0 <= code_layer < len(layers):
        raise BundleError(f"{manifest_file}: network {index} code_layer is out of range")
    if distance is not None:
        width = layers[code_layer].bias.shape[0]
        if distance.center.shape != (width,) or distance.precision.shape != (width, width):
            raise BundleError(f"{weights_file}: network {index} code arrays do not match its code")
        if not (finite(distance.center) and finite(distance.precision)):
            raise BundleError(f"{weights_file}: network {index} code arrays are not finite")
        if not (np.isfinite(distance.scale) and distance.scale > 0):
            raise BundleError(f"{manifest_file}: network {index} distance_scale must be positive")
    if spread is not None:
        if spread.center.shape != (layers[-1].bias.shape[0],) or not finite(spread.center):
            raise BundleError(
                f"{weights_file}: network {index} reconstruction center must be finite, "
                "one value per feature"
            )
        if not (np.isfinite(spread.scale) and spread.scale > 0):
            raise BundleError(
                f"{manifest_file}: network {index} reconstruction_scale must be positive"
            )
    return Network(tuple(layers), error_scale, code_layer, distance, spread)


def _scale(manifest_file: Path, index: int, spec: dict, key: str) -> float | None:
    """Read an optional scale of a network's spec; a value that is not a number names the key."""
    value = spec.get(key) if isinstance(spec, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BundleError(f"{manifest_file}: network {index} {key} must be a number")
    return float(value)


def finite(array: np.ndarray) -> bool:
    """Tell whether every value of an array is finite."""
    return bool(np.isfinite(array).all())
