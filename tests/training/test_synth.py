import numpy as np
import pytest
from scipy.stats import kurtosis, spearmanr
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from training.datasets.synth import COLUMNS, KURTOSIS, SHIFT, SPREAD, V_COLUMNS, synthesize
from training.scoring.errors import OptionError


def test_schema_rate_and_order():
    frame = synthesize(5000, fraud_rate=0.01, seed=3)
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == 5000 and int(frame["Class"].sum()) == 50
    assert frame["Time"].is_monotonic_increasing
    assert (frame["Amount"] >= 0).all()


def test_same_seed_same_data_other_seed_other_data():
    assert synthesize(300, seed=1).equals(synthesize(300, seed=1))
    assert not synthesize(300, seed=1).equals(synthesize(300, seed=2))


def test_v_columns_are_decorrelated():
    frame = synthesize(20000, fraud_rate=0.0, seed=0)
    # Rank correlation: a few rows far out in the tails would dominate Pearson's.
    corr = spearmanr(frame[list(V_COLUMNS)].to_numpy()).statistic
    assert np.abs(corr - np.eye(28)).max() < 0.06


@pytest.fixture(scope="module")
def card_like():
    frame = synthesize(60_000, fraud_rate=0.01, seed=5)
    fraud = frame["Class"].to_numpy() == 1
    return frame[list(V_COLUMNS)].to_numpy()[~fraud], frame[list(V_COLUMNS)].to_numpy()[fraud]


def test_spread_of_normal_rows_matches_real_card_data(card_like):
    normal, _ = card_like
    np.testing.assert_allclose(normal.std(axis=0), SPREAD, rtol=0.08)


def test_tails_of_normal_rows_match_real_card_data(card_like):
    normal, _ = card_like
    measured, target = kurtosis(normal, axis=0), np.array(KURTOSIS)
    light = target < 2
    assert np.all(np.abs(measured[light] - target[light]) < 1.0)
    ratio = measured[~light] / target[~light]
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio.round(2)


def test_frauds_are_shifted_as_in_real_card_data(card_like):
    normal, fraud = card_like
    shift = (fraud.mean(axis=0) - normal.mean(axis=0)) / normal.std(axis=0)
    np.testing.assert_allclose(shift, SHIFT, rtol=0.15, atol=0.5)


def test_frauds_are_detectable_but_not_trivially():
    frame = synthesize(20000, fraud_rate=0.01, seed=0)
    x = frame.drop(columns=["Time", "Class"]).to_numpy()
    scores = -IsolationForest(random_state=0).fit(x).score_samples(x)
    auc = roc_auc_score(frame["Class"], scores)
    assert 0.85 < auc < 0.99
    frauds, normals = frame[frame["Class"] == 1], frame[frame["Class"] == 0]
    assert frauds["Amount"].quantile(0.95) > normals["Amount"].quantile(0.95)


@pytest.mark.parametrize("rows, rate", [(0, 0.01), (10, -0.1), (10, 1.0)])
def test_bad_options(rows, rate):
    with pytest.raises(OptionError):
        synthesize(rows, fraud_rate=rate)
