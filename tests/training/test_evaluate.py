import numpy as np
import pytest
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

from training.evaluate import detection_metrics, write_history_plot, write_plots


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
