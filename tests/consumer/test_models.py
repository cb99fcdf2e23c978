"""The model directory: the newest valid bundle scores; newer ones are found, bad ones refused."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from consumer.models import ModelDirectory, ModelWatch
from training.scoring.bundle import MANIFEST, WEIGHTS, save_bundle
from training.scoring.detector import Detector
from training.scoring.errors import BundleError
from training.scoring.network import Dense, Network
from training.scoring.scaling import Scaler

START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def detector(features: tuple[str, ...] = ("a", "b", "c"), threshold: float = 4.2) -> Detector:
    rng = np.random.default_rng(0)
    layers = (
        Dense(rng.normal(size=(3, 2)), rng.normal(size=2), "tanh"),
        Dense(rng.normal(size=(2, 3)), rng.normal(size=3), "linear"),
    )
    scaler = Scaler("robust", np.zeros(3), np.ones(3), log=np.zeros(3, dtype=bool))
    return Detector(features, scaler, (Network(layers, 0.7),), np.ones(3), threshold)


def bundle(root: Path, name: str, minutes: int, **kwargs) -> Path:
    """Write a bundle created `minutes` after START, with a version named after it."""
    path = root / name
    save_bundle(path, detector(**kwargs), {})
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["created_at"] = (START + timedelta(minutes=minutes)).isoformat()
    manifest["model_version"] = name
    (path / MANIFEST).write_text(json.dumps(manifest))
    return path


class Refusals:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, path: Path, reason: str) -> None:
        self.paths.append(path.name)


def test_a_single_bundle_is_used_as_it_is_and_never_watched(tmp_path):
    path = bundle(tmp_path, "only", 0)
    models = ModelDirectory(path)
    model = models.first()
    assert model.version == "only" and not models.watches
    assert models.newer(model) is None


def test_the_newest_valid_bundle_of_a_directory_scores(tmp_path):
    bundle(tmp_path, "old", 0)
    bundle(tmp_path, "new", 10)
    broken = bundle(tmp_path, "newest-but-broken", 20)
    (broken / WEIGHTS).unlink()
    refusals = Refusals()
    model = ModelDirectory(tmp_path, refusals).first()
    assert model.version == "new"
    assert refusals.paths == ["newest-but-broken"]


def test_a_directory_without_a_valid_bundle_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="no valid model bundle"):
        ModelDirectory(tmp_path).first()


def test_newer_finds_a_bundle_that_appeared_and_only_once(tmp_path):
    bundle(tmp_path, "v1", 0)
    models = ModelDirectory(tmp_path)
    current = models.first()
    assert models.newer(current) is None
    bundle(tmp_path, "v2", 10)
    bundle(tmp_path, "v0", -10)  # older than what scores: ignored quietly
    found = models.newer(current)
    assert found is not None and found.version == "v2"
    assert models.newer(found) is None


def test_bad_and_foreign_bundles_are_refused_and_retried_only_when_changed(tmp_path):
    bundle(tmp_path, "v1", 0)
    refusals = Refusals()
    models = ModelDirectory(tmp_path, refusals)
    current = models.first()
    incomplete = bundle(tmp_path, "incomplete", 10)
    weights = (incomplete / WEIGHTS).read_bytes()
    (incomplete / WEIGHTS).unlink()
    bundle(tmp_path, "other-features", 20, features=("a", "b", "x"))
    (tmp_path / ".staging.abc").mkdir()  # what save_bundle writes before its rename
    assert models.newer(current) is None
    assert sorted(refusals.paths) == ["incomplete", "other-features"]
    assert models.newer(current) is None and len(refusals.paths) == 2  # not logged again
    (incomplete / WEIGHTS).write_bytes(weights)  # now complete: looked at again
    found = models.newer(current)
    assert found is not None and found.version == "incomplete"


def test_a_renamed_copy_with_a_later_creation_time_is_newer(tmp_path):
    bundle(tmp_path, "v1", 0)
    models = ModelDirectory(tmp_path)
    current = models.first()
    shutil.copytree(tmp_path / "v1", tmp_path / ".v2.tmp")
    manifest = json.loads((tmp_path / ".v2.tmp" / MANIFEST).read_text())
    manifest |= {"created_at": (START + timedelta(hours=1)).isoformat(), "model_version": "v2"}
    (tmp_path / ".v2.tmp" / MANIFEST).write_text(json.dumps(manifest))
    assert models.newer(current) is None  # hidden: still being written
    (tmp_path / ".v2.tmp").rename(tmp_path / "v2")
    found = models.newer(current)
    assert found is not None and found.version == "v2"


def test_the_watch_looks_at_most_once_per_interval(tmp_path):
    bundle(tmp_path, "v1", 0)
    directory = ModelDirectory(tmp_path)
    now = [100.0]
    watch = ModelWatch(directory, directory.first(), interval=10.0, monotonic=lambda: now[0])
    bundle(tmp_path, "v2", 10)
    now[0] = 105.0
    assert watch.poll() is None  # too early to look
    now[0] = 110.0
    found = watch.poll()
    assert found is not None and found.version == "v2" and watch.current is found
    now[0] = 120.0
    assert watch.poll() is None  # nothing newer since
