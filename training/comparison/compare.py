"""Compare detectors on the same splits: the autoencoder, the reference recipe and baselines.

For each seed the rows are split; every method learns from the same training rows, has its
threshold chosen on the same validation rows (the default alert budget) and is scored on the
same untouched test rows. Three protocols:

- `unsupervised`: a stratified 67/33 split; labels unused, training rows carry frauds at the
  file's own rate.
- `normal`: the same split, training on normal rows only.
- `production`: training rows carry frauds at the production rate (`prevalence`), as a
  fraud team's data does; every other fraud goes to the test split.

Every test split is also measured re-weighted to the production fraud rate (`at_prevalence`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

from training.comparison.methods import both_method, supervised_method
from training.console import Log, quiet
from training.datasets.dataset import Dataset
from training.evaluation.metrics import ULB_PREVALENCE, at_prevalence
from training.fitting.config import PRESETS, FitConfig
from training.fitting.detector import fit_networks
from training.fitting.scaler import fit_scaler
from training.fitting.splits import Splits, split_rows
from training.fitting.threshold import choose_threshold, parse_strategy

PROTOCOLS = ("unsupervised", "normal", "production")
# fit(dataset, fit_rows, validation_rows, seed) -> score(features) -> scores
Score = Callable[[np.ndarray], np.ndarray]
Method = Callable[[Dataset, np.ndarray, np.ndarray, int], Score]
OnScores = Callable[[str, str, int, np.ndarray, np.ndarray], None]


@dataclass(frozen=True)
class Outcome:
    """One method's result on one seed and protocol, on the test split."""

    method: str
    protocol: str
    seed: int
    roc_auc: float
    average_precision: float
    # At the production fraud rate: average precision, and precision and recall at the
    # threshold chosen on validation rows.
    production_ap: float = float("nan")
    production_precision: float = float("nan")
    production_recall: float = float("nan")


def autoencoder_method(config: FitConfig) -> Method:
    """Return a Method that fits the autoencoder with `config` (seeded per comparison seed)."""

    def fit(dataset, fit_rows, validation_rows, seed):
        seeded = dataclasses.replace(config, seed=seed * 1000)
        fitted = fit_networks(
            dataset.features, dataset.feature_names, fit_rows, validation_rows, seeded, quiet
        )
        return fitted.score

    return fit


def isolation_forest(dataset, fit_rows, validation_rows, seed):
    """Fit scikit-learn's IsolationForest with its defaults on every training row."""
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
    # The same without the stage's veto (`fit --veto none`): either stage alerts on its own.
    "both_no_veto": both_method(dataclasses.replace(PRESETS["default"], veto="none")),
}
# Recall on a hidden group of frauds at the alert budget (`training.comparison.methods`).
NEW_FRAUD = "new_fraud"


def production_splits(labels: np.ndarray, prevalence: float, seed: int) -> Splits:
    """Split rows so that training rows carry frauds at `prevalence`; the rest go to test.

    Normal rows are split 67/33 into training and test; training gets
    round(prevalence / (1 - prevalence) * its normal rows) frauds drawn at random and the test
    split every other fraud. Training rows are split 80/20 into fit and validation.
    """
    rng = np.random.default_rng(seed)
    normal, fraud = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    config = PRESETS["default"]
    train_normal, test_normal = train_test_split(
        normal, test_size=config.test_size, random_state=seed
    )
    n_train_fraud = min(len(fraud), round(prevalence / (1 - prevalence) * len(train_normal)))
    shuffled = rng.permutation(fraud)
    train = np.concatenate([train_normal, shuffled[:n_train_fraud]])
    test = np.concatenate([test_normal, shuffled[n_train_fraud:]])
    stratify = labels[train] if n_train_fraud >= 2 else None
    fit, validation = train_test_split(
        train, test_size=config.validation_size, random_state=seed, stratify=stratify
    )
    return Splits(np.sort(fit), np.sort(validation), np.sort(test))


def protocol_splits(labels: np.ndarray, protocol: str, prevalence: float, seed: int) -> Splits:
    """Return the fit, validation and test rows of one protocol and seed."""
    if protocol == "production":
        return production_splits(labels, prevalence, seed)
    splits = split_rows(
        labels, len(labels), dataclasses.replace(PRESETS["default"], split_seed=seed)
    )
    if protocol == "normal":
        return Splits(
            splits.fit[labels[splits.fit] == 0],
            splits.validation[labels[splits.validation] == 0],
            splits.test,
        )
    return splits


