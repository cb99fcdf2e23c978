"""Score drift: the consumer's window of recent scores against the bundle's baseline."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from consumer.drift import ScoreWindow, population_stability_index
from consumer.metrics import Metrics
from training.scoring.baseline import ScoreBaseline, score_baseline
from training.scoring.detector import is_alert

BASELINE_ROWS = 2000  # about the held-out normal rows of a small training set


def drift_bound(alert_rules: list[dict]) -> float:
    """The bound of the FraudScoreDrift rule, read from alerts.yml."""
    rule = next(r for r in alert_rules if r["alert"] == "FraudScoreDrift")
    match = re.search(r"fraud_score_drift\)\s*>\s*([0-9.]+)", rule["expr"])
    assert match, rule["expr"]
    return float(match.group(1))


def normal_scores(rng: np.random.Generator, n: int) -> np.ndarray:
    """Scores shaped like an autoencoder's on normal rows: positive, skewed to the right."""
    return rng.gamma(2.0, 0.5, size=n)


@pytest.fixture
def baseline() -> ScoreBaseline:
    ref = score_baseline(normal_scores(np.random.default_rng(0), BASELINE_ROWS))
    assert ref is not None
    return ref


def window_drift(baseline: ScoreBaseline, scores: np.ndarray, batch: int = 1000) -> float:
    window = ScoreWindow(baseline, threshold=3.0)
    for start in range(0, len(scores), batch):
        window.observe(scores[start : start + batch])
    drift = window.drift()
    assert drift is not None
    return drift


def test_unshifted_stream_stays_below_the_rule_bound(baseline, alert_rules):
    scores = normal_scores(np.random.default_rng(1), 30_000)
    assert window_drift(baseline, scores) < drift_bound(alert_rules) / 5


@pytest.mark.parametrize(
    "shift",
    [lambda s: s * 1.6, lambda s: s + 0.5, lambda s: np.where(s > 1.0, s * 3, s)],
    ids=["scaled", "offset", "tail"],
)
def test_shifted_stream_crosses_the_rule_bound(baseline, alert_rules, shift):
    scores = shift(normal_scores(np.random.default_rng(1), 30_000))
    assert window_drift(baseline, scores) > drift_bound(alert_rules)


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift():
    expected = np.full(4, 0.25)
    small = population_stability_index(expected, np.array([30, 25, 25, 20]))
    large = population_stability_index(expected, np.array([60, 20, 15, 5]))
    assert population_stability_index(expected, np.array([5, 5, 5, 5])) == 0.0
    assert 0 < small < large


def test_empty_bins_keep_the_psi_finite():
    psi = population_stability_index(np.array([0.5, 0.5, 0.0]), np.array([0, 10, 10]))
    assert np.isfinite(psi) and psi > 1


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=12),
    size=st.integers(min_value=1, max_value=30),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_window_counts_are_those_of_the_last_scores(batches, size, seed):
    rng = np.random.default_rng(seed)
    baseline = ScoreBaseline(np.array([0.5, 1.0, 2.0]), np.full(4, 0.25), rows=100)
    window = ScoreWindow(baseline, threshold=1.5, size=size, min_scores=1)
    seen = np.empty(0)
    for n in batches:
        batch = rng.gamma(1.0, 1.0, size=n)
        batch[rng.random(n) < 0.1] = np.nan
        window.observe(batch)
        seen = np.concatenate([seen, batch])
    last = seen[-size:]
    bins = np.searchsorted(baseline.edges, last, side="right")
    bins[np.isnan(last)] = 3
    assert window.bin_counts().tolist() == np.bincount(bins, minlength=4).tolist()
    if len(last):
        assert window.alert_ratio() == pytest.approx(is_alert(last, 1.5).mean())


def metric_value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_metrics_export_drift_and_window_alert_ratio_once_the_window_fills(baseline):
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.describe_model("v1", 3.0, 0.01, baseline)
    first = normal_scores(np.random.default_rng(2), 100)
    metrics.observe_scores(first)
    assert metric_value(registry, "fraud_score_drift") is None  # too few scores to say
    assert metric_value(registry, "fraud_window_alert_ratio") is None
    rest = normal_scores(np.random.default_rng(3), 5000)
    metrics.observe_scores(rest)
    everything = np.concatenate([first, rest])
    counts = np.bincount(
        np.searchsorted(baseline.edges, everything, side="right"), minlength=len(baseline.shares)
    )
    assert metric_value(registry, "fraud_score_drift") == pytest.approx(
        population_stability_index(baseline.shares, counts)
    )
    assert metric_value(registry, "fraud_window_alert_ratio") == pytest.approx(
        is_alert(everything, 3.0).mean()
    )
    assert metric_value(registry, "fraud_alert_threshold", model_version="v1") == 3.0
    assert metric_value(registry, "fraud_expected_alert_ratio", model_version="v1") == 0.01


def test_a_bundle_without_reference_exports_no_drift():
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.describe_model("old", 3.0, None, None)
    metrics.observe_scores(normal_scores(np.random.default_rng(4), 5000))
    assert metric_value(registry, "fraud_score_drift") is None
    assert metric_value(registry, "fraud_expected_alert_ratio", model_version="old") is None
    assert metric_value(registry, "fraud_window_alert_ratio") is not None


def test_a_new_model_replaces_the_old_ones_series_and_window(baseline):
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.describe_model("v1", 3.0, 0.01, baseline)
    metrics.observe_scores(normal_scores(np.random.default_rng(5), 5000) * 3)
    metrics.describe_model("v2", 4.0, 0.02, baseline)
    assert metric_value(registry, "fraud_model_info", model_version="v1") is None
    assert metric_value(registry, "fraud_model_info", model_version="v2") == 1.0
    assert metric_value(registry, "fraud_alert_threshold", model_version="v1") is None
    assert metric_value(registry, "fraud_score_drift") is None  # a fresh, empty window
