"""The command line's options: one parser for every command, and the settings built from it."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from pathlib import Path

from training.evaluation.metrics import ULB_PREVALENCE
from training.fitting.config import PRESETS, FitConfig
from training.scoring.errors import OptionError

# Options of `fit` that map one to one onto FitConfig fields: (flag, field, type, help).
_FIT_OPTIONS = [
    ("--epochs", "epochs", int, "most training epochs per network"),
    ("--patience", "patience", int, "early-stopping patience in epochs (0: train every epoch)"),
    ("--max-steps", "max_steps", int, "cap on optimiser steps per network (epochs are cut)"),
    ("--batch-size", "batch_size", int, "rows per gradient step"),
    ("--learning-rate", "learning_rate", float, "Adam learning rate"),
    ("--activation", "activation", str, "hidden-layer activation: tanh, relu, elu, linear..."),
    ("--bottleneck-activation", "bottleneck_activation", str, "activation of the code layer"),
    ("--noise", "noise", float, "std of Gaussian input noise while training (denoising); 0 off"),
    ("--ensemble", "ensemble", int, "networks trained with consecutive seeds, scores averaged"),
    ("--scaling", "scaling", str, "scaling on training rows: auto, central, robust, standard"),
    ("--weighting", "weighting", str, "per-feature error weights: inverse_error or none"),
    ("--score-quantile", "score_quantile", float, "validation quantile that scales score parts"),
    ("--train-on", "train_on", str, "normal, all, or auto (normal rows when labels exist)"),
    ("--threshold", "threshold", str, "recall:R, precision:P, rate:A (alert share) or value:V"),
    (
        "--stage",
        "stage",
        str,
        "auto (also the supervised stage when labels and enough frauds exist), autoencoder "
        "(today's detector alone) or both (fail unless the stage can be trained)",
    ),
    (
        "--veto",
        "veto",
        str,
        "base-rate (the supervised stage overrules autoencoder alerts on rows it rates below "
        "the validation fraud share: fewer false alerts, but it can hide a kind of fraud unlike "
        "any labelled one) or none (either stage alerts on its own)",
    ),
    ("--seed", "seed", int, "seed of the first network"),
    ("--test-size", "test_size", float, "share of rows held out for the test split"),
    ("--validation-size", "validation_size", float, "share of training rows for validation"),
    ("--split-seed", "split_seed", int, "seed of the train/validation/test split"),
]
# Score parts of `fit` switched with on/off: (flag, FitConfig field, help).
_SWITCHES = [
    ("--code-distance", "code_distance", "add the code's Mahalanobis distance to the score"),
    (
        "--reconstruction-distance",
        "reconstruction_distance",
        "add the reconstruction's distance from the mean training reconstruction",
    ),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train, score and evaluate fraudstream's autoencoder fraud detector.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_synth(commands)
    _add_fit(commands)
    _add_score(commands)
    _add_evaluate(commands)
    _add_compare(commands)
    return parser


def _add_synth(commands) -> None:
    p = commands.add_parser(
        "synth",
        help="write a synthetic transactions CSV (ULB schema)",
        description="Write synthetic card transactions with the ULB header "
        "Time,V1..V28,Amount,Class, for demos and tests.",
    )
    p.add_argument("--rows", type=int, required=True, help="number of transactions")
    p.add_argument("--out", type=Path, required=True, help="CSV file to write")
    p.add_argument("--fraud-rate", type=float, default=0.00173, help="share of frauds (0.00173)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")


def _add_fit(commands) -> None:
    p = commands.add_parser(
        "fit",
        help="train a detector and write a model bundle",
        description="Train the autoencoder on a CSV, choose the alert threshold on a validation "
        "split, evaluate on an untouched test split and write a model bundle.",
    )
    p.add_argument("--data", type=Path, required=True, help="training CSV")
    p.add_argument("--model-dir", type=Path, required=True, help="bundle directory (must be new)")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="default",
        help="starting settings: default, or reference (the tutorial's linear 29-27-29 recipe); "
        "other options override it",
    )
    p.add_argument("--label-column", help="0/1 label column, ignored as a feature (Class); '' none")
    p.add_argument("--drop-columns", help="comma-separated columns to ignore (Time); '' none")
    p.add_argument("--features", help="comma-separated feature columns (all other numeric)")
    p.add_argument(
        "--log-columns",
        help="comma-separated columns scaled as sign(x)*log1p(|x|), such as money amounts; "
        "absent ones are skipped (Amount); '' none",
    )
    p.add_argument(
        "--encoder",
        help="comma-separated encoder widths, input side first; Nx is N times the number of "
        "features; the decoder mirrors it (default 2x,0.25x)",
    )
    p.add_argument(
        "--clip", type=float, help="clip scaled features to +-CLIP when scoring; 0 off (off)"
    )
    p.add_argument(
        "--train-clip",
        type=float,
        help="clip scaled features to +-TRAIN_CLIP for training only; 0 off (3)",
    )
    for flag, field, text in _SWITCHES:
        on = "on" if getattr(FitConfig(), field) else "off"
        p.add_argument(flag, dest=field, choices=["on", "off"], help=f"{text} ({on})")
    for flag, field, kind, text in _FIT_OPTIONS:
        p.add_argument(flag, dest=field, type=kind, help=f"{text} ({getattr(FitConfig(), field)})")


def _add_score(commands) -> None:
    p = commands.add_parser(
        "score",
        help="score a CSV with a bundle",
        description="Write a CSV with columns score and alert (0/1), one row per input row, in "
        "input order. Label and other non-feature columns are ignored.",
    )
    p.add_argument("--model-dir", type=Path, required=True, help="model bundle directory")
    p.add_argument("--data", type=Path, required=True, help="CSV with the bundle's features")
    p.add_argument("--out", type=Path, required=True, help="CSV file to write")


def _add_evaluate(commands) -> None:
    p = commands.add_parser(
        "evaluate",
        help="evaluate a bundle on a labelled CSV",
        description="Compute ROC AUC, average precision and the confusion counts at the bundle's "
        "threshold; write metrics.json, pr_curve.png, roc_curve.png, score_histogram.png.",
    )
    p.add_argument("--model-dir", type=Path, required=True, help="model bundle directory")
    p.add_argument("--data", type=Path, required=True, help="labelled CSV")
    p.add_argument("--report-dir", type=Path, required=True, help="directory for the report")
    _add_prevalence(p)


def _add_compare(commands) -> None:
    p = commands.add_parser(
        "compare",
        help="compare the autoencoder with the reference recipe and strong baselines",
        description="Train the default autoencoder, the reference preset, Isolation Forest and "
        "PCA on the same splits over several seeds; print ROC AUC and average precision, "
        "also re-weighted to the production fraud rate.",
    )
    p.add_argument("--data", type=Path, required=True, help="labelled CSV")
    p.add_argument("--report-dir", type=Path, help="write results and curves here")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds/splits (5)")
    p.add_argument(
        "--protocol",
        default="all",
        help="comma-separated protocols: unsupervised (labels unused but by the labelled "
        "methods), normal (normal-only training), production (training rows carry frauds at "
        "--prevalence, every other fraud is tested), new_fraud (recall on a hidden group of "
        "frauds at the alert budget: autoencoder, supervised, both), or all (all but new_fraud)",
    )
    _add_prevalence(p)
    p.add_argument(
        "--methods",
        default="autoencoder,reference,isolation_forest,pca",
        help="comma-separated subset of autoencoder,reference,isolation_forest,pca and the "
        "labelled methods supervised,both (autoencoder,reference,isolation_forest,pca)",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=OPTIONS",
        help="also run the autoencoder with these fit options, e.g. "
        '--variant "std=--scaling standard"; repeatable',
    )
    p.add_argument("--label-column", default="Class", help="0/1 label column (Class)")
    p.add_argument("--drop-columns", default="Time", help="columns to ignore (Time); '' none")


def _add_prevalence(p) -> None:
    p.add_argument(
        "--prevalence",
        type=float,
        default=ULB_PREVALENCE,
        help="fraud rate the detector will meet in production; metrics are also re-weighted "
        f"to it ({ULB_PREVALENCE}, the ULB data's rate)",
    )


def fit_config(args) -> FitConfig:
    """Build the FitConfig from the preset and the options given on the command line."""
    changes = {field: getattr(args, field) for _, field, _, _ in _FIT_OPTIONS}
    changes = {key: value for key, value in changes.items() if value is not None}
    if args.label_column is not None:
        changes["label_column"] = args.label_column or None
    if args.drop_columns is not None:
        changes["drop_columns"] = names(args.drop_columns)
    if args.features is not None:
        changes["features"] = names(args.features) or None
    if args.encoder is not None:
        changes["encoder"] = names(args.encoder)
    if args.clip is not None:
        changes["clip"] = args.clip or None
    if args.train_clip is not None:
        changes["train_clip"] = args.train_clip or None
    for _, field, _ in _SWITCHES:
        if getattr(args, field) is not None:
            changes[field] = getattr(args, field) == "on"
    if args.log_columns is not None:
        changes["log_columns"] = names(args.log_columns)
    return dataclasses.replace(PRESETS[args.preset], **changes)


# Fit settings that compare sets itself for every method, so a variant may not change them.
_SET_BY_COMPARE = (
    "features",
    "drop_columns",
    "label_column",
    "train_on",
    "threshold",
    "seed",
    "test_size",
    "validation_size",
    "split_seed",
)


def variant_configs(specs: list[str], taken: tuple[str, ...] = ()) -> dict[str, FitConfig]:
    """Turn `LABEL=fit options` specs into fit settings; a bad spec raises OptionError."""
    configs: dict[str, FitConfig] = {}
    for spec in specs:
        label, sep, options = spec.partition("=")
        label = label.strip()
        if not sep or not label:
            raise OptionError(
                f"--variant {spec!r}: write LABEL=OPTIONS, e.g. std='--scaling standard'"
            )
        if label in taken or label in configs:
            raise OptionError(f"--variant {label!r}: that label is already taken")
        try:
            args = build_parser().parse_args(
                ["fit", "--data", "-", "--model-dir", "-", *shlex.split(options)]
            )
        except SystemExit:
            raise OptionError(
                f"--variant {label!r}: {options!r} is not a list of fit options"
            ) from None
        ignored = [
            "--" + field.replace("_", "-")
            for field in _SET_BY_COMPARE
            if getattr(args, field) is not None
        ]
        if ignored:
            raise OptionError(
                f"--variant {label!r}: compare decides {', '.join(ignored)} for every method; "
                "use compare's own options"
            )
        configs[label] = fit_config(args)
    return configs


def names(text: str) -> tuple[str, ...]:
    """Split a comma-separated option into stripped, non-empty names."""
    return tuple(name.strip() for name in text.split(",") if name.strip())
