"""The bundle's score baseline: computed from held-out normal scores, validated on load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.scoring.baseline import (
    MIN_ROWS,
    ScoreBaseline,
    baseline_of,
    expected_alert_ratio,
    held_out_baseline,
    score_baseline,
)
from training.scoring.bundle import MANIFEST, load_bundle, save_bundle
from training.scoring.detector import Detector
from training.scoring.errors import BundleError
from training.scoring.network import Dense, Network
from training.scoring.scaling import Scaler


def tiny_detector() -> Detector:
    rng = np.random.default_rng(0)
    layers = (
        Dense(rng.normal(size=(3, 2)), rng.normal(size=2), "tanh"),
        Dense(rng.normal(size=(2, 3)), rng.normal(size=3), "linear"),
    )
    scaler = Scaler("robust", np.zeros(3), np.ones(3), log=np.zeros(3, dtype=bool))
    return Detector(("a", "b", "c"), scaler, (Network(layers, 0.7),), np.ones(3), 4.2)


def test_baseline_bins_hold_a_tenth_of_the_scores_each():
    ref = score_baseline(np.random.default_rng(0).gamma(2.0, 1.0, size=5000))
    assert ref is not None
    assert len(ref.edges) == 9 and np.all(np.diff(ref.edges) > 0)
    assert np.allclose(ref.shares, 0.1, atol=0.002)
    assert ref.rows == 5000


def test_ties_and_non_finite_scores():
    scores = np.concatenate([np.zeros(80), np.arange(40.0), [np.inf, np.nan]])
    ref = score_baseline(scores)
    assert ref is not None and ref.rows == 120
    assert np.all(np.diff(ref.edges) > 0)  # repeated quantiles merge into one edge
    assert ref.shares.sum() == pytest.approx(1.0)


def test_too_few_scores_make_no_baseline():
    assert score_baseline(np.arange(MIN_ROWS - 1.0)) is None


def test_held_out_baseline_keeps_normal_rows_only():
    scores = np.concatenate([np.linspace(0, 1, 200), np.full(50, 100.0)])
    labels = np.concatenate([np.zeros(200), np.ones(50)])
    labelled = held_out_baseline(scores, labels)
    unlabelled = held_out_baseline(scores, None)
    assert labelled is not None and labelled.rows == 200 and labelled.edges.max() < 1
    assert unlabelled is not None and unlabelled.rows == 250


def test_bundle_round_trip(tmp_path):
    ref = score_baseline(np.random.default_rng(1).gamma(2.0, 1.0, size=1000))
    assert ref is not None
    save_bundle(tmp_path / "m", tiny_detector(), {"score_reference": ref.to_dict()})
    manifest, _ = load_bundle(tmp_path / "m")
    loaded = baseline_of(manifest)
    assert loaded is not None
    assert loaded.edges.tolist() == ref.edges.tolist()
    assert loaded.shares.tolist() == ref.shares.tolist()


def test_bundles_without_a_baseline_still_load(tmp_path):
    save_bundle(tmp_path / "m", tiny_detector(), {})
    manifest, _ = load_bundle(tmp_path / "m")
    assert baseline_of(manifest) is None
    assert expected_alert_ratio(manifest) is None


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ([1, 2], "must be an object"),
        ({"edges": [2.0, 1.0], "shares": [0.3, 0.3, 0.4], "rows": 10}, "strictly increasing"),
        ({"edges": [1.0], "shares": [1.0], "rows": 10}, "needs 2 shares"),
        ({"edges": [1.0], "shares": [0.7, 0.7], "rows": 10}, "sum to 1"),
        ({"edges": [1.0], "shares": [-0.5, 1.5], "rows": 10}, "not negative"),
        ({"edges": ["1"], "shares": [0.5, 0.5], "rows": 10}, "list of numbers"),
        ({"edges": [1.0], "shares": [0.5, 0.5], "rows": 0}, "positive integer"),
    ],
)
def test_a_malformed_baseline_is_refused_naming_it(tmp_path, entry, problem):
    save_bundle(tmp_path / "m", tiny_detector(), {})
    manifest = json.loads((tmp_path / "m" / MANIFEST).read_text())
    manifest["score_reference"] = entry
    (tmp_path / "m" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=f"score_reference.*{problem}"):
        load_bundle(tmp_path / "m")


def test_baseline_from_dict_reads_what_to_dict_writes():
    ref = ScoreBaseline(np.array([1.0, 2.0]), np.array([0.2, 0.5, 0.3]), rows=10)
    again = ScoreBaseline.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert again.edges.tolist() == [1.0, 2.0] and again.rows == 10


def test_expected_alert_ratio_is_the_validation_alert_rate():
    manifest = {"metrics": {"validation": {"alert_rate": 0.03}, "test": {"alert_rate": 0.5}}}
    assert expected_alert_ratio(manifest) == 0.03
    assert expected_alert_ratio({"metrics": {"validation": {"alert_rate": "x"}}}) is None
