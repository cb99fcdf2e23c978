"""Training settings and the named presets they start from."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from training.fitting.scaler import METHODS
from training.fitting.threshold import parse_strategy
from training.scoring.errors import OptionError

SCALINGS = ("auto", *METHODS)

TRAIN_ON = ("auto", "normal", "all")
STAGES = ("auto", "autoencoder", "both")
# Whether the supervised stage may overrule an autoencoder alert on a row it rates below the
# validation split's fraud share (training/scoring/decision.py): base-rate, or none (never).
VETOES = ("base-rate", "none")
WEIGHTINGS = ("none", "inverse_error")
ACTIVATIONS = ("linear", "relu", "tanh", "elu", "sigmoid")


@dataclass(frozen=True)
class FitConfig:
    """Everything that decides how a bundle is trained; stored in its manifest."""

    label_column: str | None = "Class"
    drop_columns: tuple[str, ...] = ("Time",)
    features: tuple[str, ...] | None = None
    # Encoder widths, input side first; the decoder mirrors them. "Nx" means N times the
    # number of features, so one default fits any width of data.
    encoder: tuple[str, ...] = ("2x", "0.25x")
    activation: str = "tanh"
    bottleneck_activation: str = "linear"
    epochs: int = 100
    patience: int = 5
    # Bounds training time on large data: epochs are cut so that no network takes more
    # optimiser steps than this (at least 10 epochs are kept).
    max_steps: int = 20_000
    batch_size: int = 256
    learning_rate: float = 1e-3
    noise: float = 0.0
    ensemble: int = 1
    # auto: standard scaling, or central scaling when many training rows lie far out
    # (`training.fitting.contamination`).
    scaling: str = "auto"
    # Columns that go through a signed log before scaling (money amounts); ones the data
    # lacks are skipped, so the default fits data with or without an Amount column.
    log_columns: tuple[str, ...] = ("Amount",)
    clip: float | None = None
    # Networks learn from scaled rows clipped to +-train_clip, so the rare extreme values of a
    # contaminated training set shape the model less; scoring sees the values unclipped.
    train_clip: float | None = 3.0
    code_distance: bool = True
    reconstruction_distance: bool = True
    weighting: str = "inverse_error"
    # Both parts of the score are divided by this quantile of their validation values.
    score_quantile: float = 0.9
    train_on: str = "auto"
    threshold: str = "rate:0.002"
    # auto: the supervised stage too when the data has labels and enough frauds.
    stage: str = "auto"
    veto: str = "base-rate"
    seed: int = 0
    test_size: float = 0.33
    validation_size: float = 0.2
    split_seed: int = 2018

    @property
    def vetoes(self) -> bool:
        """Tell whether the stage may rule out the autoencoder's alerts (`--veto base-rate`)."""
        return self.veto == "base-rate"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __post_init__(self) -> None:
        """Check every value once, raising OptionError naming the bad one."""
        _check(self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}")
        _check(self.patience >= 0, f"--patience must be 0 or more, got {self.patience}")
        _check(self.max_steps >= 1, f"--max-steps must be at least 1, got {self.max_steps}")
        _check(
            self.train_clip is None or self.train_clip > 0,
            f"--train-clip must be positive, got {self.train_clip}",
        )
        _check(self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}")
        _check(
            self.learning_rate > 0, f"--learning-rate must be positive, got {self.learning_rate}"
        )
        _check(self.noise >= 0, f"--noise must be 0 or more, got {self.noise}")
        _check(
            0 < self.score_quantile < 1,
            f"--score-quantile must be in (0, 1), got {self.score_quantile}",
        )
        _check(self.ensemble >= 1, f"--ensemble must be at least 1, got {self.ensemble}")
        _check(0 < self.test_size < 1, f"--test-size must be in (0, 1), got {self.test_size}")
        _check(
            0 < self.validation_size < 1,
            f"--validation-size must be in (0, 1), got {self.validation_size}",
        )
        _check(self.scaling in SCALINGS, f"--scaling must be one of {', '.join(SCALINGS)}")
        _check(
            isinstance(self.log_columns, tuple | list)
            and all(isinstance(name, str) for name in self.log_columns),
            f"--log-columns must be a list of column names, got {self.log_columns!r}",
        )
        _check(self.clip is None or self.clip > 0, f"--clip must be positive, got {self.clip}")
        _check(self.weighting in WEIGHTINGS, f"--weighting must be one of {', '.join(WEIGHTINGS)}")
        _check(self.train_on in TRAIN_ON, f"--train-on must be one of {', '.join(TRAIN_ON)}")
        for name in (self.activation, self.bottleneck_activation):
            _check(
                name in ACTIVATIONS, f"activation {name!r} is not one of {', '.join(ACTIVATIONS)}"
            )
        _check(bool(self.encoder), "--encoder needs at least one layer width")
        for token in self.encoder:
            parse_width(token, 10)
        parse_strategy(self.threshold)
        _check(self.stage in STAGES, f"--stage must be one of {', '.join(STAGES)}")
        _check(self.veto in VETOES, f"--veto must be one of {', '.join(VETOES)}")


def parse_width(token: str, n_features: int) -> int:
    """Turn a width token into units: "16" is 16, "0.25x" is a quarter of the features.

    >>> parse_width("0.25x", 29), parse_width("2x", 29), parse_width("16", 29)
    (7, 58, 16)
    """
    text = token.strip()
    try:
        units = round(float(text[:-1]) * n_features) if text.endswith("x") else int(text)
    except (ValueError, OverflowError):
        raise OptionError(
            f"layer width {token!r} is neither a whole number nor a multiple like 0.25x"
        ) from None
    if float(text.rstrip("x")) <= 0:
        raise OptionError(f"layer width {token!r} must be positive")
    return max(1, units)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise OptionError(message)


PRESETS: dict[str, FitConfig] = {
    "default": FitConfig(),
    # The tutorial recipe this project grew from: a linear 29->27->29 autoencoder, Adam, MSE,
    # 3 epochs, batch 32, trained on every training row, standard scaling of the raw columns,
    # squared-error score.
    # Kept so its numbers can be reproduced; fixed only where it leaked (scaler fitted on the
    # training split, fixed score normalisation, a validation split for the threshold).
    "reference": FitConfig(
        encoder=("0.93x",),
        activation="linear",
        bottleneck_activation="linear",
        epochs=3,
        patience=0,
        batch_size=32,
        ensemble=1,
        scaling="standard",
        log_columns=(),
        clip=None,
        train_clip=None,
        code_distance=False,
        reconstruction_distance=False,
        weighting="none",
        train_on="all",
        stage="autoencoder",
    ),
}
