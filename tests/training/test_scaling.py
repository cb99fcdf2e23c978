import numpy as np
import pytest
from sklearn.preprocessing import RobustScaler, StandardScaler

from training.fitting.scaler import METHODS, fit_scaler
from training.scoring.errors import OptionError
from training.scoring.scaling import Scaler


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


def test_central_scaling_is_median_and_normal_consistent_5_to_95_range(features):
    scaler = fit_scaler(features, "central")
    q05, median, q95 = np.percentile(features, [5, 50, 95], axis=0)
    np.testing.assert_allclose(scaler.center, median)
    np.testing.assert_allclose(scaler.scale, (q95 - q05) / (2 * 1.6448536))
    normal = np.random.default_rng(1).normal(3.0, 2.0, size=(200_000, 1))
    assert fit_scaler(normal, "central").scale[0] == pytest.approx(2.0, rel=0.01)


def test_central_scale_resists_a_few_percent_of_extreme_rows():
    rng = np.random.default_rng(2)
    clean = rng.normal(0.0, 1.0, size=(10_000, 1))
    dirty = clean.copy()
    dirty[:300] = 1e4  # 3% of rows far out, as frauds in a training set as it comes
    assert fit_scaler(dirty, "central").scale[0] == pytest.approx(
        fit_scaler(clean, "central").scale[0], rel=0.2
    )
    assert fit_scaler(dirty, "standard").scale[0] > 100 * fit_scaler(clean, "standard").scale[0]


def test_mostly_constant_column_keeps_a_usable_central_scale():
    # 85% zeros: the interquartile range is 0, the 5-95% range is not.
    column = np.r_[np.zeros(850), np.linspace(1, 10, 150)][:, None]
    assert fit_scaler(column, "robust").scale[0] == pytest.approx(column.std())
    assert 0 < fit_scaler(column, "central").scale[0] < column.std() * 3


def test_logged_columns_are_signed_log1p_before_scaling():
    amounts = np.array([[0.0, -5.0], [9.0, 0.0], [99.0, 5.0], [999.0, 1.0]])
    log = np.array([True, False])
    scaler = fit_scaler(amounts, "standard", log=log)
    logged = np.column_stack([np.log1p(amounts[:, 0]), amounts[:, 1]])
    expected = (logged - logged.mean(axis=0)) / logged.std(axis=0)
    np.testing.assert_allclose(scaler.transform(amounts), expected)
    assert fit_scaler(-amounts, "standard", log=log).transform(-amounts)[:, 0] == pytest.approx(
        -expected[:, 0]
    )
    again = Scaler.from_dict(scaler.to_dict())
    assert again.log.tolist() == [True, False]
    np.testing.assert_array_equal(again.transform(amounts), scaler.transform(amounts))


def test_log_mask_must_match_the_features(features):
    with pytest.raises(OptionError, match="2 features"):
        fit_scaler(features, "standard", log=np.array([True, False, True]))


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
    assert set(METHODS) == {"central", "robust", "standard"}
    with pytest.raises(OptionError, match="clip"):
        fit_scaler(features, "standard", clip=0)


def test_a_0_1_integer_log_mask_means_columns_not_positions():
    scaler = Scaler("standard", np.zeros(3), np.ones(3), log=np.array([0, 0, 1]))
    out = scaler.transform(np.array([[9.0, 9.0, 9.0]]))
    np.testing.assert_allclose(out, [[9.0, 9.0, np.log1p(9.0)]])
