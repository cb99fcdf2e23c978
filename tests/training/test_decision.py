import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from training.fitting.decision import rate_threshold, share_budget
from training.scoring.decision import COMBINED_CUT, Decision

values = arrays(
    np.float64, st.integers(1, 60), elements=st.floats(-10, 10).map(lambda v: round(v, 1))
)


@settings(max_examples=200, deadline=None)
@given(values, st.floats(0.0, 1.0), st.data())
def test_rate_threshold_spends_as_much_of_the_budget_as_ties_allow_and_no_more(v, rate, draw):
    weights = draw.draw(arrays(np.float64, len(v), elements=st.floats(0.1, 5.0)))
    threshold = rate_threshold(v, rate, weights)
    spent = weights[v > threshold].sum() / weights.sum()
    assert spent <= rate + 1e-9
    below = v[v <= threshold]
    if below.size:  # alerting on the next tied group as well would overspend
        more = v >= below.max()
        assert weights[more].sum() / weights.sum() > rate - 1e-9


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 80), st.floats(0.01, 0.5), st.floats(0.0, 1.0), st.integers(0, 10**6))
def test_shared_budget_stays_within_the_rate_and_gives_the_trees_their_share(n, rate, share, seed):
    rng = np.random.default_rng(seed)
    p, s = rng.random(n).round(2), rng.exponential(size=n).round(2)
    decision = share_budget(p, s, rate, share)
    assert decision.alerts(p, s).mean() <= rate + 1e-9
    assert (p > decision.probability_threshold).mean() <= share * rate + 1e-9


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 50),
    st.floats(0.01, 0.95),
    st.floats(0.1, 50),
    st.floats(0.0, 0.5),
    st.integers(0, 10**6),
)
def test_the_combined_score_alerts_exactly_where_the_decision_does(n, t_p, t_s, floor, seed):
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    s = rng.exponential(t_s, size=n)
    s[rng.random(n) < 0.1] = np.nan
    decision = Decision(t_p, t_s, probability_floor=floor)
    combined = decision.combined(p, s)
    alerts = decision.alerts(p, s)
    assert np.array_equal(combined > COMBINED_CUT, alerts)
    assert ((combined >= 0) & (combined <= 1)).all()
    # Within the alerts and within the quiet rows, the ranking is the probability's.
    for group in (alerts, ~alerts):
        order = np.argsort(p[group], kind="stable")
        assert (np.diff(combined[group][order]) >= 0).all()
    reasons = decision.reasons(p, s)
    assert [bool(r) for r in reasons] == alerts.tolist()


def test_rows_only_the_autoencoder_flags_rank_below_supervised_alerts_above_quiet_rows():
    decision = Decision(0.3, 2.0, probability_floor=0.02)
    p = np.array([0.31, 0.29, 0.29, 0.05])
    s = np.array([0.0, 1e6, 1.0, 3.0])
    combined = decision.combined(p, s)
    assert combined[0] > combined[1] > combined[3] > COMBINED_CUT > combined[2]


def test_the_stage_vetoes_autoencoder_alerts_below_its_floor_but_not_overflowed_rows():
    decision = Decision(0.5, 2.0, probability_floor=0.1)
    p = np.array([0.09, 0.1, 0.09, 0.6])
    s = np.array([5.0, 5.0, np.nan, 0.0])
    assert decision.alerts(p, s).tolist() == [False, True, True, True]
    assert decision.reasons(p, s) == [[], ["autoencoder"], ["autoencoder"], ["supervised"]]


def test_without_a_floor_the_decision_is_either_stage_alerting():
    decision = Decision(0.5, 2.0)
    p = np.array([0.0, 0.6, 0.0])
    s = np.array([3.0, 0.0, 1.0])
    assert decision.alerts(p, s).tolist() == [True, True, False]


def test_the_budget_carries_the_floor_and_still_spends_no_more_than_the_rate():
    rng = np.random.default_rng(0)
    p, s = rng.random(200), rng.exponential(size=200)
    decision = share_budget(p, s, 0.05, 0.5, probability_floor=0.3)
    assert decision.probability_floor == 0.3
    assert decision.alerts(p, s).mean() <= 0.05
    assert Decision(**decision.to_dict()) == decision


def test_the_share_must_be_a_fraction():
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        share_budget(np.zeros(3), np.zeros(3), 0.1, 1.5)
