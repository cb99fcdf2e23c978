"""A tiny real Keras model: the numpy scorer must reproduce it, and it must rank frauds higher."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from training.fitting.config import PRESETS, FitConfig
from training.fitting.network import build_autoencoder, export_layers, layer_widths
from training.scoring.bundle import load_detector, load_manifest

pytestmark = pytest.mark.keras


def test_numpy_forward_pass_matches_keras_within_1e_5(tiny_bundle, synthetic_csv):
    import keras  # here, not at the top: collecting this module must not load TensorFlow

    detector = load_detector(tiny_bundle)
    frame = pd.read_csv(synthetic_csv)
    raw = frame[list(detector.feature_names)].to_numpy()
    scaled = detector.scaler.transform(raw)
    for i, network in enumerate(detector.networks):
        model = keras.saving.load_model(tiny_bundle / f"network-{i}.keras")
        from_keras = model.predict(scaled.astype(np.float32), verbose=0)
        np.testing.assert_allclose(network.reconstruct(scaled), from_keras, rtol=1e-5, atol=1e-5)


def test_frauds_score_higher_than_normals(tiny_bundle, synthetic_csv):
    detector = load_detector(tiny_bundle)
    frame = pd.read_csv(synthetic_csv)
    scores = detector.score(frame[list(detector.feature_names)].to_numpy())
    assert roc_auc_score(frame["Class"], scores) > 0.8
    assert np.median(scores[frame["Class"] == 1]) > 2 * np.median(scores[frame["Class"] == 0])


def test_manifest_records_what_the_consumer_needs(tiny_bundle):
    manifest = load_manifest(tiny_bundle)
    assert manifest["features"] == [f"V{i}" for i in range(1, 29)] + ["Amount"]
    assert manifest["scaler"]["method"] == "standard"  # auto: few synthetic rows lie far out
    assert manifest["scaler"]["log"] == [False] * 28 + [True]  # only Amount, by default
    assert len(manifest["networks"]) == 2
    assert all(net["reconstruction_scale"] > 0 for net in manifest["networks"])
    assert manifest["threshold"]["strategy"] == "rate:0.002"
    assert manifest["threshold"]["chosen_on"] == "validation"
    assert set(manifest["metrics"]) == {"validation", "test"}
    assert manifest["training"]["data_fingerprint"].startswith("sha256:")
    metrics = json.loads((tiny_bundle / "metrics.json").read_text())
    assert metrics == manifest["metrics"]
    for name in ("pr_curve.png", "roc_curve.png", "score_histogram.png", "history.png"):
        assert (tiny_bundle / name).stat().st_size > 1000


def test_architecture_mirrors_the_encoder_and_exports_every_dense_layer():
    config = FitConfig(encoder=("2x", "0.25x"), noise=0.1)
    model = build_autoencoder(8, config, seed=0)
    layers = export_layers(model)
    assert [layer.kernel.shape for layer in layers] == [(8, 16), (16, 2), (2, 16), (16, 8)]
    assert [layer.activation for layer in layers] == ["tanh", "linear", "tanh", "linear"]


def test_reference_preset_is_the_tutorial_architecture():
    reference = PRESETS["reference"]
    assert layer_widths(reference, 29) == [27]
    model = build_autoencoder(29, reference, seed=0)
    assert [layer.activation for layer in export_layers(model)] == ["linear", "linear"]
    assert (reference.epochs, reference.batch_size, reference.train_on) == (3, 32, "all")
