import numpy as np
import pytest
from sklearn.preprocessing import RobustScaler, StandardScaler

from training.errors import OptionError
from training.scaling import Scaler, fit_scaler


@pytest.fixture
def features() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.column_stack([rng.normal(5, 2, 500), rng.lognormal(3, 1, 500)])


def test_standard_scaling_matches_scikit_learn(features):
    ours = fit_scaler(features, "standard").transform(features)
    np.testing.assert_allclose(ours, StandardScaler().fit_transform(features), atol=1e-12)


def test_robust_scaling_is_median_and_normal_consistent_iqr(features):
    scaler = fit_scaler(features, "robust")
    expected = RobustScaler(unit_variance=True).fit_transform(features)
    np.testing.assert_allclose(scaler.transform(features), expected, atol=1e-6)


def test_constant_column_gets_unit_scale_and_mostly_constant_falls_back_to_std():
    constant = np.column_stack([np.full(10, 3.0), np.r_[np.zeros(9), 10.0]])
    scaler = fit_scaler(constant, "robust")
    assert scaler.scale[0] == 1.0
    assert scaler.scale[1] == pytest.approx(constant[:, 1].std())
    assert np.isfinite(scaler.transform(constant)).all()


def test_clip_bounds_scaled_values(features):
    scaler = fit_scaler(features, "standard", clip=1.5)
    scaled = scaler.transform(features * 100)
    assert scaled.max() == 1.5 and scaled.min() == -1.5


def test_round_trip_through_dict(features):
    scaler = fit_scaler(features, "robust", clip=10.0)
    again = Scaler.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.transform(features), scaler.transform(features))


def test_rejects_unknown_method_and_bad_clip(features):
    with pytest.raises(OptionError, match="unknown scaling"):
        fit_scaler(features, "minmax")
    with pytest.raises(OptionError, match="clip"):
        fit_scaler(features, "standard", clip=0)
