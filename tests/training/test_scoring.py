import warnings

import numpy as np
import pytest

from training.scoring.detector import Detector, top_contributors
from training.scoring.network import (
    ACTIVATIONS,
    CodeDistance,
    Dense,
    Network,
    ReconstructionDistance,
)
from training.scoring.scaling import Scaler


def _detector(rng, threshold=1.0, networks=2, distance=False, spread=False) -> Detector:
    n = 4
    nets = tuple(
        Network(
            (
                Dense(rng.normal(size=(n, 2)), rng.normal(size=2), "tanh"),
                Dense(rng.normal(size=(2, n)), rng.normal(size=n), "linear"),
            ),
            error_scale=float(i + 1),
            code_layer=0,
            distance=CodeDistance(rng.normal(size=2), np.array([[2.0, 0.5], [0.5, 1.0]]), 3.0)
            if distance
            else None,
            spread=ReconstructionDistance(rng.normal(size=n), 2.5) if spread else None,
        )
        for i in range(networks)
    )
    scaler = Scaler("standard", rng.normal(size=n), np.abs(rng.normal(size=n)) + 0.5)
    return Detector(tuple("abcd"), scaler, nets, np.array([1.0, 2.0, 0.5, 1.0]), threshold)


def test_score_matches_a_direct_numpy_reference():
    rng = np.random.default_rng(1)
    detector = _detector(rng)
    raw = rng.normal(size=(50, 4))
    x = (raw - detector.scaler.center) / detector.scaler.scale
    expected = np.zeros(50)
    for net in detector.networks:
        hidden = np.tanh(x @ net.layers[0].kernel + net.layers[0].bias)
        out = hidden @ net.layers[1].kernel + net.layers[1].bias
        expected += (detector.feature_weights * (x - out) ** 2).sum(axis=1) / net.error_scale
    np.testing.assert_allclose(detector.score(raw), expected / 2, rtol=1e-12)


def test_code_distance_adds_a_mahalanobis_term():
    rng = np.random.default_rng(4)
    detector = _detector(rng, networks=1, distance=True)
    plain = Detector(
        detector.feature_names,
        detector.scaler,
        (Network(detector.networks[0].layers, 1.0, 0, None),),
        detector.feature_weights,
        1.0,
    )
    raw = rng.normal(size=(25, 4))
    x = detector.scaler.transform(raw)
    code = np.tanh(x @ detector.networks[0].layers[0].kernel + detector.networks[0].layers[0].bias)
    d = detector.networks[0].distance
    t2 = np.array([(c - d.center) @ d.precision @ (c - d.center) for c in code]) / 3.0
    np.testing.assert_allclose(detector.score(raw), plain.score(raw) + t2, rtol=1e-10)


def test_reconstruction_distance_adds_the_reconstructions_distance_from_its_center():
    rng = np.random.default_rng(6)
    detector = _detector(rng, networks=1, spread=True)
    network = detector.networks[0]
    plain = Detector(
        detector.feature_names,
        detector.scaler,
        (Network(network.layers, network.error_scale, 0, None),),
        detector.feature_weights,
        1.0,
    )
    raw = rng.normal(size=(25, 4))
    reconstruction = network.reconstruct(detector.scaler.transform(raw))
    spread = ((reconstruction - network.spread.center) ** 2).sum(axis=1) / 2.5
    np.testing.assert_allclose(detector.score(raw), plain.score(raw) + spread, rtol=1e-10)


@pytest.mark.parametrize("distance, spread", [(False, False), (True, False), (True, True)])
def test_contributions_sum_to_score_and_a_row_scores_alone_as_in_a_batch(distance, spread):
    rng = np.random.default_rng(2)
    detector = _detector(rng, distance=distance, spread=spread)
    raw = rng.normal(size=(30, 4))
    np.testing.assert_allclose(detector.contributions(raw).sum(axis=1), detector.score(raw))
    single = np.array([detector.score(raw[i : i + 1])[0] for i in range(30)])
    np.testing.assert_allclose(single, detector.score(raw), rtol=1e-12)


def test_alerts_are_strictly_above_threshold():
    detector = _detector(np.random.default_rng(3), threshold=2.0)
    assert detector.alerts(np.array([1.0, 2.0, 2.5])).tolist() == [False, False, True]


def test_activations_match_their_definitions():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(ACTIVATIONS["elu"](x), np.where(x > 0, x, np.exp(x) - 1))
    np.testing.assert_allclose(ACTIVATIONS["sigmoid"](x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(ACTIVATIONS["relu"](x), np.clip(x, 0, None))


def test_top_contributors_orders_by_share():
    errors = np.array([[0.5, 0.1, 2.0], [3.0, 0.0, 1.0]])
    top = top_contributors(errors, ("x", "y", "z"), k=2)
    assert top == [[("z", 2.0), ("x", 0.5)], [("x", 3.0), ("z", 1.0)]]
    assert len(top_contributors(errors, ("x", "y", "z"), k=10)[0]) == 3


def test_overflowing_inputs_alert_instead_of_scoring_nan():
    detector = _detector(np.random.default_rng(5), threshold=1e6, distance=True, spread=True)
    raw = np.zeros((3, 4))
    raw[1, 0], raw[2, 3] = 1e160, -1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may leak into the consumer's logs
        scores = detector.score(raw)
        contributions = detector.contributions(raw)
    assert detector.alerts(scores).tolist() == [False, True, True]
    assert not np.isnan(contributions[1:]).any()
