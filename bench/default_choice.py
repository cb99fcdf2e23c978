"""Measure which autoencoder score should be the default for card users, over many seeds.

    .venv/bin/python bench/default_choice.py --data ../shared/datasets/ulb-slice.csv \
        --protocol production,time --seeds 10 [--networks default,central,standard,reference] \
        [--cache runs/default_choice] [--json out.json]

Every candidate is one network (the default, whose `auto` scaling is chosen from the share of
training rows far out, or a FitConfig variant of it, `NETWORKS`) scored by one
combination of the default score's parts (`SCORES`: the reconstruction error, the code
distance and the reconstruction distance, each divided by its 90th percentile on validation
rows as `fit` does), plus the reference recipe, Isolation Forest and PCA as `compare` runs
them. All learn from the same rows per seed and are measured on the same test rows: ROC AUC,
and average precision re-weighted to the production fraud rate (AP@p). Protocols:

- `production`: training rows carry frauds at the production rate, every other fraud is
  tested (`compare --protocol production`).
- `natural`: a stratified 67/33 split, training rows carry frauds at the file's own rate
  (`compare --protocol unsupervised`).
- `time`: rows in time order (by `Time`, else file order); train on the earliest
  `--train-share`, test on the rest; `time-thinned` also thins training frauds to the
  production rate (the others are dropped, not tested).
- `labelled`: the production split, with `--pool` test frauds set aside as the team's few
  labelled frauds; networks learn from normal rows only and K of the labelled frauds
  (validation frauds) choose among the score's parts; measured on the remaining test rows
  against the same network's fixed scores and the unlabelled network of `production`.

Each fitted network's score parts are cached per (data, rows, config, seed) in `--cache`, so a
protocol shared by two tables is fitted once. The share of fit rows far out (the label-free
look at contamination `auto` scaling is chosen from) is reported beside the training rows' true
fraud share, with the gain of summing the parts over the error alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Run as a script, measure the `training` package of this checkout, not the installed one.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from training.comparison.compare import isolation_forest, pca_reconstruction, production_splits
from training.console import quiet
from training.datasets import dataset as data
from training.evaluation.metrics import ULB_PREVALENCE, at_prevalence
from training.fitting.config import PRESETS, FitConfig
from training.fitting.contamination import choose_scaling, far_out_share
from training.fitting.detector import FittedNetworks, fit_networks
from training.fitting.splits import Splits

DEFAULT = PRESETS["default"]
NETWORKS: dict[str, FitConfig] = {
    "default": DEFAULT,
    "central": dataclasses.replace(DEFAULT, scaling="central"),
    "standard": dataclasses.replace(DEFAULT, scaling="standard"),
    "robust": dataclasses.replace(DEFAULT, scaling="robust"),
    "central-nolog": dataclasses.replace(DEFAULT, log_columns=()),
    "standard-nolog": dataclasses.replace(DEFAULT, scaling="standard", log_columns=()),
    "central-noclip": dataclasses.replace(DEFAULT, train_clip=None),
    "standard-noclip": dataclasses.replace(DEFAULT, scaling="standard", train_clip=None),
    "standard-noclip-nolog": dataclasses.replace(
        DEFAULT, scaling="standard", train_clip=None, log_columns=()
    ),
    "standard-ensemble3": dataclasses.replace(DEFAULT, scaling="standard", ensemble=3),
    "reference": PRESETS["reference"],
}
# Which of the parts (error, code distance, reconstruction distance) a score sums.
SCORES: dict[str, tuple[float, float, float]] = {
    "sum": (1.0, 1.0, 1.0),
    "error": (1.0, 0.0, 0.0),
    "error+code": (1.0, 1.0, 0.0),
    "error+recon": (1.0, 0.0, 1.0),
    "code": (0.0, 1.0, 0.0),
    "recon": (0.0, 0.0, 1.0),
}
# What the few labelled validation frauds choose among (`labelled` protocol); the default's
# score first, so that a tie (AP 1 on three frauds is common) keeps it.
CHOICES = ("sum", "error+code", "error+recon", "error")
BASELINES: dict[str, Callable] = {"isolation_forest": isolation_forest, "pca": pca_reconstruction}
PROTOCOLS = ("production", "natural", "time", "time-thinned", "labelled")
LABELLED_COUNTS = (3, 5, 10, 20, 29)
DRAWS = 5
# Code files whose change invalidates cached fits.
TRAINING = Path(__file__).resolve().parent.parent / "training"
CODE = (
    "fitting/config.py",
    "fitting/contamination.py",
    "fitting/detector.py",
    "fitting/network.py",
    "fitting/scaler.py",
    "scoring/detector.py",
    "scoring/network.py",
    "scoring/scaling.py",
)


@dataclass(frozen=True)
class Trial:
    """The rows of one protocol and seed; `pool` holds the labelled frauds (`labelled`)."""

    protocol: str
    seed: int
    fit: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    pool: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))


@dataclass
class Bench:
    """The data, the cache of fitted score parts and the clock of one run."""

    dataset: data.Dataset
    labels: np.ndarray
    order: np.ndarray
    cache: Path | None
    prevalence: float = ULB_PREVALENCE
    fitted: dict[str, np.ndarray] = field(default_factory=dict)
    shares: dict[tuple[bytes, int], float] = field(default_factory=dict)
    fit_seconds: float = 0.0
    fits: int = 0

    def parts(self, network: str, fit_rows: np.ndarray, validation_rows: np.ndarray, seed: int):
        """Return the score parts of every row from `network` fitted on these rows (cached).

        `auto` scaling is resolved first, as `fit` resolves it, so that the default and the
        named scaling it chose share one fit.
        """
        config = self.config(network, fit_rows, seed)
        key = self._key(config, fit_rows, validation_rows)
        if key in self.fitted:
            return self.fitted[key]
        path = None if self.cache is None else self.cache / f"{key}.npy"
        if path is not None and path.exists():
            self.fitted[key] = np.load(path)
            return self.fitted[key]
        fitted = self.fit(network, config, fit_rows, validation_rows)
        parts = fitted.outputs(self.dataset.features).parts
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, parts)
        self.fitted[key] = parts
        return parts

    def config(self, network: str, fit_rows: np.ndarray, seed: int) -> FitConfig:
        """Return `network`'s config seeded as `compare` seeds it, its `auto` scaling resolved."""
        config = dataclasses.replace(NETWORKS[network], seed=seed * 1000)
        if config.scaling != "auto":
            return config
        share = self.far_out(fit_rows, config.seed)
        return dataclasses.replace(config, scaling=choose_scaling(share))

    def far_out(self, fit_rows: np.ndarray, seed: int) -> float:
        """Return the share of these rows far out, as `fit` computes it (once per rows and seed)."""
        key = (hashlib.sha256(np.ascontiguousarray(fit_rows).tobytes()).digest(), seed)
        if key not in self.shares:
            self.shares[key] = far_out_share(self.dataset.features[fit_rows], seed)
        return self.shares[key]

    def fit(
        self, network: str, config: FitConfig, fit_rows: np.ndarray, validation_rows: np.ndarray
    ) -> FittedNetworks:
        """Fit `network` with `config` on these rows as `fit` does; time it."""
        started = time.perf_counter()
        features, names = self.dataset.features, self.dataset.feature_names
        fitted = fit_networks(features, names, fit_rows, validation_rows, config, quiet)
        elapsed = time.perf_counter() - started
        self.fit_seconds += elapsed
        self.fits += 1
        log(
            f"  fitted {network} ({config.scaling} scaling) seed {config.seed // 1000} "
            f"in {elapsed:.0f} s"
        )
        return fitted

    def _key(self, config: FitConfig, fit_rows: np.ndarray, validation_rows: np.ndarray) -> str:
        digest = hashlib.sha256(data.fingerprint(self.dataset).encode())
        digest.update(json.dumps(config.to_dict(), sort_keys=True, default=str).encode())
        digest.update(np.ascontiguousarray(fit_rows).tobytes())
        digest.update(np.ascontiguousarray(validation_rows).tobytes())
        for name in CODE:
            digest.update((TRAINING / name).read_bytes())
        return digest.hexdigest()[:24]


