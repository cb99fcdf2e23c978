import json
import shutil

import numpy as np
import pytest

from training.scoring.bundle import MANIFEST, WEIGHTS, load_detector, load_manifest, save_bundle
from training.scoring.detector import Detector
from training.scoring.errors import BundleError
from training.scoring.network import CodeDistance, Dense, Network, ReconstructionDistance
from training.scoring.scaling import Scaler


def _detector() -> Detector:
    rng = np.random.default_rng(0)
    layers = (
        Dense(rng.normal(size=(3, 2)), rng.normal(size=2), "tanh"),
        Dense(rng.normal(size=(2, 3)), rng.normal(size=3), "linear"),
    )
    scaler = Scaler("robust", np.zeros(3), np.ones(3), clip=10.0, log=np.array([0, 0, 1], bool))
    distance = CodeDistance(np.array([0.1, -0.2]), np.array([[1.0, 0.2], [0.2, 3.0]]), 1.7)
    spread = ReconstructionDistance(np.array([0.3, 0.0, -0.1]), 2.2)
    networks = (Network(layers, 0.7, 0, distance, spread), Network(layers, 0.9))
    return Detector(("a", "b", "c"), scaler, networks, np.ones(3), 4.2)


def test_round_trip_scores_identically(tmp_path):
    detector = _detector()
    manifest = save_bundle(tmp_path / "m", detector, {"threshold": {"strategy": "value:4.2"}})
    loaded = load_detector(tmp_path / "m")
    x = np.random.default_rng(1).normal(size=(20, 3))
    np.testing.assert_array_equal(loaded.score(x), detector.score(x))
    assert loaded.scaler.log.tolist() == [False, False, True]
    np.testing.assert_array_equal(loaded.networks[0].spread.center, [0.3, 0.0, -0.1])
    assert loaded.networks[0].spread.scale == 2.2
    assert loaded.networks[1].spread is None
    assert loaded.threshold == 4.2 and loaded.feature_names == ("a", "b", "c")
    on_disk = load_manifest(tmp_path / "m")
    assert on_disk["model_version"] == manifest["model_version"]
    assert on_disk["threshold"] == {"strategy": "value:4.2", "value": 4.2}
    assert on_disk["versions"]["numpy"] == np.__version__


def test_nothing_is_pickled(tmp_path):
    save_bundle(tmp_path / "m", _detector(), {})
    with np.load(tmp_path / "m" / WEIGHTS, allow_pickle=False) as arrays:
        assert all(arrays[key].dtype == np.float64 for key in arrays.files)


def test_existing_directory_is_refused(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(BundleError, match="already exists"):
        save_bundle(tmp_path / "m", _detector(), {})


def test_failed_write_leaves_nothing(tmp_path):
    def explode(staging):
        (staging / "partial").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        save_bundle(tmp_path / "m", _detector(), {}, explode)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def bundle_dir(tmp_path):
    save_bundle(tmp_path / "m", _detector(), {})
    return tmp_path / "m"


def _replace_array(path, name, value):
    with np.load(path / WEIGHTS) as arrays:
        contents = {key: arrays[key] for key in arrays.files}
    contents[name] = value
    np.savez(path / WEIGHTS, **contents)


def _edit_manifest(path, **changes):
    manifest = json.loads((path / MANIFEST).read_text())
    manifest.update(changes)
    (path / MANIFEST).write_text(json.dumps(manifest))


def _edit_scaler(path, **changes):
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["scaler"].update(changes)
    (path / MANIFEST).write_text(json.dumps(manifest))


def _edit_network(path, index, **changes):
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["networks"][index].update(changes)
    (path / MANIFEST).write_text(json.dumps(manifest))


def test_version_1_bundles_still_load(bundle_dir):
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    manifest["schema_version"] = 1
    del manifest["scaler"]["log"]
    for network in manifest["networks"]:
        network.pop("reconstruction_scale")
    (bundle_dir / MANIFEST).write_text(json.dumps(manifest))
    detector = load_detector(bundle_dir)
    assert not detector.scaler.log.any()
    assert all(network.spread is None for network in detector.networks)


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda p: shutil.rmtree(p), "not a directory"),
        (lambda p: (p / MANIFEST).unlink(), "manifest.json: missing"),
        (lambda p: (p / MANIFEST).write_text("{"), "not valid JSON"),
        (lambda p: _edit_manifest(p, schema_version=99), "schema version 99 is not supported"),
        (lambda p: _edit_manifest(p, features=["a", "a", "b"]), "distinct names"),
        (lambda p: _edit_manifest(p, features=["a", "b"]), "do not match 2 features"),
        (lambda p: (p / WEIGHTS).unlink(), "weights.npz: missing"),
        (lambda p: (p / WEIGHTS).write_bytes(b"junk"), "weights.npz: unreadable"),
        (lambda p: _edit_manifest(p, networks=[{"layers": []}]), "needs a positive error_scale"),
        (lambda p: _edit_manifest(p, networks=[["not", "a", "dict"]]), "malformed entry"),
        (lambda p: _edit_network(p, 0, distance_scale="big"), "distance_scale must be a number"),
        (lambda p: _replace_array(p, "network0_layer0_bias", np.zeros(5)), "do not fit"),
        (lambda p: _replace_array(p, "network0_layer1_kernel", np.zeros(6)), "do not fit"),
        (
            lambda p: _replace_array(p, "network1_layer0_kernel", np.full((3, 2), np.nan)),
            "not finite",
        ),
        (
            lambda p: _replace_array(p, "network0_code_precision", np.eye(3)),
            "do not match its code",
        ),
        (lambda p: _edit_manifest(p, feature_weights=[1.0, float("nan"), 1.0]), "feature weights"),
        (
            lambda p: _replace_array(p, "network0_reconstruction_center", np.zeros(2)),
            "reconstruction center must be finite",
        ),
        (lambda p: _edit_scaler(p, log=[True]), "do not match 3 features"),
        (lambda p: _edit_scaler(p, log=["false", "false", "true"]), "list of 3 booleans"),
        (lambda p: _edit_scaler(p, log=None), "list of 3 booleans"),
        (lambda p: _edit_network(p, 0, reconstruction_scale=0.0), "reconstruction_scale must be"),
    ],
)
def test_broken_bundles_fail_with_path_and_problem(bundle_dir, breakage, message):
    breakage(bundle_dir)
    with pytest.raises(BundleError, match=message) as info:
        load_detector(bundle_dir)
    assert str(bundle_dir) in str(info.value)
