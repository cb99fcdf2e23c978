"""The default-choice benchmark's pure parts: protocols' rows, scores from parts, the tables."""

import doctest

import numpy as np

from bench import default_choice
from bench.default_choice import combine, far_share, labelled_trial, table, time_trial


def test_docstring_examples():
    assert doctest.testmod(default_choice).failed == 0


def test_scores_sum_the_parts_they_name():
    parts = np.array([[1.0, 10.0, 100.0], [2.0, 20.0, 200.0]])
    assert combine(parts, "sum").tolist() == [111.0, 222.0]
    assert combine(parts, "error").tolist() == [1.0, 2.0]
    assert combine(parts, "error+code").tolist() == [11.0, 22.0]


def test_far_share_is_small_on_a_log_normal_sample_and_grows_with_far_rows():
    rng = np.random.default_rng(0)
    clean = np.exp(rng.normal(size=10_000))
    assert far_share(clean) < 0.005
    contaminated = np.r_[clean, np.full(500, 1e4)]
    assert abs(far_share(contaminated) - 500 / 10_500) < 0.005


def test_the_time_protocol_trains_on_the_earliest_rows_and_tests_on_the_rest():
    labels = np.zeros(1000, dtype=int)
    labels[[10, 20, 30, 40, 900]] = 1
    order = np.arange(1000)[::-1]  # the last file row is the earliest
    trial = time_trial(labels, order, 0.6, None, seed=0)
    train = np.concatenate([trial.fit, trial.validation])
    assert set(train) == set(order[:600]) and set(trial.test) == set(order[600:])
    assert len(trial.validation) == 120
    assert labels[train].sum() == 1 and labels[trial.test].sum() == 4


def test_thinning_keeps_the_production_rate_of_training_frauds_and_drops_the_others():
    labels = np.zeros(1000, dtype=int)
    labels[:20] = 1
    trial = time_trial(labels, np.arange(1000), 0.5, 0.004, seed=3)
    train = np.concatenate([trial.fit, trial.validation])
    assert labels[train].sum() == 2  # 0.004 / 0.996 * 480 normal rows
    assert len(train) == 482 and set(trial.test) == set(range(500, 1000))


def test_the_labelled_pool_is_taken_from_test_frauds_and_never_tested():
    labels = np.zeros(3000, dtype=int)
    labels[::50] = 1
    trial = labelled_trial(labels, 0.00173, seed=1, pool=29)
    assert len(trial.pool) == 29 and labels[trial.pool].all()
    assert not set(trial.pool) & (set(trial.test) | set(trial.fit) | set(trial.validation))
    assert (
        labels[trial.test].sum()
        == 60 - 29 - labels[trial.fit].sum() - labels[trial.validation].sum()
    )


def test_the_table_shows_mean_sd_and_paired_differences_with_their_standard_error():
    rows = {
        "a": [{"roc_auc": 0.9, "ap_p": 0.1}, {"roc_auc": 0.8, "ap_p": 0.3}],
        "b": [{"roc_auc": 0.7, "ap_p": 0.2}, {"roc_auc": 0.8, "ap_p": 0.2}],
    }
    text = table(rows, ("b",))
    assert "| a | 0.8500 ± 0.0707 | 0.2000 ± 0.1414 | +0.1000 ± 0.1000 | 2 |" in text
    assert "| b | 0.7500 ± 0.0707 | 0.2000 ± 0.0000 | +0.0000 ± 0.0000 | 2 |" in text