def combine(parts: np.ndarray, score: str) -> np.ndarray:
    """Return the score that sums the parts `SCORES[score]` names.

    >>> combine(np.array([[1.0, 2.0, 4.0]]), "error+recon").tolist()
    [5.0]
    """
    return parts @ np.array(SCORES[score])


def time_trial(
    labels: np.ndarray,
    order: np.ndarray,
    share: float,
    prevalence: float | None,
    seed: int,
) -> Trial:
    """Train on the earliest `share` of the rows, test on the rest; thin training frauds if asked.

    Training rows are split 80/20 into fit and validation at random (stratified when they hold
    two frauds or more); with a `prevalence`, training keeps at most that rate of frauds, drawn
    at random, and the others are dropped.
    """
    cut = round(len(order) * share)
    train, test = order[:cut], order[cut:]
    if prevalence is not None:
        normal, fraud = train[labels[train] == 0], train[labels[train] == 1]
        keep = min(len(fraud), round(prevalence / (1 - prevalence) * len(normal)))
        fraud = np.random.default_rng(seed).permutation(fraud)[:keep]
        train = np.concatenate([normal, fraud])
    stratify = labels[train] if labels[train].sum() >= 2 else None
    fit, validation = train_test_split(
        train, test_size=DEFAULT.validation_size, random_state=seed, stratify=stratify
    )
    protocol = "time" if prevalence is None else "time-thinned"
    return Trial(protocol, seed, np.sort(fit), np.sort(validation), np.sort(test))


