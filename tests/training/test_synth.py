import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from training.errors import OptionError
from training.synth import COLUMNS, synthesize


def test_schema_rate_and_order():
    frame = synthesize(5000, fraud_rate=0.01, seed=3)
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == 5000 and int(frame["Class"].sum()) == 50
    assert frame["Time"].is_monotonic_increasing
    assert (frame["Amount"] >= 0).all()


def test_same_seed_same_data_other_seed_other_data():
    assert synthesize(300, seed=1).equals(synthesize(300, seed=1))
    assert not synthesize(300, seed=1).equals(synthesize(300, seed=2))


def test_v_columns_are_decorrelated_and_ordered_by_variance():
    frame = synthesize(20000, fraud_rate=0.0, seed=0)
    v = frame[[f"V{i}" for i in range(1, 29)]].to_numpy()
    corr = np.corrcoef(v, rowvar=False)
    assert np.abs(corr - np.eye(28)).max() < 0.05
    assert np.all(np.diff(v.var(axis=0)) <= 1e-9)


def test_frauds_are_detectable_but_not_trivially():
    frame = synthesize(20000, fraud_rate=0.01, seed=0)
    x = frame.drop(columns=["Time", "Class"]).to_numpy()
    scores = -IsolationForest(random_state=0).fit(x).score_samples(x)
    auc = roc_auc_score(frame["Class"], scores)
    assert 0.8 < auc < 0.99
    frauds, normals = frame[frame["Class"] == 1], frame[frame["Class"] == 0]
    assert frauds["Amount"].quantile(0.95) > normals["Amount"].quantile(0.95)


@pytest.mark.parametrize("rows, rate", [(0, 0.01), (10, -0.1), (10, 1.0)])
def test_bad_options(rows, rate):
    with pytest.raises(OptionError):
        synthesize(rows, fraud_rate=rate)
