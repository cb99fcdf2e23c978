import numpy as np
import pytest
from stage_helpers import fit_test_stage, labelled_rows, small_detector

from training.fitting.stage import fit_calibration
from training.scoring.stage import (
    PART_NAMES,
    StageError,
    autoencoder_outputs,
    input_names,
    load_trees,
    stage_from_dict,
    stage_to_dict,
)

pytest.importorskip("lightgbm")


@pytest.mark.parametrize("networks", [1, 3])
def test_score_parts_sum_to_the_detectors_score(networks):
    rng = np.random.default_rng(0)
    detector = small_detector(rng, networks)
    x = rng.normal(size=(50, 4))
    parts = autoencoder_outputs(detector, x, "parts")
    assert parts.shape == (50, len(PART_NAMES))
    np.testing.assert_allclose(parts.sum(axis=1), detector.score(x), rtol=1e-12)
    outputs = detector.outputs(x)  # the consumer's one pass: the same numbers
    np.testing.assert_array_equal(outputs.parts, parts)
    np.testing.assert_array_equal(outputs.contributions, detector.contributions(x))


def test_residuals_square_to_the_reconstruction_error_part():
    rng = np.random.default_rng(1)
    detector = small_detector(rng)
    x = rng.normal(size=(30, 4))
    outputs = autoencoder_outputs(detector, x, "residuals")
    assert outputs.shape == (30, 3 + 4)
    np.testing.assert_array_equal(outputs[:, :3], autoencoder_outputs(detector, x, "parts"))
    np.testing.assert_allclose(np.square(outputs[:, 3:]).sum(axis=1), outputs[:, 0], rtol=1e-12)
    assert input_names(detector.feature_names, "residuals")[-1] == "residual_f3"


def test_unknown_inputs_are_refused():
    with pytest.raises(StageError, match="parts, residuals"):
        autoencoder_outputs(small_detector(np.random.default_rng(0)), np.zeros((1, 4)), "codes")


def test_platt_calibration_recovers_a_known_logistic_link():
    rng = np.random.default_rng(2)
    raw = rng.normal(size=20000)
    labels = rng.random(20000) < 1 / (1 + np.exp(-(2.0 * raw - 1.0)))
    calibration = fit_calibration(raw, labels)
    assert calibration.slope == pytest.approx(2.0, abs=0.15)
    assert calibration.intercept == pytest.approx(-1.0, abs=0.1)


def test_calibration_stays_finite_on_separated_classes_and_needs_both():
    raw = np.r_[np.linspace(-12, -2, 300), np.linspace(2, 12, 10)]
    calibration = fit_calibration(raw, np.r_[np.zeros(300), np.ones(10)])
    assert 0 < calibration.slope < 10 and np.isfinite(calibration.intercept)
    p = calibration(np.array([-40.0, 3.0, 40.0]))
    assert 0 < p[0] < 1e-6 and 0.5 < p[1] < p[2] < 1.0
    with pytest.raises(StageError, match="both frauds and normal rows"):
        fit_calibration(np.array([1.0, 2.0]), np.array([0, 0]))


def _stage(rng):
    detector = small_detector(rng)
    x, y = labelled_rows(rng)
    rows = rng.permutation(len(y))
    fit_rows, val_rows, test_rows = rows[:700], rows[700:950], rows[950:]
    return (
        detector,
        x,
        y,
        fit_test_stage(detector, x, y, fit_rows, val_rows, "parts", seed=3),
        test_rows,
    )


def test_a_fitted_stage_ranks_frauds_above_normal_rows():
    detector, x, y, stage, test = _stage(np.random.default_rng(3))
    p = stage.probability(detector, x[test])
    assert ((p >= 0) & (p <= 1)).all()
    assert p[y[test] == 1].mean() > 5 * p[y[test] == 0].mean()


def test_a_stage_round_trips_through_its_text_and_manifest_entry_exactly():
    detector, x, _, stage, _ = _stage(np.random.default_rng(4))
    entry = stage_to_dict(stage, detector.feature_names)
    loaded = stage_from_dict(entry, stage.trees.to_text(), detector.feature_names)
    assert np.array_equal(loaded.probability(detector, x), stage.probability(detector, x))
    # A micro-batch scores each row as it scores alone.
    alone = np.concatenate([loaded.probability(detector, x[i : i + 1]) for i in range(20)])
    assert np.array_equal(alone, stage.probability(detector, x[:20]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e | {"format": "pickle"}, "unknown stage format"),
        (lambda e: e | {"inputs": "codes"}, "must be one of"),
        (lambda e: e | {"input_names": e["input_names"][::-1]}, "input_names do not match"),
        (lambda e: e | {"calibration": {"method": "isotonic"}}, "platt calibration"),
        (lambda e: e | {"calibration": e["calibration"] | {"slope": "1"}}, "must be numbers"),
        (lambda e: e | {"calibration": e["calibration"] | {"slope": -1.0}}, "positive"),
        (lambda e: e | {"calibration": e["calibration"] | {"intercept": float("nan")}}, "finite"),
    ],
)
def test_a_bad_manifest_entry_is_refused_naming_the_problem(change, message):
    detector, _, _, stage, _ = _stage(np.random.default_rng(5))
    entry = change(stage_to_dict(stage, detector.feature_names))
    with pytest.raises(StageError, match=message):
        stage_from_dict(entry, stage.trees.to_text(), detector.feature_names)


def test_model_text_that_is_not_a_binary_lightgbm_model_of_the_right_width_is_refused():
    detector, _, _, stage, _ = _stage(np.random.default_rng(6))
    text = stage.trees.to_text()
    width = len(input_names(detector.feature_names, "parts"))
    with pytest.raises(StageError, match="not complete LightGBM model text"):
        load_trees("\x80\x04pickle", width)
    with pytest.raises(StageError, match="reads 7 columns, the stage has 8"):
        load_trees(text, width + 1)
    with pytest.raises(StageError, match="not binary"):
        load_trees(text.replace("objective=binary", "objective=regression"), width)
    with pytest.raises(StageError, match="not complete"):
        load_trees(text[: len(text) // 2], width)


def test_model_text_changed_after_fitting_is_refused_before_lightgbm_reads_it():
    detector, _, _, stage, _ = _stage(np.random.default_rng(7))
    entry = stage_to_dict(stage, detector.feature_names)
    text = stage.trees.to_text().replace("shrinkage=0.1", "shrinkage=0.2", 1)
    with pytest.raises(StageError, match="does not match the sha256"):
        stage_from_dict(entry, text, detector.feature_names)