def natural_trial(labels: np.ndarray, seed: int) -> Trial:
    """Return `compare --protocol unsupervised`'s split: training carries the file's frauds."""
    index = np.arange(len(labels))
    train, test = train_test_split(
        index, test_size=DEFAULT.test_size, random_state=seed, stratify=labels
    )
    fit, validation = train_test_split(
        train, test_size=DEFAULT.validation_size, random_state=seed, stratify=labels[train]
    )
    return Trial("natural", seed, np.sort(fit), np.sort(validation), np.sort(test))


def labelled_trial(labels: np.ndarray, prevalence: float, seed: int, pool: int) -> Trial:
    """Return the production split with `pool` test frauds set aside as the labelled ones."""
    splits = production_splits(labels, prevalence, seed)
    test_frauds = splits.test[labels[splits.test] == 1]
    chosen = np.random.default_rng(seed + 1).permutation(test_frauds)[:pool]
    test = np.setdiff1d(splits.test, chosen)
    return Trial("labelled", seed, splits.fit, splits.validation, test, chosen)


def make_trial(bench: Bench, protocol: str, seed: int, args: argparse.Namespace) -> Trial:
    """Return the rows of `protocol` for `seed`."""
    labels = bench.labels
    if protocol == "production":
        s: Splits = production_splits(labels, bench.prevalence, seed)
        return Trial(protocol, seed, s.fit, s.validation, s.test)
    if protocol == "natural":
        return natural_trial(labels, seed)
    if protocol in ("time", "time-thinned"):
        thin = bench.prevalence if protocol == "time-thinned" else None
        return time_trial(labels, bench.order, args.train_share, thin, seed)
    return labelled_trial(labels, bench.prevalence, seed, args.pool)


