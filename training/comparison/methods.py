"""The supervised stage in `compare`: supervised alone, both stages, and the new-fraud protocol.

`supervised` is the stage's trees on the raw features alone (labels, no autoencoder); `both`
is what `fit` builds: the autoencoder on normal rows, the trees on the stage's default inputs,
and the decision sharing the alert budget. Their scores carry the
threshold their own decision chose on validation rows, so that compare measures precision and
recall at the alerts the product would raise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from training.comparison.newfraud import HiddenRecall, group_frauds, hidden_group_recalls
from training.datasets.dataset import Dataset
from training.fitting.config import PRESETS, FitConfig
from training.fitting.decision import probability_floor, rate_threshold, share_budget
from training.fitting.detector import FittedNetworks, fit_networks
from training.fitting.splits import split_rows
from training.fitting.stage import MIN_FRAUDS, fit_stage, fit_trees
from training.fitting.threshold import parse_strategy
from training.scoring.decision import COMBINED_CUT, DEFAULT_SHARE
from training.scoring.stage import (
    DEFAULT_INPUTS,
    Calibration,
    SupervisedStage,
    autoencoder_outputs,
)

GROUPS = 3


class ThresholdedScore:
    """A score function with the threshold its method chose on validation rows."""

    def __init__(self, score: Callable[[np.ndarray], np.ndarray], threshold: float):
        self.score = score
        self.threshold = threshold

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return self.score(features)


def _rate() -> float:
    return parse_strategy(PRESETS["default"].threshold).target


def _probability(x_fit, y_fit, x_val, y_val, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Fit the stage; without validation frauds keep the trees' raw log-odds link."""
    if 0 < int(y_val.sum()) < len(y_val):
        stage = fit_stage(x_fit, y_fit, x_val, y_val, seed)
    else:
        stage = SupervisedStage(fit_trees(x_fit, y_fit, seed), Calibration(1.0, 0.0), "raw")
    return stage.probability_of_inputs


def supervised_method(dataset: Dataset, fit_rows, validation_rows, seed: int):
    """Fit the stage's trees on the raw features only: what labels alone achieve."""
    labels = dataset.require_labels("compare")
    x = dataset.features
    if labels[fit_rows].sum() == 0:
        raise ValueError("no labelled frauds among the training rows")
    probability = _probability(
        x[fit_rows], labels[fit_rows], x[validation_rows], labels[validation_rows], seed
    )
    threshold = rate_threshold(probability(x[validation_rows]), _rate())
    return ThresholdedScore(probability, threshold)


def both_method(config: FitConfig = PRESETS["default"]):
    """Return a Method that fits what `fit` builds; below MIN_FRAUDS frauds, the autoencoder."""

    def fit(dataset: Dataset, fit_rows, validation_rows, seed: int):
        labels = dataset.require_labels("compare")
        x = dataset.features
        detector = _autoencoder(dataset, fit_rows, validation_rows, config, seed)
        ae_val = detector.score(x[validation_rows])
        frauds = int(labels[fit_rows].sum() + labels[validation_rows].sum())
        if frauds < MIN_FRAUDS:
            return ThresholdedScore(detector.score, rate_threshold(ae_val, _rate()))

        def inputs(rows_x):
            return np.hstack([rows_x, autoencoder_outputs(detector, rows_x, DEFAULT_INPUTS)])

        probability = _probability(
            inputs(x[fit_rows]),
            labels[fit_rows],
            inputs(x[validation_rows]),
            labels[validation_rows],
            seed,
        )
        floor = probability_floor(labels[validation_rows], config.vetoes)
        decision = share_budget(
            probability(inputs(x[validation_rows])), ae_val, _rate(), probability_floor=floor
        )

        def combined(rows_x):
            return decision.combined(probability(inputs(rows_x)), detector.score(rows_x))

        return ThresholdedScore(combined, COMBINED_CUT)

    return fit


# Fitted autoencoders by (data, rows, config, seed): `both` and the new-fraud protocol fit the
# same one on the same seed's split, and a network is the slowest thing compare fits. A few
# small weight matrices per seed; one compare run fills it.
_FITTED: dict[tuple, FittedNetworks] = {}


