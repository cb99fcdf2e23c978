import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from training.fitting.threshold import ThresholdStrategy, choose_threshold, parse_strategy
from training.scoring.errors import OptionError

scores_strategy = arrays(
    np.float64, st.integers(20, 300), elements=st.floats(0, 1e6, allow_nan=False)
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("recall:0.75", ThresholdStrategy("recall", 0.75)),
        ("precision:0.6", ThresholdStrategy("precision", 0.6)),
        ("rate:0.002", ThresholdStrategy("rate", 0.002)),
        ("value:12.5", ThresholdStrategy("value", 12.5)),
    ],
)
def test_parse_strategy(text, expected):
    assert parse_strategy(text) == expected
    assert parse_strategy(str(expected)) == expected


@pytest.mark.parametrize(
    "text", ["", "rate", "quantile:0.9", "rate:abc", "recall:1.5", "rate:0", "value:nan"]
)
def test_parse_strategy_rejects_bad_text(text):
    with pytest.raises(OptionError):
        parse_strategy(text)


@settings(deadline=None)  # a property, not a timing: shared CPUs must not fail it
@given(scores_strategy, st.floats(0.001, 1.0))
def test_rate_never_alerts_more_than_asked(scores, rate):
    threshold = choose_threshold(ThresholdStrategy("rate", rate), scores)
    assert (scores > threshold.value).sum() <= int(np.floor(rate * len(scores)))


def test_rate_hits_the_target_on_distinct_scores():
    scores = np.arange(1000, dtype=float)
    threshold = choose_threshold(parse_strategy("rate:0.01"), scores)
    assert (scores > threshold.value).sum() == 10
    assert threshold.achieved == pytest.approx(0.01)


@settings(deadline=None)
@given(scores_strategy, st.floats(0.01, 1.0), st.randoms(use_true_random=False))
def test_recall_target_is_always_met(scores, recall, random):
    labels = np.array([random.random() < 0.3 for _ in scores], dtype=int)
    labels[0] = 1
    threshold = choose_threshold(ThresholdStrategy("recall", recall), scores, labels)
    assert (scores[labels == 1] > threshold.value).mean() >= recall - 1e-12
    assert threshold.met


def test_recall_picks_the_highest_threshold_that_meets_it():
    scores = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    labels = np.array([0, 1, 0, 1, 0, 1])
    threshold = choose_threshold(parse_strategy("recall:0.66"), scores, labels)
    assert (scores > threshold.value).tolist() == [False, False, False, True, True, True]


def test_precision_maximises_recall_subject_to_precision():
    scores = np.array([9.0, 8.0, 7.0, 6.0, 5.0, 4.0])
    labels = np.array([1, 1, 0, 1, 0, 0])
    threshold = choose_threshold(parse_strategy("precision:0.75"), scores, labels)
    alerts = scores > threshold.value
    assert alerts.tolist() == [True, True, True, True, False, False]
    assert threshold.achieved == pytest.approx(0.75) and threshold.met


def test_unreachable_precision_returns_most_precise_and_says_so():
    scores = np.array([9.0, 8.0, 7.0, 6.0])
    labels = np.array([0, 1, 0, 0])
    threshold = choose_threshold(parse_strategy("precision:0.9"), scores, labels)
    assert not threshold.met
    assert threshold.achieved == pytest.approx(0.5)


def test_ties_are_never_split():
    scores = np.array([1.0, 2.0, 2.0, 2.0, 3.0])
    labels = np.array([0, 1, 0, 1, 1])
    threshold = choose_threshold(parse_strategy("precision:1.0"), scores, labels)
    assert (scores > threshold.value).tolist() == [False, False, False, False, True]


def test_value_is_used_as_given():
    threshold = choose_threshold(parse_strategy("value:2.5"), np.array([1.0, 3.0]))
    assert threshold.value == 2.5 and threshold.achieved == 0.5


def test_label_strategies_need_labels_with_positives():
    with pytest.raises(OptionError, match="needs labelled data"):
        choose_threshold(parse_strategy("recall:0.5"), np.array([1.0, 2.0]))
    with pytest.raises(OptionError, match="no positive rows"):
        choose_threshold(parse_strategy("recall:0.5"), np.array([1.0, 2.0]), np.array([0, 0]))