def measure(bench: Bench, scores: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    """Return ROC AUC and AP re-weighted to the production rate of `scores` on `rows`."""
    labels = bench.labels[rows]
    production = at_prevalence(scores[rows], labels, bench.prevalence)
    return {
        "roc_auc": float(roc_auc_score(labels, scores[rows])),
        "ap_p": production["average_precision"],
    }


def candidate_scores(bench: Bench, trial: Trial, networks: list[str]) -> dict[str, np.ndarray]:
    """Return every candidate's scores of every row, learnt from the trial's training rows."""
    scores: dict[str, np.ndarray] = {}
    for network in networks:
        parts = bench.parts(network, trial.fit, trial.validation, trial.seed)
        if network == "reference":
            scores["reference"] = combine(parts, "sum")
            continue
        for score in SCORES:
            scores[f"{network}:{score}"] = combine(parts, score)
    x = bench.dataset.features
    for name, method in BASELINES.items():
        scores[name] = method(bench.dataset, trial.fit, trial.validation, trial.seed)(x)
    return scores


def contamination(bench: Bench, trial: Trial) -> dict[str, float]:
    """Return the training rows' true fraud share and the share `fit` finds far out.

    The far-out share is the one the default's `auto` scaling is chosen from
    (`training.fitting.contamination`), on the fit rows with the default network's seed.
    """
    train = np.concatenate([trial.fit, trial.validation])
    return {
        "true": float(bench.labels[train].mean()),
        "far_out": bench.far_out(trial.fit, trial.seed * 1000),
    }


def run_unlabelled(bench: Bench, trial: Trial, networks: list[str]) -> dict:
    """Return each candidate's test measures and the contamination estimates of one trial."""
    scores = candidate_scores(bench, trial, networks)
    row = {name: measure(bench, values, trial.test) for name, values in scores.items()}
    return {"measures": row, "contamination": contamination(bench, trial)}


def run_labelled(bench: Bench, trial: Trial, networks: list[str]) -> dict:
    """Return, per network and number of labelled frauds, the chosen and the fixed scores.

    The network learns from the normal training rows; K labelled frauds drawn from the pool
    (`DRAWS` draws per K), with the normal validation rows, choose among `CHOICES` by AP at
    the production rate (the first of `CHOICES` on a tie); every score is measured on the same
    test rows, beside the scores of the network that learnt from the unlabelled training rows
    (frauds included).
    """
    labels = bench.labels
    fit = trial.fit[labels[trial.fit] == 0]
    validation = trial.validation[labels[trial.validation] == 0]
    rng = np.random.default_rng(trial.seed + 2)
    result: dict = {}
    for network in networks:
        if network == "reference":
            continue
        normal_parts = bench.parts(network, fit, validation, trial.seed)
        unlabelled_parts = bench.parts(network, trial.fit, trial.validation, trial.seed)
        fixed = {
            **{f"normal:{s}": combine(normal_parts, s) for s in CHOICES},
            **{f"unlabelled:{s}": combine(unlabelled_parts, s) for s in ("error", "sum")},
        }
        measures = {name: measure(bench, s, trial.test) for name, s in fixed.items()}
        for k in (k for k in LABELLED_COUNTS if k <= len(trial.pool)):
            for draw in range(DRAWS):
                frauds = rng.permutation(trial.pool)[:k]
                rows = np.concatenate([validation, frauds])
                chosen = max(
                    CHOICES,
                    key=lambda s: measure(bench, fixed[f"normal:{s}"], rows)["ap_p"],
                )
                measures[f"chosen@{k}#{draw}"] = {
                    **measures[f"normal:{chosen}"],
                    "choice": CHOICES.index(chosen),
                }
        result[network] = measures
    return result


def table(rows: dict[str, list[dict]], baselines: tuple[str, ...]) -> str:
    """Return a Markdown table: mean ± sd per candidate, and paired differences to baselines.

    `rows` maps a candidate to its per-seed measures, in seed order.
    """
    header = "| candidate | ROC AUC | AP@p | " + " | ".join(
        f"Δ ROC AUC vs {b} (± se)" for b in baselines
    )
    lines = [header + " | seeds |", "|---" * (4 + len(baselines)) + "|"]
    for name, runs in rows.items():
        auc = np.array([r["roc_auc"] for r in runs])
        ap = np.array([r["ap_p"] for r in runs])
        cells = [name, _pm(auc), _pm(ap)]
        for base in baselines:
            other = np.array([r["roc_auc"] for r in rows[base]])
            cells.append(_pm(auc - other, se=True) if len(other) == len(auc) else "–")
        lines.append("| " + " | ".join(cells) + f" | {len(runs)} |")
    return "\n".join(lines)


def _pm(values: np.ndarray, se: bool = False) -> str:
    if len(values) < 2:
        return f"{values.mean():+.4f}" if se else f"{values.mean():.4f}"
    spread = values.std(ddof=1) / (np.sqrt(len(values)) if se else 1.0)
    sign = "+" if se else ""
    return f"{values.mean():{sign}.4f} ± {spread:.4f}"


def report_unlabelled(
    protocol: str,
    results: list[dict],
    order: list[str],
    versus: tuple[str, ...] = ("reference", "isolation_forest"),
) -> str:
    """Return the candidates' table, the contamination estimates and sum-versus-error lines.

    The table's paired differences are to the candidates named in `versus`.
    """
    rows: dict[str, list[dict]] = {}
    for name in order:
        runs = [r["measures"][name] for r in results if name in r["measures"]]
        if runs:
            rows[name] = runs
    baselines = tuple(b for b in versus if b in rows)
    estimates = {
        key: np.array([r["contamination"][key] for r in results]) for key in ("true", "far_out")
    }
    chosen = [choose_scaling(share) for share in estimates["far_out"]]
    note = (
        f"Training rows' fraud share {estimates['true'].mean():.4f}. Share of fit rows far out "
        f"(`training.fitting.contamination`), mean [min, max] over seeds: "
        f"{_range(estimates['far_out'])}; the default's scaling: "
        + ", ".join(f"{name} {chosen.count(name)}" for name in sorted(set(chosen)))
        + "."
    )
    gaps = []
    for name in rows:
        network, _, score = name.partition(":")
        if score == "sum" and f"{network}:error" in rows:
            gap = np.array([r["roc_auc"] for r in rows[name]]) - np.array(
                [r["roc_auc"] for r in rows[f"{network}:error"]]
            )
            gaps.append(f"{network} {_pm(gap, se=True)}")
    if gaps:
        note += " ROC AUC of the sum minus the error alone, paired (± se): " + "; ".join(gaps) + "."
    return f"**{protocol}**\n\n{table(rows, baselines)}\n\n{note}\n"


def _range(values: np.ndarray) -> str:
    return f"{values.mean():.4f} [{values.min():.4f}, {values.max():.4f}]"


def report_labelled(results: list[dict]) -> str:
    """Return, per network, the fixed scores and the choice by K labelled frauds."""
    out = []
    for network in results[0]:
        rows: dict[str, list[dict]] = {}
        keys = list(results[0][network])
        for name in (k for k in keys if "#" not in k):
            rows[name] = [r[network][name] for r in results]
        picks = []
        for k in LABELLED_COUNTS:
            draws = [
                [r[network][key] for key in r[network] if key.startswith(f"chosen@{k}#")]
                for r in results
            ]
            if not draws[0]:
                continue
            # One row per seed: the mean over draws, so seeds stay the unit of the sd.
            rows[f"chosen by {k} frauds"] = [
                {m: float(np.mean([d[m] for d in seed_draws])) for m in ("roc_auc", "ap_p")}
                for seed_draws in draws
            ]
            counts = np.bincount([d["choice"] for s in draws for d in s], minlength=len(CHOICES))
            picks.append(
                f"{k}: " + ", ".join(f"{c} {n}" for c, n in zip(CHOICES, counts, strict=True) if n)
            )
        base = ("normal:sum", "unlabelled:sum")
        out.append(
            f"**labelled, network {network}**\n\n{table(rows, base)}\n\n"
            f"Choices over {len(results)} seeds × {DRAWS} draws — " + "; ".join(picks) + "\n"
        )
    return "\n".join(out)


def candidate_order(networks: list[str], scores: list[str]) -> list[str]:
    """Return the candidates in table order: networks' scores, then the baselines.

    >>> candidate_order(["central", "reference"], ["sum"])
    ['central:sum', 'reference', 'isolation_forest', 'pca']
    """
    names = []
    for network in networks:
        if network == "reference":
            continue
        names += [f"{network}:{s}" for s in scores]
    return names + (["reference"] if "reference" in networks else []) + list(BASELINES)


RUNS = {"labelled": run_labelled}


def time_order(path: Path) -> np.ndarray:
    """Return the row order by the file's Time column (stable), or file order without one."""
    frame = data.read_csv(path)
    if "Time" in frame.columns:
        return np.argsort(frame["Time"].to_numpy(), kind="stable")
    return np.arange(len(frame))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="labelled CSV")
    parser.add_argument("--protocol", default="production", help=f"comma-separated: {PROTOCOLS}")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--networks",
        default="default,central,standard,reference",
        help=f"comma-separated subset of {','.join(NETWORKS)}",
    )
    parser.add_argument(
        "--scores",
        default=",".join(SCORES),
        help=f"comma-separated: the scores shown per network, of {','.join(SCORES)}",
    )
    parser.add_argument(
        "--versus",
        default="reference,isolation_forest",
        help="comma-separated candidates the table shows paired ROC AUC differences to",
    )
    parser.add_argument("--train-share", type=float, default=0.6, help="time protocols (0.6)")
    parser.add_argument("--pool", type=int, default=29, help="labelled frauds set aside (29)")
    parser.add_argument("--prevalence", type=float, default=ULB_PREVALENCE)
    parser.add_argument("--cache", type=Path, help="directory caching fitted score parts")
    parser.add_argument("--json", type=Path, help="also write every measure here")
    args = parser.parse_args(argv)
    for name in args.protocol.split(","):
        if name not in PROTOCOLS:
            parser.error(f"unknown protocol {name!r}; choose from {', '.join(PROTOCOLS)}")
    for name in args.networks.split(","):
        if name not in NETWORKS:
            parser.error(f"unknown network {name!r}; choose from {', '.join(NETWORKS)}")
    for name in args.scores.split(","):
        if name not in SCORES:
            parser.error(f"unknown score {name!r}; choose from {', '.join(SCORES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    dataset, labels = data.read_labelled(args.data)
    bench = Bench(dataset, labels, time_order(args.data), args.cache, args.prevalence)
    networks = args.networks.split(",")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    everything: dict[str, list] = {}
    print(f"## {args.data.name}: {dataset.n_rows} rows, {int(labels.sum())} frauds\n")
    for protocol in args.protocol.split(","):
        results = []
        for seed in seeds:
            log(f"{args.data.name} {protocol} seed {seed}")
            trial = make_trial(bench, protocol, seed, args)
            run = RUNS.get(protocol, run_unlabelled)
            results.append(run(bench, trial, networks))
        everything[protocol] = results
        if protocol == "labelled":
            print(report_labelled(results))
        else:
            order = candidate_order(networks, args.scores.split(","))
            print(report_unlabelled(protocol, results, order, tuple(args.versus.split(","))))
    elapsed = time.perf_counter() - started
    print(
        f"{bench.fits} networks fitted in {bench.fit_seconds:.0f} s; "
        f"run took {elapsed:.0f} s in all."
    )
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
