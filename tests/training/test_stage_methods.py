"""The supervised stage's methods for compare, and the new-fraud protocol, on small data."""

import dataclasses

import numpy as np
import pytest

from training.comparison.methods import (
    ThresholdedScore,
    both_method,
    format_new_fraud_table,
    run_new_fraud,
    supervised_method,
)
from training.datasets.dataset import choose_features, to_dataset
from training.datasets.synth import synthesize
from training.fitting.config import FitConfig
from training.fitting.splits import split_rows

pytest.importorskip("lightgbm")
pytestmark = pytest.mark.slow
TINY = FitConfig(epochs=3, patience=0, batch_size=128, encoder=("1x", "0.25x"))


@pytest.fixture(scope="module")
def dataset():
    frame = synthesize(3000, fraud_rate=0.03, seed=3)
    names = choose_features(list(frame.columns), "Class", ["Time"], None)
    return to_dataset(frame, names, "Class", "synthetic")


def test_both_stages_carry_the_threshold_their_decision_chose(dataset):
    labels = dataset.labels
    splits = split_rows(labels, dataset.n_rows, dataclasses.replace(TINY, split_seed=1))
    both = both_method(TINY)(dataset, splits.fit, splits.validation, 1)
    supervised = supervised_method(dataset, splits.fit, splits.validation, 1)
    for method in (both, supervised):
        assert isinstance(method, ThresholdedScore)
        val = method(dataset.features[splits.validation])
        assert (val > method.threshold).mean() <= 0.002 + 1e-9
        test = method(dataset.features[splits.test])
        assert test[labels[splits.test] == 1].mean() > test[labels[splits.test] == 0].mean()


def test_the_new_fraud_protocol_reports_every_method_on_every_hidden_group(dataset):
    lines = []
    outcomes = run_new_fraud(dataset, 1, lambda y: None, lines.append, groups=2, config=TINY)
    assert {(o.method, o.group) for o in outcomes} == {
        (m, g) for m in ("autoencoder", "supervised", "both") for g in (0, 1)
    }
    assert all(0 <= o.recall <= 1 for o in outcomes if not np.isnan(o.recall))
    table = format_new_fraud_table(outcomes)
    assert table.count("\n") == 4 and "| both |" in table
    assert "k-means groups" in lines[0]
