"""End to end against a real broker: replay a labelled file with bad messages mixed in.

Every input is scored or dead-lettered, the alerts are exactly the offline alerts, every bad
message is in the DLQ once with its reason, offsets are committed to the end, the metrics agree.
"""

from __future__ import annotations

import json
import signal

import orjson
import pytest
from consumer_helpers import (
    ConsumerProcess,
    metric,
    produce,
    read_topic,
    replay,
    wait_until_committed,
    watermarks,
)

INPUT_PARTITIONS = 3
BAD = {
    b"bad-not-json": (b"{this is not json", "not_json"),
    b"bad-array": (b"[1, 2, 3]", "not_object"),
    b"bad-missing": (b'{"V1": 1.0, "Amount": 2.0}', "missing_feature"),
    b"bad-string": (None, "non_numeric"),  # value built below: every feature, V3 a string
    b"bad-nan": (None, "non_finite"),  # every feature, V4 NaN
    b"bad-huge": (b'{"pad": "' + b"x" * 70_000 + b'"}', "oversized"),
}


def full_row(**changes) -> dict:
    row = {f"V{i}": 0.1 * i for i in range(1, 29)} | {"Amount": 12.5}
    return row | changes


@pytest.mark.slow
def test_replay_with_bad_messages_scores_or_dead_letters_everything(
    kafka_bootstrap, scorer_topics, model_bundle, stream, tmp_path
):
    topics = scorer_topics(INPUT_PARTITIONS)
    source, alerts_topic, dlq, scores, group = topics
    bad = dict(BAD)
    bad[b"bad-string"] = (orjson.dumps(full_row(V3="1.5")), "non_numeric")
    bad[b"bad-nan"] = (orjson.dumps(full_row(V4=0)).replace(b'"V4":0', b'"V4":NaN'), "non_finite")

    consumer = ConsumerProcess(
        tmp_path / "consumer.log", **topics.settings(kafka_bootstrap, model_bundle, batch_size=200)
    )
    try:
        consumer.wait_ready()
        items = list(bad.items())
        produce(kafka_bootstrap, source, [(k, v) for k, (v, _) in items[:3]])
        replay(kafka_bootstrap, source, stream.csv)
        produce(kafka_bootstrap, source, [(k, v) for k, (v, _) in items[3:]])
        wait_until_committed(kafka_bootstrap, group, source, INPUT_PARTITIONS, 120, consumer)
        samples = consumer.metrics()
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        consumer.ensure_stopped()

    inputs = read_topic(kafka_bootstrap, source, INPUT_PARTITIONS)
    scored = read_topic(kafka_bootstrap, scores, 1)
    alerts = read_topic(kafka_bootstrap, alerts_topic, 1)
    dead = read_topic(kafka_bootstrap, dlq, 1)

    # Every input is either scored or dead-lettered, exactly once in this clean run.
    assert len(inputs) == len(stream.ids) + len(bad)
    scored_ids = [orjson.loads(r.value)["transaction_id"] for r in scored]
    assert sorted(scored_ids) == sorted(stream.ids)
    assert len(scored) + len(dead) == len(inputs)

    # The alert set is what offline `python -m training score` says.
    alert_docs = [orjson.loads(r.value) for r in alerts]
    assert {d["transaction_id"] for d in alert_docs} == stream.alerts
    assert len(alert_docs) == len(stream.alerts)
    by_position = {(r.partition, r.offset): r for r in inputs}
    manifest = json.loads((model_bundle / "manifest.json").read_text())
    decision = manifest["supervised"]["decision"]
    floor, ceiling = decision["probability_floor"], decision["score_ceiling"]
    for record, doc in zip(alerts, alert_docs, strict=True):
        assert record.key == doc["transaction_id"].encode()
        assert doc["score"] == pytest.approx(stream.scores[doc["transaction_id"]], rel=1e-6)
        # The bundle has the supervised stage: each alert names what raised it; the
        # autoencoder's alert counts unless the stage rules the row out (below its floor, and
        # not beyond every validation score), and a value far out of range alerts on its own.
        by_stage = {
            "supervised": doc["probability"] > doc["probability_threshold"],
            "autoencoder": doc["score"] > doc["threshold"]
            and (doc["probability"] >= floor or doc["score"] > ceiling),
            "out_of_range": bool(doc.get("out_of_range")),
        }
        assert doc["reasons"] == [
            stage for stage in ("supervised", "autoencoder", "out_of_range") if by_stage[stage]
        ]
        assert doc["reasons"]
        assert doc["model_version"] and doc["event_time"] and doc["scored_at"]
        assert len(doc["top_features"]) == 3
        source_record = by_position[(doc["source_partition"], doc["source_offset"])]
        assert orjson.loads(source_record.value)["transaction_id"] == doc["transaction_id"]
        assert doc["source_topic"] == source

    # Every bad message is in the DLQ once, raw, with its reason and where it came from.
    assert sorted(r.key for r in dead) == sorted(bad)
    for record in dead:
        value, reason = bad[record.key]
        assert record.value == value
        assert record.headers["dlq.reason"] == reason.encode()
        assert record.headers["dlq.error"]
        assert record.headers["dlq.source.topic"] == source.encode()
        position = (
            int(record.headers["dlq.source.partition"]),
            int(record.headers["dlq.source.offset"]),
        )
        assert by_position[position].value == value

    # Metrics agree with these counts.
    assert metric(samples, "fraud_transactions_scored_total") == len(stream.ids)
    assert metric(samples, "fraud_alerts_total") == len(stream.alerts)
    for _, reason in bad.values():
        assert metric(samples, "fraud_invalid_messages_total", reason=reason) == 1
    assert metric(samples, "fraud_anomaly_score_count") == len(stream.ids)
    assert metric(samples, "fraud_end_to_end_latency_seconds_count") == len(stream.alerts)
    assert metric(samples, "fraud_scoring_batch_seconds_count") >= 1
    assert metric(samples, "fraud_offset_commits_total", outcome="ok") >= 1
    version = alert_docs[0]["model_version"]
    assert metric(samples, "fraud_model_info", model_version=version) == 1
    ends = watermarks(kafka_bootstrap, source, INPUT_PARTITIONS)
    for partition in range(INPUT_PARTITIONS):
        lag = metric(samples, "fraud_consumer_lag_messages", topic=source, partition=str(partition))
        assert lag == 0 or ends[partition] == 0

    logs = consumer.logs()
    assert '"event":"starting"' in logs and '"event":"dead_letter"' in logs
    assert '"event":"stopped"' in logs