def run_comparison(
    dataset: Dataset,
    seeds: int,
    protocols: tuple[str, ...],
    methods: dict[str, Method],
    log: Log,
    on_scores: OnScores | None = None,
    prevalence: float = ULB_PREVALENCE,
) -> list[Outcome]:
    """Evaluate every method on every seed and protocol; return one Outcome per run."""
    labels = dataset.require_labels("compare")
    strategy = parse_strategy(PRESETS["default"].threshold)
    outcomes = []
    for seed in range(seeds):
        for protocol in protocols:
            splits = protocol_splits(labels, protocol, prevalence, seed)
            test_labels = labels[splits.test]
            for name, method in methods.items():
                if protocol == "normal" and name in LABELLED_METHODS:
                    continue  # no labelled frauds to learn from
                score = method(dataset, splits.fit, splits.validation, seed)
                # A labelled method's score carries the threshold its own decision chose.
                threshold = getattr(score, "threshold", None)
                if threshold is None:
                    threshold = choose_threshold(
                        strategy, score(dataset.features[splits.validation])
                    ).value
                scores = score(dataset.features[splits.test])
                production = at_prevalence(scores, test_labels, prevalence, threshold)
                outcome = Outcome(
                    name,
                    protocol,
                    seed,
                    float(roc_auc_score(test_labels, scores)),
                    float(average_precision_score(test_labels, scores)),
                    production["average_precision"],
                    production["precision"],
                    production["recall"],
                )
                log(
                    f"seed {seed} {protocol:<12} {name:<17} ROC AUC {outcome.roc_auc:.4f}  "
                    f"AP {outcome.average_precision:.4f}  AP@p {outcome.production_ap:.4f}"
                )
                outcomes.append(outcome)
                if on_scores is not None:
                    on_scores(name, protocol, seed, test_labels, scores)
    return outcomes


_MEASURES = {
    "roc_auc": "roc_auc",
    "ap": "average_precision",
    "production_ap": "production_ap",
    "production_precision": "production_precision",
    "production_recall": "production_recall",
}


def summarise(outcomes: list[Outcome]) -> list[dict]:
    """Return the mean and standard deviation of each measure per protocol and method.

    >>> rows = summarise([Outcome("a", "p", 0, 0.8, 0.4), Outcome("a", "p", 1, 0.9, 0.6)])
    >>> round(rows[0]["roc_auc_mean"], 3), round(rows[0]["roc_auc_std"], 3), rows[0]["seeds"]
    (0.85, 0.05, 2)
    """
    keys = list(dict.fromkeys((o.protocol, o.method) for o in outcomes))
    rows = []
    for protocol, method in keys:
        group = [o for o in outcomes if (o.protocol, o.method) == (protocol, method)]
        row: dict = {"protocol": protocol, "method": method, "seeds": len(group)}
        for key, field in _MEASURES.items():
            values = np.array([getattr(o, field) for o in group], dtype=np.float64)
            row[f"{key}_mean"] = float(values.mean())
            row[f"{key}_std"] = float(values.std())
        rows.append(row)
    return rows


def format_table(rows: list[dict], title: str = "", prevalence: float = ULB_PREVALENCE) -> str:
    """Return the summary as a Markdown table: mean ± sd over seeds of each measure."""
    lines = [f"**{title}**", ""] if title else []
    lines += [
        "| protocol | method | ROC AUC | AP (test split) | AP at production rate | "
        "precision at production rate | recall | seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [_pm(r, key) for key in _MEASURES]
        lines.append(
            f"| {r['protocol']} | {r['method']} | " + " | ".join(cells) + f" | {r['seeds']} |"
        )
    lines += [
        "",
        f"Production rate: test rows re-weighted to a fraud rate of {prevalence:g}; precision and "
        "recall at the threshold chosen on validation rows (the default alert budget).",
    ]
    return "\n".join(lines)


def _pm(row: dict, key: str) -> str:
    return f"{row[f'{key}_mean']:.3f} ± {row[f'{key}_std']:.3f}"
