"""Build, fit and export a Keras autoencoder. The only module that imports TensorFlow."""

from __future__ import annotations

import os

import numpy as np

from training.console import Log, stderr
from training.fitting.config import FitConfig, parse_width
from training.scoring.network import Dense

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def layer_widths(config: FitConfig, n_features: int) -> list[int]:
    """Return the encoder widths for this many features; the last one (the code) is < n_features.

    >>> from training.fitting.config import PRESETS
    >>> layer_widths(PRESETS["reference"], 29), layer_widths(PRESETS["reference"], 6)
    ([27], [5])
    """
    widths = [parse_width(token, n_features) for token in config.encoder]
    widths[-1] = max(1, min(widths[-1], n_features - 1))
    return widths


def build_autoencoder(n_features: int, config: FitConfig, seed: int):
    """Return a compiled Keras autoencoder: encoder widths, then their mirror, then the output."""
    import keras

    keras.utils.set_random_seed(seed)
    widths = layer_widths(config, n_features)
    inputs = keras.Input(shape=(n_features,), name="features")
    x = inputs
    if config.noise > 0:
        # Denoising: inactive at inference, so the exported dense layers are the whole model.
        x = keras.layers.GaussianNoise(config.noise, seed=seed)(x)
    hidden = [*widths, *reversed(widths[:-1])]
    for i, units in enumerate(hidden):
        is_code = i == len(widths) - 1
        activation = config.bottleneck_activation if is_code else config.activation
        name = "code" if is_code else f"dense_{i}"
        x = keras.layers.Dense(units, activation=activation, name=name)(x)
    outputs = keras.layers.Dense(n_features, activation="linear", name="reconstruction")(x)
    model = keras.Model(inputs, outputs, name="autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse")
    return model


def fit_autoencoder(
    fit_rows: np.ndarray,
    validation_rows: np.ndarray | None,
    config: FitConfig,
    seed: int,
    log: Log | None = None,
    label: str = "net",
):
    """Fit an autoencoder on scaled rows; return the model and its loss history.

    With `patience` > 0 and validation rows, training stops when the validation loss has not
    improved for `patience` epochs and keeps the best weights. Epochs are capped so that
    training takes at most `max_steps` optimiser steps (but at least 10 epochs).
    """
    import keras

    model = build_autoencoder(fit_rows.shape[1], config, seed)
    steps_per_epoch = -(-len(fit_rows) // config.batch_size)
    epochs = min(config.epochs, max(10, config.max_steps // steps_per_epoch))
    callbacks: list = [_epoch_logger(log or stderr, label, epochs)]
    validation = None
    if validation_rows is not None and len(validation_rows) > 0:
        rows = validation_rows.astype(np.float32)
        validation = (rows, rows)
    if config.patience > 0 and validation is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=config.patience,
                min_delta=1e-5,
                restore_best_weights=True,
            )
        )
    history = model.fit(
        fit_rows.astype(np.float32),
        fit_rows.astype(np.float32),
        validation_data=validation,
        epochs=epochs,
        batch_size=config.batch_size,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    losses = {key: [float(v) for v in values] for key, values in history.history.items()}
    return model, losses


def export_layers(model) -> tuple[Dense, ...]:
    """Return the model's dense layers as numpy `Dense` layers for the TensorFlow-free scorer."""
    import keras

    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel, bias = (np.asarray(w, dtype=np.float64) for w in layer.get_weights())
            activation = str(keras.activations.serialize(layer.activation))
            layers.append(Dense(kernel, bias, activation))
        elif not isinstance(layer, keras.layers.InputLayer | keras.layers.GaussianNoise):
            raise TypeError(f"cannot export layer {layer.name!r} of type {type(layer).__name__}")
    return tuple(layers)


def _epoch_logger(log: Log, label: str, epochs: int):
    """Return a Keras callback that logs one line per epoch: network, epoch, losses."""
    import keras

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs=None) -> None:
            losses = [f"{k} {v:.5f}" for k, v in (logs or {}).items() if "loss" in k]
            log(f"{label} epoch {epoch + 1}/{epochs}  " + "  ".join(losses))

    return EpochLog()
