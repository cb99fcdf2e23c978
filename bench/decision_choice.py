"""Measure how the two stages' alert decision is built: the trees' inputs, the veto, the share.

Usage: .venv/bin/python bench/decision_choice.py --data ../shared/datasets/ulb-slice.csv
       [--seeds 5] [--first-seed 0] [--out results.json]

For each seed (stratified 67/33 split, then 20% of the rest for validation, as `fit` does) it
fits the default autoencoder on normal rows, then for each design of the combined decision
(the trees' inputs: raw features, or raw features plus the autoencoder's score parts; the
stage's veto floor on autoencoder alerts: none, or the validation rows' fraud share; the
supervised share of the budget) it measures on the test split:
- ROC AUC and average precision at 0.173% of `Decision.combined`, the ranking that alerts
  exactly where the decision does, and of the stage's probability alone;
- recall and the share of transactions alerted at the budget (`rate:0.002`, spent at 0.173%);
- the new-fraud protocol: the frauds' k-means groups hidden from training in turn, recall on
  the hidden group's test frauds at the budget, averaged over groups.
The autoencoder alone and the trees on raw features alone, each with the whole budget, are
measured the same way for reference. Prints a Markdown table, mean ± sd over seeds; `--out`
also writes every number as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from training.comparison.newfraud import group_frauds, hidden_recall, without_group
from training.datasets.dataset import read_labelled
from training.evaluation.metrics import prevalence_weights
from training.fitting.config import PRESETS
from training.fitting.decision import rate_threshold, share_budget
from training.fitting.detector import fit_networks
from training.fitting.splits import split_rows
from training.fitting.stage import fit_stage
from training.scoring.decision import Decision
from training.scoring.stage import autoencoder_outputs

PREVALENCE = 0.00173
RATE = 0.002
GROUPS = 3
# (inputs, veto, share): the designs measured; the last is what `fit` builds.
DESIGNS = (
    ("raw+parts", "none", 0.9),
    ("raw", "none", 0.9),
    ("raw+parts", "base rate", 0.9),
    ("raw", "base rate", 0.5),
    ("raw", "base rate", 0.75),
    ("raw", "base rate", 0.9),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    dataset, labels = read_labelled(args.data)
    groups = group_frauds(dataset.features, labels, GROUPS, seed=0)
    rows: list[dict] = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        rows.extend(run_seed(dataset, labels, groups, seed))
    print(report(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


def run_seed(dataset, labels, groups, seed: int) -> list[dict]:
    config = dataclasses.replace(PRESETS["default"], split_seed=seed, seed=seed * 1000)
    splits = split_rows(labels, dataset.n_rows, config)
    x = dataset.features
    fit_normal = splits.fit[labels[splits.fit] == 0]
    val_normal = splits.validation[labels[splits.validation] == 0]
    started = time.perf_counter()
    detector = fit_networks(
        x, dataset.feature_names, fit_normal, val_normal, config, lambda _: None
    )
    print(
        f"seed {seed}: autoencoder fitted in {time.perf_counter() - started:.0f} s", file=sys.stderr
    )
    ae = detector.score(x)
    inputs = {"raw": x, "raw+parts": np.hstack([x, autoencoder_outputs(detector, x, "parts")])}
    fit, val, test = splits.fit, splits.validation, splits.test
    w_test = prevalence_weights(labels[test], PREVALENCE)
    probability = {name: stage(m, labels, fit, val, seed) for name, m in inputs.items()}
    hidden = {
        name: [
            (
                h,
                stage(
                    m, labels, without_group(fit, groups, h), without_group(val, groups, h), seed
                ),
            )
            for h in range(GROUPS)
        ]
        for name, m in inputs.items()
    }
    out = [
        alone("autoencoder alone", ae, ae, labels, groups, (val, test), seed),
        alone(
            "trees on raw features alone",
            probability["raw"],
            ae,
            labels,
            groups,
            (val, test),
            seed,
            [p_h for _, p_h in hidden["raw"]],
        ),
    ]
    for name, veto, share in DESIGNS:
        p = probability[name]
        d = decide(p, ae, labels, val, veto, share)
        alerts = d.alerts(p[test], ae[test])
        combined = d.combined(p[test], ae[test])
        recalls = []
        for h, p_h in hidden[name]:
            val_h = without_group(val, groups, h)
            d_h = decide(p_h, ae, labels, val_h, veto, share)
            recalls.append(hidden_recall(d_h.alerts(p_h[test], ae[test]), groups[test], h))
        out.append(
            {
                "seed": seed,
                "inputs": name,
                "veto": veto,
                "share": share,
                "roc_auc": float(roc_auc_score(labels[test], combined)),
                "ap": float(average_precision_score(labels[test], combined, sample_weight=w_test)),
                "stage_roc_auc": float(roc_auc_score(labels[test], p[test])),
                "stage_ap": float(
                    average_precision_score(labels[test], p[test], sample_weight=w_test)
                ),
                "recall": float(alerts[labels[test] == 1].mean()),
                "spend": float(w_test[alerts].sum() / w_test.sum()),
                "hidden_recall": float(np.nanmean(recalls)),
            }
        )
    return out


def alone(method, score, ae, labels, groups, rows, seed: int, hidden_scores=None) -> dict:
    """Return one method's figures with the whole budget to itself (no decision).

    `hidden_scores`: the method's scores fitted without each group in turn; None for the
    autoencoder, which never sees frauds.
    """
    val, test = rows
    w_test = prevalence_weights(labels[test], PREVALENCE)
    alerts = score[test] > rate_threshold(
        score[val], RATE, prevalence_weights(labels[val], PREVALENCE)
    )
    recalls = []
    for h in range(GROUPS):
        s = score if hidden_scores is None else hidden_scores[h]
        val_h = without_group(val, groups, h)
        cut = rate_threshold(s[val_h], RATE, prevalence_weights(labels[val_h], PREVALENCE))
        recalls.append(hidden_recall(s[test] > cut, groups[test], h))
    ranking = {
        "roc_auc": float(roc_auc_score(labels[test], score[test])),
        "ap": float(average_precision_score(labels[test], score[test], sample_weight=w_test)),
    }
    return {
        "seed": seed,
        "inputs": method,
        "veto": "-",
        "share": "-",
        **ranking,
        "stage_roc_auc": float("nan"),
        "stage_ap": float("nan"),
        "recall": float(alerts[labels[test] == 1].mean()),
        "spend": float(w_test[alerts].sum() / w_test.sum()),
        "hidden_recall": float(np.nanmean(recalls)),
    }


def stage(matrix: np.ndarray, labels: np.ndarray, fit, val, seed: int) -> np.ndarray:
    """Return every row's calibrated probability from trees fitted on `fit`, calibrated on `val`."""
    stage = fit_stage(matrix[fit], labels[fit], matrix[val], labels[val], seed)
    return stage.probability_of_inputs(matrix)


