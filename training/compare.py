"""Compare detectors on the same splits: the autoencoder, the reference recipe and baselines.

For each seed the data is split (stratified, 67/33); every method learns from the same training
rows and is scored on the same untouched test rows. Two protocols: `unsupervised` (labels unused,
training rows contaminated with frauds as they come) and `normal` (training on normal rows only).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score

from training import data
from training.config import PRESETS, FitConfig
from training.errors import DataError, OptionError
from training.pipeline import fit_detector, split_rows
from training.scaling import fit_scaler
from training.stage_methods import both_method, supervised_method

PROTOCOLS = ("unsupervised", "normal")
NEW_FRAUD = "new_fraud"
# The fraud rate of the full ULB data (492 in 284,807): budgets of the new-fraud protocol are
# spent as they would be at that rate.
PRODUCTION_PREVALENCE = 0.00173
# fit(dataset, fit_rows, validation_rows, seed) -> score(test_features) -> scores
Method = Callable[[data.Dataset, np.ndarray, np.ndarray, int], Callable[[np.ndarray], np.ndarray]]


@dataclass(frozen=True)
class Outcome:
    """One method's result on one seed and protocol."""

    method: str
    protocol: str
    seed: int
    roc_auc: float
    average_precision: float


def autoencoder_method(config: FitConfig) -> Method:
    def fit(dataset, fit_rows, validation_rows, seed):
        seeded = dataclasses.replace(config, seed=seed * 1000)
        fitted = fit_detector(
            dataset.features, dataset.feature_names, fit_rows, validation_rows, seeded, log=_quiet
        )
        return fitted.detector.score

    return fit


def isolation_forest(dataset, fit_rows, validation_rows, seed):
    rows = np.concatenate([fit_rows, validation_rows])
    forest = IsolationForest(random_state=seed).fit(dataset.features[rows])
    return lambda x: -forest.score_samples(x)


def pca_reconstruction(dataset, fit_rows, validation_rows, seed):
    """Squared reconstruction error from the principal components that explain 90% of variance."""
    rows = np.concatenate([fit_rows, validation_rows])
    scaler = fit_scaler(dataset.features[rows], "standard")
    pca = PCA(n_components=0.9, svd_solver="full", random_state=seed).fit(
        scaler.transform(dataset.features[rows])
    )

    def score(x):
        scaled = scaler.transform(x)
        return np.square(scaled - pca.inverse_transform(pca.transform(scaled))).sum(axis=1)

    return score


METHODS: dict[str, Method] = {
    "autoencoder": autoencoder_method(PRESETS["default"]),
    "reference": autoencoder_method(PRESETS["reference"]),
    "isolation_forest": isolation_forest,
    "pca": pca_reconstruction,
}
# Methods that learn from labels (the supervised stage): run when named in --methods.
LABELLED_METHODS: dict[str, Method] = {
    "supervised": supervised_method,
    "both": both_method(),
}


def run_comparison(
    dataset: data.Dataset,
    seeds: int,
    protocols: tuple[str, ...],
    methods: dict[str, Method],
    log: Callable[[str], None],
    on_scores: Callable[[str, str, int, np.ndarray, np.ndarray], None] | None = None,
) -> list[Outcome]:
    """Evaluate every method on every seed and protocol; return one Outcome per run."""
    labels = dataset.require_labels("compare")
    outcomes = []
    for seed in range(seeds):
        splits = split_rows(
            labels, dataset.n_rows, dataclasses.replace(PRESETS["default"], split_seed=seed)
        )
        test_labels = labels[splits.test]
        for protocol in protocols:
            fit_rows, val_rows = splits.fit, splits.validation
            if protocol == "normal":
                fit_rows = fit_rows[labels[fit_rows] == 0]
                val_rows = val_rows[labels[val_rows] == 0]
            for name, method in methods.items():
                if protocol == "normal" and name in LABELLED_METHODS:
                    continue  # no labelled frauds to learn from
                score = method(dataset, fit_rows, val_rows, seed)
                scores = score(dataset.features[splits.test])
                outcome = Outcome(
                    name,
                    protocol,
                    seed,
                    float(roc_auc_score(test_labels, scores)),
                    float(average_precision_score(test_labels, scores)),
                )
                log(
                    f"seed {seed} {protocol:<12} {name:<17} ROC AUC {outcome.roc_auc:.4f}  "
                    f"AP {outcome.average_precision:.4f}"
                )
                outcomes.append(outcome)
                if on_scores is not None:
                    on_scores(name, protocol, seed, test_labels, scores)
    return outcomes


def summarise(outcomes: list[Outcome]) -> list[dict]:
    """Return mean and standard deviation of ROC AUC and AP per protocol and method.

    >>> rows = summarise([Outcome("a", "p", 0, 0.8, 0.4), Outcome("a", "p", 1, 0.9, 0.6)])
    >>> round(rows[0]["roc_auc_mean"], 3), round(rows[0]["roc_auc_std"], 3), rows[0]["seeds"]
    (0.85, 0.05, 2)
    """
    keys = list(dict.fromkeys((o.protocol, o.method) for o in outcomes))
    rows = []
    for protocol, method in keys:
        group = [o for o in outcomes if (o.protocol, o.method) == (protocol, method)]
        auc = np.array([o.roc_auc for o in group])
        ap = np.array([o.average_precision for o in group])
        rows.append(
            {
                "protocol": protocol,
                "method": method,
                "seeds": len(group),
                "roc_auc_mean": float(auc.mean()),
                "roc_auc_std": float(auc.std()),
                "ap_mean": float(ap.mean()),
                "ap_std": float(ap.std()),
            }
        )
    return rows