def _autoencoder(
    dataset, fit_rows, validation_rows, config: FitConfig, seed: int
) -> FittedNetworks:
    """Fit the autoencoder as `fit` does with labels: on normal rows only."""
    labels = dataset.require_labels("compare")
    seeded = dataclasses.replace(config, seed=seed * 1000)
    normal_fit = fit_rows[labels[fit_rows] == 0]
    normal_val = validation_rows[labels[validation_rows] == 0]
    key = (id(dataset), normal_fit.tobytes(), normal_val.tobytes(), seeded)
    if key not in _FITTED:
        _FITTED[key] = fit_networks(
            dataset.features, dataset.feature_names, normal_fit, normal_val, seeded, lambda _: None
        )
    return _FITTED[key]


def run_new_fraud(
    dataset: Dataset,
    seeds: int,
    weigh: Callable[[np.ndarray], np.ndarray | None],
    log: Callable[[str], None],
    groups: int = GROUPS,
    config: FitConfig = PRESETS["default"],
) -> list[HiddenRecall]:
    """Run the new-fraud protocol over seeds (stratified 67/33 splits, as `standard`)."""
    labels = dataset.require_labels("compare")
    fraud_groups = group_frauds(dataset.features, labels, groups, seed=0)
    sizes = np.bincount(fraud_groups[fraud_groups >= 0], minlength=groups).tolist()
    log(f"new-fraud protocol: frauds in {groups} k-means groups of {sizes}")
    x = dataset.features
    outcomes: list[HiddenRecall] = []
    for seed in range(seeds):
        splits = split_rows(
            labels, dataset.n_rows, dataclasses.replace(PRESETS["default"], split_seed=seed)
        )
        detector = _autoencoder(dataset, splits.fit, splits.validation, config, seed)
        inputs = {
            "supervised": x,
            "both": np.hstack([x, autoencoder_outputs(detector, x, DEFAULT_INPUTS)]),
        }
        found = hidden_group_recalls(
            detector.score(x),
            inputs,
            labels,
            fraud_groups,
            (splits.fit, splits.validation, splits.test),
            _rate(),
            seed,
            weigh,
            DEFAULT_SHARE,
            veto=config.vetoes,
        )
        for o in found:
            log(f"seed {seed} new-fraud    group {o.group} {o.method:<12} recall {o.recall:.3f}")
        outcomes.extend(found)
    return outcomes


def format_new_fraud_table(outcomes: list[HiddenRecall]) -> str:
    """Return recall on the hidden group per method and group, mean ± sd over seeds, as Markdown.

    `mean over groups` averages each seed's recalls over the groups first; `test spend` is the
    share of test transactions the method alerts on, averaged likewise.

    >>> print(format_new_fraud_table([HiddenRecall("a", 0, 0, 0.5, 4, 0.002)]))
    | method | group 0 (4 test frauds) | mean over groups | test spend |
    |---|---|---|---|
    | a | 0.500 ± 0.000 | 0.500 ± 0.000 | 0.0020 ± 0.0000 |
    """
    methods = list(dict.fromkeys(o.method for o in outcomes))
    groups = sorted({o.group for o in outcomes})
    counts = {
        g: round(float(np.mean([o.hidden_in_test for o in outcomes if o.group == g])))
        for g in groups
    }
    header = " | ".join(f"group {g} ({counts[g]} test frauds)" for g in groups)
    lines = [
        f"| method | {header} | mean over groups | test spend |",
        "|---|" + "---|" * (len(groups) + 2),
    ]
    for method in methods:
        mine = [o for o in outcomes if o.method == method]
        cells = []
        for g in groups:
            values = np.array([o.recall for o in mine if o.group == g])
            cells.append(f"{np.nanmean(values):.3f} ± {np.nanstd(values):.3f}")
        seeds = sorted({o.seed for o in mine})
        per_seed = np.array([np.nanmean([o.recall for o in mine if o.seed == s]) for s in seeds])
        overall = f"{per_seed.mean():.3f} ± {per_seed.std():.3f}"
        spend = np.array([np.nanmean([o.spend for o in mine if o.seed == s]) for s in seeds])
        spent = f"{spend.mean():.4f} ± {spend.std():.4f}"
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {overall} | {spent} |")
    return "\n".join(lines)
