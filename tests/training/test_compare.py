import json
import subprocess
import sys

import numpy as np
import pytest

from training.comparison.compare import (
    METHODS,
    Outcome,
    autoencoder_method,
    format_table,
    production_splits,
    run_comparison,
    summarise,
)
from training.datasets.dataset import Dataset
from training.datasets.synth import synthesize
from training.fitting.config import FitConfig
from training.options import variant_configs
from training.scoring.errors import OptionError


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    frame = synthesize(3000, fraud_rate=0.03, seed=11)
    names = tuple(c for c in frame.columns if c not in ("Time", "Class"))
    return Dataset(frame[list(names)].to_numpy(), frame["Class"].to_numpy(), names)


def test_every_method_sees_the_same_test_rows_and_beats_chance(dataset):
    seen = {}

    def record(method, protocol, seed, labels, scores):
        seen[(method, protocol, seed)] = labels

    methods = {name: METHODS[name] for name in ("isolation_forest", "pca")}
    outcomes = run_comparison(
        dataset, 2, ("unsupervised", "normal", "production"), methods, lambda m: None, record
    )
    assert len(outcomes) == 2 * 3 * 2
    assert all(0 <= o.production_ap <= 1 and 0 <= o.production_recall <= 1 for o in outcomes)
    assert all(o.roc_auc > 0.7 for o in outcomes)
    for (method, protocol, seed), labels in seen.items():
        assert np.array_equal(seen[("pca", protocol, seed)], labels), method
    assert np.array_equal(seen[("pca", "normal", 0)], seen[("pca", "unsupervised", 0)])
    assert not np.array_equal(seen[("pca", "normal", 0)], seen[("pca", "normal", 1)])
    assert seen[("pca", "production", 0)].sum() > seen[("pca", "unsupervised", 0)].sum()


def test_production_splits_train_on_frauds_at_the_production_rate():
    labels = np.zeros(20_000, dtype=int)
    labels[:400] = 1
    for seed in range(3):
        splits = production_splits(labels, 0.002, seed)
        train = np.concatenate([splits.fit, splits.validation])
        every = np.concatenate([train, splits.test])
        assert np.array_equal(np.sort(every), np.arange(len(labels)))  # each row exactly once
        assert labels[train].mean() == pytest.approx(0.002, abs=0.0002)
        assert labels[splits.test].sum() == 400 - labels[train].sum()
        assert labels[splits.validation].sum() >= 1


def test_summary_and_table():
    outcomes = [Outcome("a", "unsupervised", s, 0.8 + 0.1 * s, 0.5) for s in range(2)]
    (row,) = summarise(outcomes)
    assert row["roc_auc_mean"] == pytest.approx(0.85) and row["ap_std"] == 0.0
    assert "| unsupervised | a | 0.850 ± 0.050 | 0.500 ± 0.000 | nan ± nan |" in format_table([row])


@pytest.mark.slow
def test_compare_command_writes_table_and_report(tmp_path):
    data = tmp_path / "d.csv"
    synthesize(2000, fraud_rate=0.03, seed=2).to_csv(data, index=False)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "compare",
            "--data",
            str(data),
            "--seeds",
            "2",
            "--methods",
            "reference,isolation_forest",
            "--variant",
            "quick=--epochs 2 --patience 0 --scaling standard",
            "--report-dir",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "| normal | reference |" in result.stdout
    assert "| unsupervised | isolation_forest |" in result.stdout
    assert "| unsupervised | quick |" in result.stdout
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert len(results["runs"]) == 3 * 2 * 3
    assert "| production | isolation_forest |" in result.stdout
    for protocol in ("unsupervised", "normal", "production"):
        for curve in ("pr", "roc"):
            assert (tmp_path / "r" / f"{protocol}_{curve}.png").stat().st_size > 1000


def test_compare_rejects_unknown_method(tmp_path):
    data = tmp_path / "d.csv"
    synthesize(200, fraud_rate=0.05).to_csv(data, index=False)
    result = subprocess.run(
        [sys.executable, "-m", "training", "compare", "--data", str(data), "--methods", "svm"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "unknown method" in result.stderr


def test_variants_are_autoencoders_with_fit_options():
    (quick,) = variant_configs(["quick = --scaling standard --log-columns ''"]).items()
    assert quick == ("quick", FitConfig(scaling="standard", log_columns=()))
    for spec, message in [
        ("--scaling standard", "write LABEL=OPTIONS"),
        ("pca=--epochs 2", "already taken"),
        ("x=--no-such-option", "not a list of fit options"),
        ("x=--scaling minmax", "--scaling must be one of"),
        ("x=--train-on normal --seed 3", "compare decides --train-on, --seed"),
    ]:
        with pytest.raises(OptionError, match=message):
            variant_configs([spec], taken=tuple(METHODS))


@pytest.mark.slow
def test_the_autoencoder_sees_the_real_feature_names(dataset):
    rows = np.arange(dataset.n_rows)
    score = autoencoder_method(FitConfig(epochs=1, patience=0))(
        dataset, rows[:2000], rows[2000:], 0
    )
    detector = score.__self__  # the bound Detector.score
    assert detector.feature_names == dataset.feature_names
    assert detector.scaler.log.tolist() == [False] * 28 + [True]  # Amount, by its name