def format_table(rows: list[dict], title: str = "") -> str:
    """Return the summary as a Markdown table."""
    lines = [f"**{title}**", ""] if title else []
    lines += [
        "| protocol | method | ROC AUC (mean ± sd) | average precision (mean ± sd) | seeds |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['protocol']} | {r['method']} | {r['roc_auc_mean']:.3f} ± {r['roc_auc_std']:.3f} "
            f"| {r['ap_mean']:.3f} ± {r['ap_std']:.3f} | {r['seeds']} |"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="labelled CSV")
    parser.add_argument("--report-dir", type=Path, help="write results and curves here")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds/splits (3)")
    parser.add_argument(
        "--protocol",
        choices=[*PROTOCOLS, "both", NEW_FRAUD],
        default="both",
        help="unsupervised (labels unused but by the labelled methods), normal (normal-only "
        "training), both (both), or new_fraud (recall on a hidden group of frauds at the alert "
        "budget, for the autoencoder, supervised and both stages)",
    )
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated subset of {','.join(METHODS)} and the labelled methods "
        f"{','.join(LABELLED_METHODS)} ({','.join(METHODS)})",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=OPTIONS",
        help="also run the autoencoder with these fit options, e.g. "
        '--variant "std=--scaling standard"; repeatable',
    )
    parser.add_argument("--label-column", default="Class", help="0/1 label column (Class)")
    parser.add_argument("--drop-columns", default="Time", help="columns to ignore (Time); '' none")
    parser.set_defaults(handler=_compare)


def _compare(args) -> int:
    if args.seeds < 1:
        raise OptionError(f"--seeds must be at least 1, got {args.seeds}")
    chosen = [m.strip() for m in args.methods.split(",") if m.strip()]
    known = METHODS | LABELLED_METHODS
    unknown = [m for m in chosen if m not in known]
    if unknown or not chosen:
        raise OptionError(f"unknown method(s) {unknown}; choose from {', '.join(known)}")
    methods = {m: known[m] for m in chosen} | variant_methods(args.variant)
    frame = data.read_csv(args.data)
    if args.label_column not in frame.columns:
        raise DataError(f"{args.data}: no label column {args.label_column!r}; compare needs labels")
    drop = [c.strip() for c in args.drop_columns.split(",") if c.strip()]
    names = data.choose_features(list(frame.columns), args.label_column, drop, None)
    dataset = data.to_dataset(frame, names, args.label_column, str(args.data), data.MIN_ROWS)
    if args.protocol == NEW_FRAUD:
        return _new_fraud(dataset, args.seeds)
    protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
    curves: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def keep_first_seed(method, protocol, seed, labels, scores):
        if seed == 0:
            curves[(protocol, method)] = (labels, scores)

    outcomes = run_comparison(dataset, args.seeds, protocols, methods, _stderr, keep_first_seed)
    rows = summarise(outcomes)
    table = format_table(
        rows,
        f"{args.data.name}: {dataset.n_rows} rows, "
        f"{len(names)} features, {int(dataset.require_labels(str(args.data)).sum())} positives",
    )
    print(table)
    if args.report_dir:
        _write_report(args.report_dir, table, rows, outcomes, curves)
        print(f"\nreport in {args.report_dir}")
    return 0


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


def variant_methods(specs: list[str]) -> dict[str, Method]:
    """Turn `LABEL=fit options` specs into autoencoder methods; a bad spec raises OptionError."""
    from training.__main__ import build_parser, fit_config

    methods: dict[str, Method] = {}
    for spec in specs:
        label, sep, options = spec.partition("=")
        label = label.strip()
        if not sep or not label:
            raise OptionError(
                f"--variant {spec!r}: write LABEL=OPTIONS, e.g. std='--scaling standard'"
            )
        if label in METHODS or label in methods:
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
        methods[label] = autoencoder_method(fit_config(args))
    return methods


def _write_report(directory: Path, table: str, rows, outcomes, curves) -> None:
    from training.evaluate import write_overlaid_curves

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "summary.md").write_text(table + "\n")
    (directory / "results.json").write_text(
        json.dumps({"summary": rows, "runs": [dataclasses.asdict(o) for o in outcomes]}, indent=2)
        + "\n"
    )
    for protocol in dict.fromkeys(p for p, _ in curves):
        series = {m: c for (p, m), c in curves.items() if p == protocol}
        write_overlaid_curves(directory, series, f"{protocol} protocol, seed 0", protocol)


def _new_fraud(dataset: data.Dataset, seeds: int) -> int:
    from training.decision import prevalence_weights
    from training.stage_methods import format_new_fraud_table, run_new_fraud

    outcomes = run_new_fraud(
        dataset, seeds, lambda y: prevalence_weights(y, PRODUCTION_PREVALENCE), _stderr
    )
    print(
        f"Recall on the hidden group's test frauds at the alert budget "
        f"({PRESETS['default'].threshold} at a fraud rate of {PRODUCTION_PREVALENCE:g}), "
        f"mean ± sd over {seeds} seeds:\n"
    )
    print(format_new_fraud_table(outcomes))
    return 0


def _quiet(message: str) -> None:
    pass


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