def decide(p, ae, labels, val, veto: str, share: float) -> Decision:
    """Share the budget on validation rows, spent at the production prevalence."""
    floor = float(labels[val].mean()) if veto == "base rate" else 0.0
    weights = prevalence_weights(labels[val], PREVALENCE)
    return share_budget(p[val], ae[val], RATE, share, weights, floor)


def report(rows: list[dict]) -> str:
    keys = ("roc_auc", "ap", "stage_roc_auc", "stage_ap", "recall", "spend", "hidden_recall")
    lines = [
        "| trees' inputs | veto floor | share | ROC AUC | AP at 0.173% | stage's ROC AUC | "
        "stage's AP | recall | test spend | recall on hidden group |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    grouped = defaultdict(list)
    for r in rows:
        grouped[(r["inputs"], r["veto"], r["share"])].append(r)
    for (name, veto, share), mine in grouped.items():
        cells = []
        for key in keys:
            v = np.array([r[key] for r in mine])
            digits = 4 if key == "spend" else 3
            cells.append(
                "-" if np.isnan(v).all() else f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"
            )
        lines.append(f"| {name} | {veto} | {share} | " + " | ".join(cells) + " |")
    seeds = sorted({r["seed"] for r in rows})
    lines.append(f"\nSeeds {seeds[0]}..{seeds[-1]}, mean ± sd.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
