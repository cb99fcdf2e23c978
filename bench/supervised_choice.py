"""Measure the supervised stage's choices on a labelled CSV, over several seeds.

Usage: .venv/bin/python bench/supervised_choice.py --data ../shared/datasets/ulb-slice.csv
       [--seeds 5] [--out results.json]

For each seed (stratified 67/33 split, then 20% of the rest for validation) it fits the
default autoencoder on normal rows, then measures:
- inputs: the trees on the raw features alone, plus the autoencoder's score parts, plus
  per-feature residuals: ROC AUC and average precision re-weighted to a production
  prevalence (0.00173), on the test split;
- storage: LightGBM's text model against scikit-learn's HistGradientBoostingClassifier saved
  with skops: the same quality figures, bundle file size, load time, and the time to score a
  micro-batch of 1,000 rows and a single row (median of repeats);
- the budget share: the combined decision at `rate:0.002` (at production prevalence) for
  several supervised shares: AP of the combined score, precision and recall at the budget;
- the minimum number of frauds: the stage's test AP when only N frauds are labelled;
- the new-fraud protocol: frauds grouped by k-means, each group hidden from training in turn,
  recall on the hidden group's test frauds at the budget for each method.
Prints Markdown tables; `--out` also writes every number as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from training.comparison.newfraud import group_frauds, hidden_group_recalls
from training.datasets.dataset import read_labelled
from training.evaluation.metrics import prevalence_weights
from training.fitting.config import PRESETS
from training.fitting.decision import share_budget
from training.fitting.detector import fit_networks
from training.fitting.splits import split_rows
from training.fitting.stage import fit_calibration, fit_trees
from training.scoring.decision import DEFAULT_SHARE
from training.scoring.stage import autoencoder_outputs, load_trees

PREVALENCE = 0.00173
RATE = 0.002
SHARES = (0.5, 0.75, 0.9)
FRAUD_COUNTS = (10, 20, 30, 45)
GROUPS = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    dataset, labels = read_labelled(args.data)
    groups = group_frauds(dataset.features, labels, GROUPS, seed=0)
    log(
        f"{dataset.n_rows} rows, {int(labels.sum())} frauds in groups of "
        f"{np.bincount(groups[groups >= 0]).tolist()}"
    )
    results: dict[str, list] = defaultdict(list)
    for seed in range(args.seeds):
        run_seed(dataset, labels, groups, seed, results)
    tables = report(results)
    print(tables)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def run_seed(dataset, labels, groups, seed: int, results: dict[str, list]) -> None:
    config = dataclasses.replace(PRESETS["default"], split_seed=seed, seed=seed * 1000)
    splits = split_rows(labels, dataset.n_rows, config)
    x = dataset.features
    normal = labels == 0
    fit_normal = splits.fit[normal[splits.fit]]
    val_normal = splits.validation[normal[splits.validation]]
    started = time.perf_counter()
    detector = fit_networks(
        x, dataset.feature_names, fit_normal, val_normal, config, lambda _: None
    )
    log(f"seed {seed}: autoencoder fitted in {time.perf_counter() - started:.0f} s")
    ae = detector.score(x)
    inputs = {
        "raw": x,
        "raw+parts": np.hstack([x, autoencoder_outputs(detector, x, "parts")]),
        "raw+parts+residuals": np.hstack([x, autoencoder_outputs(detector, x, "residuals")]),
    }
    test, val = splits.test, splits.validation
    w_test = prevalence_weights(labels[test], PREVALENCE)
    w_val = prevalence_weights(labels[val], PREVALENCE)
    quality = lambda s: ranking(labels[test], s[test], w_test)  # noqa: E731
    results["quality"].append({"seed": seed, "method": "autoencoder", **quality(ae)})
    probabilities = {}
    for input_name, matrix in inputs.items():
        for backend_name, backend in BACKENDS.items():
            model = backend(matrix[splits.fit], labels[splits.fit], seed)
            calibration = fit_calibration(model.raw(matrix[val]), labels[val])
            p = calibration(model.raw(matrix))
            probabilities[(input_name, backend_name)] = p
            row = {"seed": seed, "inputs": input_name, "backend": backend_name, **quality(p)}
            if input_name == "raw+parts":
                row |= speed(model, matrix[test])
            results["quality"].append(row | {"method": "trees"})
    stage = probabilities[("raw+parts", "lightgbm")]
    for share in SHARES:
        decision = share_budget(stage[val], ae[val], RATE, share, w_val)
        alerts = decision.alerts(stage[test], ae[test])
        row = {"seed": seed, "share": share}
        row |= ranking(labels[test], decision.combined(stage[test], ae[test]), w_test)
        row |= at_budget(labels[test], alerts, w_test)
        results["shares"].append(row)
    results["minimum"].extend(minimum_frauds(inputs["raw+parts"], labels, splits, seed))
    results["new_fraud"].extend(new_fraud(inputs, ae, labels, groups, splits, seed))


def ranking(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "ap_prevalence": float(average_precision_score(labels, scores, sample_weight=weights)),
        "ap_sample": float(average_precision_score(labels, scores)),
    }


def at_budget(labels: np.ndarray, alerts: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    tp = float(weights[alerts & (labels == 1)].sum())
    flagged = float(weights[alerts].sum())
    return {
        "precision": tp / flagged if flagged else 0.0,
        "recall": float(alerts[labels == 1].mean()),
        "alert_rate": flagged / float(weights.sum()),
    }


def minimum_frauds(matrix, labels, splits, seed: int) -> list[dict]:
    """Test AP of the stage when only `n` frauds of the fit and validation rows keep labels."""
    rng = np.random.default_rng(seed)
    test = splits.test
    w_test = prevalence_weights(labels[test], PREVALENCE)
    rows = []
    for n in FRAUD_COUNTS:
        keep = []
        for part, share in ((splits.fit, 0.8), (splits.validation, 0.2)):
            frauds = part[labels[part] == 1]
            wanted = max(1, round(n * share))
            keep.append(
                np.sort(
                    np.concatenate(
                        [
                            part[labels[part] == 0],
                            rng.choice(frauds, min(wanted, len(frauds)), False),
                        ]
                    )
                )
            )
        fit_rows, val_rows = keep
        model = BACKENDS["lightgbm"](matrix[fit_rows], labels[fit_rows], seed)
        p = fit_calibration(model.raw(matrix[val_rows]), labels[val_rows])(model.raw(matrix))
        rows.append({"seed": seed, "frauds": n, **ranking(labels[test], p[test], w_test)})
    return rows


def new_fraud(inputs, ae, labels, groups, splits, seed) -> list[dict]:
    """Hide each fraud group from the trees in turn; recall on its test frauds at the budget."""
    rows = []
    for share in SHARES:
        outcomes = hidden_group_recalls(
            ae,
            {"supervised": inputs["raw"], "both": inputs["raw+parts"]},
            labels,
            groups,
            (splits.fit, splits.validation, splits.test),
            RATE,
            seed,
            lambda y: prevalence_weights(y, PREVALENCE),
            share,
        )
        for o in outcomes:
            if o.method == "both":
                rows.append(dataclasses.asdict(o) | {"method": f"both (share {share})"})
            elif share == DEFAULT_SHARE:
                rows.append(dataclasses.asdict(o))
    return rows


@dataclasses.dataclass
class Fitted:
    """A fitted classifier of either library, with its saved form."""

    raw: Callable[[np.ndarray], np.ndarray]
    saved: bytes
    load: Callable[[bytes], Callable[[np.ndarray], np.ndarray]]


def lightgbm_backend(x: np.ndarray, y: np.ndarray, seed: int) -> Fitted:
    model = fit_trees(x, y, seed)
    width = x.shape[1]

    def load(saved: bytes) -> Callable[[np.ndarray], np.ndarray]:
        return load_trees(saved.decode(), width).raw_score

    return Fitted(model.raw_score, model.to_text().encode(), load)


def sklearn_backend(x: np.ndarray, y: np.ndarray, seed: int) -> Fitted:
    import skops.io
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(random_state=seed).fit(x, y)

    def load(saved: bytes) -> Callable[[np.ndarray], np.ndarray]:
        trusted = skops.io.get_untrusted_types(data=saved)
        loaded = skops.io.loads(saved, trusted=trusted)
        return loaded.decision_function

    return Fitted(model.decision_function, skops.io.dumps(model), load)


BACKENDS: dict[str, Callable[[np.ndarray, np.ndarray, int], Fitted]] = {
    "lightgbm": lightgbm_backend,
    "sklearn+skops": sklearn_backend,
}


def speed(model: Fitted, test: np.ndarray) -> dict[str, float]:
    batch = np.resize(test, (1000, test.shape[1]))
    loads = [_timed(lambda: model.load(model.saved)) for _ in range(5)]
    raw = model.load(model.saved)
    assert np.array_equal(raw(batch), model.raw(batch)), "a loaded model must score the same"
    batches = [_timed(lambda: raw(batch)) for _ in range(20)]
    singles = [_timed(lambda: raw(batch[:1])) for _ in range(50)]
    return {
        "bytes": len(model.saved),
        "load_ms": 1000 * statistics.median(loads),
        "batch_1000_ms": 1000 * statistics.median(batches),
        "one_row_ms": 1000 * statistics.median(singles),
    }


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def report(results: dict[str, list]) -> str:
    out = io.StringIO()
    mean = lambda rows, key: _ms(rows, key)  # noqa: E731
    out.write("## Inputs and storage (test split, prevalence-weighted AP)\n\n")
    out.write("| method | inputs | library | ROC AUC | AP at 0.173% | AP as sampled |\n")
    out.write("|---|---|---|---|---|---|\n")
    keys = dict.fromkeys(
        (r["method"], r.get("inputs", "-"), r.get("backend", "-")) for r in results["quality"]
    )
    for method, inputs, backend in keys:
        rows = [
            r
            for r in results["quality"]
            if (r["method"], r.get("inputs", "-"), r.get("backend", "-"))
            == (method, inputs, backend)
        ]
        out.write(
            f"| {method} | {inputs} | {backend} | {mean(rows, 'roc_auc')} | "
            f"{mean(rows, 'ap_prevalence')} | {mean(rows, 'ap_sample')} |\n"
        )
    out.write("\n## Storage speed (raw+parts inputs)\n\n")
    out.write("| library | file bytes | load ms | 1,000-row batch ms | one row ms |\n")
    out.write("|---|---|---|---|---|\n")
    for backend in BACKENDS:
        rows = [r for r in results["quality"] if r.get("backend") == backend and "load_ms" in r]
        out.write(
            f"| {backend} | {mean(rows, 'bytes')} | {mean(rows, 'load_ms')} | "
            f"{mean(rows, 'batch_1000_ms')} | {mean(rows, 'one_row_ms')} |\n"
        )
    out.write("\n## Budget share (both stages, rate 0.002 at production prevalence)\n\n")
    out.write("| supervised share | ROC AUC | AP at 0.173% | precision | recall | alert rate |\n")
    out.write("|---|---|---|---|---|---|\n")
    for share in SHARES:
        rows = [r for r in results["shares"] if r["share"] == share]
        out.write(
            f"| {share} | {mean(rows, 'roc_auc')} | {mean(rows, 'ap_prevalence')} | "
            f"{mean(rows, 'precision')} | {mean(rows, 'recall')} | "
            f"{mean(rows, 'alert_rate')} |\n"
        )
    out.write("\n## Labelled frauds (stage on raw+parts, LightGBM)\n\n")
    out.write("| frauds labelled | ROC AUC | AP at 0.173% |\n|---|---|---|\n")
    for n in FRAUD_COUNTS:
        rows = [r for r in results["minimum"] if r["frauds"] == n]
        out.write(f"| {n} | {mean(rows, 'roc_auc')} | {mean(rows, 'ap_prevalence')} |\n")
    out.write("\n## New-fraud protocol (recall on the hidden group at the budget)\n\n")
    methods = list(dict.fromkeys(r["method"] for r in results["new_fraud"]))
    groups = sorted({r["group"] for r in results["new_fraud"]})
    out.write("| method | " + " | ".join(f"group {g}" for g in groups) + " | mean over groups |\n")
    out.write("|---|" + "---|" * (len(groups) + 1) + "\n")
    for method in methods:
        rows = [r for r in results["new_fraud"] if r["method"] == method]
        cells = [mean([r for r in rows if r["group"] == g], "recall") for g in groups]
        per_seed = defaultdict(list)
        for r in rows:
            per_seed[r["seed"]].append(r["recall"])
        overall = [float(np.mean(v)) for v in per_seed.values()]
        out.write(
            f"| {method} | "
            + " | ".join(cells)
            + f" | {np.mean(overall):.3f} ± {np.std(overall):.3f} |\n"
        )
    return out.getvalue()


def _ms(rows: list[dict], key: str) -> str:
    values = np.array([r[key] for r in rows], dtype=float)
    if key == "bytes":
        return f"{values.mean():,.0f}"
    return f"{values.mean():.3f} ± {values.std():.3f}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
