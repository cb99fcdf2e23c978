import numpy as np
import pytest
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

from training.evaluation.metrics import at_prevalence, detection_metrics, prevalence_weights
from training.evaluation.plots import write_history_plot, write_plots


def test_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    labels = (rng.random(500) < 0.1).astype(int)
    scores = rng.normal(size=500) + 2 * labels
    m = detection_metrics(scores, labels, threshold=1.0)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert m["average_precision"] == pytest.approx(average_precision_score(labels, scores))
    tn, fp, fn, tp = confusion_matrix(labels, scores > 1.0).ravel()
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (tn, fp, fn, tp)
    assert m["precision"] == pytest.approx(tp / (tp + fp))
    assert m["recall"] == pytest.approx(tp / (tp + fn))


def test_single_class_has_no_ranking_metrics():
    m = detection_metrics(np.array([0.1, 0.2]), np.array([0, 0]), threshold=0.15)
    assert m["roc_auc"] is None and m["average_precision"] is None and m["fp"] == 1


def test_plots_are_written(tmp_path):
    rng = np.random.default_rng(1)
    labels = np.r_[np.zeros(90), np.ones(10)]
    scores = rng.lognormal(size=100) + 3 * labels
    written = write_plots(tmp_path, scores, labels, threshold=2.0)
    assert {p.name for p in written} == {"pr_curve.png", "roc_curve.png", "score_histogram.png"}
    assert all(p.stat().st_size > 1000 for p in written)
    history = write_history_plot(
        tmp_path / "history.png", [{"loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}]
    )
    assert history.stat().st_size > 1000


def test_reweighting_to_the_test_splits_own_rate_changes_nothing():
    rng = np.random.default_rng(2)
    labels = (rng.random(400) < 0.1).astype(int)
    scores = rng.normal(size=400) + 1.5 * labels
    own_rate = labels.mean()
    plain = detection_metrics(scores, labels, threshold=1.0)
    production = at_prevalence(scores, labels, own_rate, threshold=1.0)
    assert production["average_precision"] == pytest.approx(plain["average_precision"])
    assert production["precision"] == pytest.approx(plain["precision"])
    assert production["recall"] == pytest.approx(plain["recall"])


def test_precision_at_a_rarer_fraud_rate_matches_a_test_split_thinned_to_it():
    # Ten copies of every normal row is a split with a tenth of the fraud rate: re-weighting
    # must give what that split measures directly.
    rng = np.random.default_rng(3)
    labels = (rng.random(300) < 0.2).astype(int)
    scores = rng.normal(size=300) + 2 * labels
    normal = labels == 0
    many_scores = np.concatenate([scores[~normal], np.tile(scores[normal], 10)])
    many_labels = np.concatenate([labels[~normal], np.tile(labels[normal], 10)])
    direct = detection_metrics(many_scores, many_labels, threshold=1.5)
    reweighted = at_prevalence(scores, labels, many_labels.mean(), threshold=1.5)
    assert reweighted["precision"] == pytest.approx(direct["precision"])
    assert reweighted["recall"] == pytest.approx(direct["recall"])
    assert reweighted["alert_rate"] == pytest.approx(direct["alert_rate"])
    assert reweighted["average_precision"] == pytest.approx(direct["average_precision"])
    assert reweighted["precision"] < detection_metrics(scores, labels, 1.5)["precision"]


def test_prevalence_weights_refuse_impossible_rates():
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="prevalence"):
            prevalence_weights(np.array([0, 1]), bad)
    with pytest.raises(ValueError, match="both classes"):
        prevalence_weights(np.array([0, 0]), 0.1)


def test_overflowed_scores_rank_first():
    m = detection_metrics(np.array([0.1, np.inf, 0.3, np.nan]), np.array([0, 1, 0, 1]), 0.2, 0.01)
    assert m["roc_auc"] == 1.0 and m["at_prevalence"]["recall"] == 1.0
