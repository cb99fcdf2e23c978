"""Hot model reload under a running stream on the real broker, checked by transaction id.

`--model-dir` is a directory of bundles. While a replay runs, an incomplete bundle and a bundle
of other features appear (both refused, the old model keeps scoring), then a newer valid one
with a lower threshold: the consumer switches between two batches, so every transaction is
scored exactly once, by the old model before the switch and by the new one after it, and each
alert carries the version and threshold that scored it.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from consumer_helpers import (
    ConsumerProcess,
    metric,
    read_topic,
    start_replay,
    wait_until_committed,
)

PARTITIONS = 2


def autoencoder_only(bundle: Path) -> None:
    """Remove the supervised stage from a copied bundle: this test moves the score threshold."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest.pop("supervised", None)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    (bundle / "supervised.txt").unlink(missing_ok=True)


def add_bundle(models: Path, source: Path, name: str, minutes_later: int, **changes) -> dict:
    """Copy `source` into models/name atomically, created later, with manifest `changes`."""
    staging = models / f".{name}.staging"
    shutil.copytree(source, staging)
    autoencoder_only(staging)
    manifest = json.loads((staging / "manifest.json").read_text())
    created = datetime.fromisoformat(manifest["created_at"]) + timedelta(minutes=minutes_later)
    manifest |= {"created_at": created.isoformat(), "model_version": name, **changes}
    (staging / "manifest.json").write_text(json.dumps(manifest))
    return manifest | {"staging": staging}


def publish(models: Path, bundle: dict, name: str) -> None:
    bundle["staging"].rename(models / name)


def wait_for_metric(consumer: ConsumerProcess, name: str, value: float, **labels: str) -> None:
    deadline = time.monotonic() + 60
    while metric(consumer.metrics(), name, **labels) < value:
        assert time.monotonic() < deadline, f"{name}{labels} never reached {value}"
        assert consumer.process.poll() is None, consumer.logs()
        time.sleep(0.1)


@pytest.mark.slow
def test_a_newer_bundle_is_switched_to_between_batches_under_a_running_stream(
    kafka_bootstrap, scorer_topics, model_bundle, stream, tmp_path
):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(model_bundle, models / "a")
    autoencoder_only(models / "a")
    old = json.loads((models / "a" / "manifest.json").read_text())
    topics = scorer_topics(PARTITIONS)
    settings = topics.settings(kafka_bootstrap, models, batch_size=50, reload_interval=0.2)
    consumer = ConsumerProcess(tmp_path / "consumer.log", **settings)
    replay = None
    try:
        consumer.wait_ready()
        replay = start_replay(kafka_bootstrap, topics.source, stream.csv, "--rate", "250")
        wait_for_metric(consumer, "fraud_transactions_scored_total", 200)

        incomplete = add_bundle(models, model_bundle, "incomplete", 10)
        (incomplete["staging"] / "weights.npz").unlink()
        publish(models, incomplete, "incomplete")
        foreign = add_bundle(
            models, model_bundle, "foreign", 20, features=["X1", *old["features"][1:]]
        )
        publish(models, foreign, "foreign")
        wait_for_metric(consumer, "fraud_model_reloads_total", 2, outcome="refused")

        new_threshold = old["threshold"]["value"] * 0.8
        threshold = old["threshold"] | {"value": new_threshold}
        publish(models, add_bundle(models, model_bundle, "b", 30, threshold=threshold), "b")
        wait_for_metric(consumer, "fraud_model_reloads_total", 1, outcome="loaded")
        assert replay.poll() is None, "the stream ended before the switch: replay more slowly"

        _, stderr = replay.communicate(timeout=300)
        assert replay.returncode == 0, stderr.decode(errors="replace")
        wait_until_committed(
            kafka_bootstrap, topics.group, topics.source, PARTITIONS, 120, consumer
        )
        samples = consumer.metrics()
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        if replay is not None and replay.poll() is None:
            replay.kill()
        consumer.ensure_stopped()

    # Every transaction scored exactly once; per partition, the old model, then the new one.
    scored = [orjson.loads(r.value) for r in read_topic(kafka_bootstrap, topics.scores, 1)]
    assert sorted(d["transaction_id"] for d in scored) == sorted(stream.ids)
    versions = {d["transaction_id"]: d["model_version"] for d in scored}
    assert set(versions.values()) == {old["model_version"], "b"}
    for partition in range(PARTITIONS):
        in_order = sorted(
            (d for d in scored if d["source_partition"] == partition),
            key=lambda d: d["source_offset"],
        )
        sequence = [d["model_version"] == "b" for d in in_order]
        assert sequence == sorted(sequence), f"partition {partition} went back to the old model"

    # Alerts: the version and threshold of the model that scored them, and only those.
    thresholds = {old["model_version"]: old["threshold"]["value"], "b": new_threshold}
    alerts = [orjson.loads(r.value) for r in read_topic(kafka_bootstrap, topics.alerts, 1)]
    expected = {t for t in stream.ids if stream.scores[t] > thresholds[versions[t]]}
    assert {a["transaction_id"] for a in alerts} == expected and len(alerts) == len(expected)
    for alert in alerts:
        assert alert["model_version"] == versions[alert["transaction_id"]]
        assert alert["threshold"] == pytest.approx(thresholds[alert["model_version"]])

    # Metrics and logs tell the story.
    assert metric(samples, "fraud_model_reloads_total", outcome="loaded") == 1
    assert metric(samples, "fraud_model_reloads_total", outcome="refused") == 2
    assert metric(samples, "fraud_model_info", model_version="b") == 1
    assert metric(samples, "fraud_model_info", model_version=old["model_version"]) == 0
    logs = [json.loads(line) for line in consumer.logs().splitlines() if line.startswith("{")]
    loaded = [e for e in logs if e["event"] == "model_loaded"]
    refused = {Path(e["path"]).name: e["reason"] for e in logs if e["event"] == "model_refused"}
    assert [(e["model_version"], e["previous"]) for e in loaded] == [("b", old["model_version"])]
    assert "weights.npz" in refused["incomplete"] and "features" in refused["foreign"]
