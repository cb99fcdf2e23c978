"""The scoring loop against fakes: what is published, and when offsets may be committed."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from confluent_kafka import KafkaError, Message
from fakes import (
    FakeDetector,
    FakeGroupSource,
    FakeSink,
    FakeSource,
    FakeTransactions,
    fake_run_settings,
    message,
)
from prometheus_client import CollectorRegistry

from consumer.checkpoint import AtLeastOnce
from consumer.config import RunSettings
from consumer.errors import DeliveryError, KafkaClientError, ProduceRefused
from consumer.health import Health
from consumer.loop import ScoringLoop
from consumer.metrics import Metrics
from consumer.publish import Publisher, TransactionalPublisher
from consumer.transaction import ExactlyOnce
from training.scoring.scorer import Scorer

GOOD = b'{"a": 1, "b": 1, "c": 1, "transaction_id": "ok-%d"}'
FRAUD = b'{"a": 3, "b": 2, "c": 1, "transaction_id": "fraud-%d"}'  # score 14 > 10


def settings(**changes) -> RunSettings:
    return fake_run_settings(**(dict(scores_topic="scores", commit_interval=0) | changes))


def build(batches, **changes):
    source = FakeSource(batches)
    sink = FakeSink(source.events)
    registry = CollectorRegistry()
    health = Health()
    metrics = Metrics(registry)
    config = settings(**changes)
    clock = lambda: 1_700_000_010.0  # noqa: E731
    publisher = Publisher(
        sink, metrics, config.alert_topic, config.dlq_topic, config.scores_topic, clock
    )
    checkpoint = AtLeastOnce(
        source, publisher, metrics, config.commit_interval, config.flush_timeout
    )
    loop = ScoringLoop(
        source, publisher, checkpoint, FakeDetector(), "m-1", metrics, config, health, clock=clock
    )
    return loop, source, sink, registry, health


def run_all(loop, source):
    loop.run(stopping=lambda: not source.batches)


def test_a_batch_publishes_alerts_scores_and_dead_letters_then_commits():
    batch = [
        message(GOOD % 0, 0),
        message(FRAUD % 1, 1),
        message(b"{oops", 2),
        message(GOOD % 3, 3),
    ]
    loop, source, sink, registry, _ = build([batch])
    run_all(loop, source)

    (alert,) = sink.on("alerts")
    assert alert.key == b"fraud-1"
    document = orjson.loads(alert.value)
    assert document["score"] == 14.0 and document["threshold"] == 10.0
    assert document["model_version"] == "m-1"
    assert (document["source_topic"], document["source_partition"], document["source_offset"]) == (
        "in",
        0,
        1,
    )
    assert [f["feature"] for f in document["top_features"]] == ["a", "b", "c"]
    assert document["top_features"][0] == {"feature": "a", "contribution": 9.0, "value": 3.0}
    assert document["event_time"] == "2023-11-14T22:13:20.000Z"
    assert document["scored_at"] == "2023-11-14T22:13:30.000Z"
    assert "alert" not in document

    scores = {r.key: orjson.loads(r.value)["alert"] for r in sink.on("scores")}
    assert scores == {b"ok-0": False, b"fraud-1": True, b"ok-3": False}

    (dead,) = sink.on("dlq")
    assert dead.value == b"{oops"
    headers = dict(dead.headers)
    assert headers["dlq.reason"] == b"not_json"
    assert (
        headers["dlq.source.topic"],
        headers["dlq.source.partition"],
        headers["dlq.source.offset"],
    ) == (b"in", b"0", b"2")
    assert headers["dlq.error"]

    assert source.commits == [{("in", 0): 4}]
    assert source.closed


def test_offsets_are_committed_only_after_the_producer_flushed():
    loop, source, sink, _, _ = build([[message(FRAUD % 0, 0)], [message(GOOD % 1, 1)]])
    run_all(loop, source)
    assert source.commits == [{("in", 0): 1}, {("in", 0): 2}]
    for i, event in enumerate(source.events):
        if event == "commit":
            assert source.events[i - 1] == "flush"


@pytest.mark.parametrize("failure", ["failed", "unacknowledged"])
def test_nothing_is_committed_when_a_record_is_not_acknowledged(failure):
    loop, source, sink, _, _ = build([[message(FRAUD % 0, 0)]])
    if failure == "failed":
        sink.fail = "alerts"
    else:
        sink.stuck = True
    with pytest.raises(DeliveryError):
        run_all(loop, source)
    assert source.commits == []
    assert source.closed  # closed, and its revoke callback committed nothing either


def test_at_least_once_stops_when_the_producer_refuses_a_record():
    loop, source, sink, _, _ = build([[message(FRAUD % 0, 0)]])
    sink.refuse = "alerts"
    with pytest.raises(ProduceRefused, match="_STATE"):
        run_all(loop, source)
    assert source.commits == []


def test_exactly_once_aborts_and_rewinds_a_batch_the_producer_refuses():
    source = FakeGroupSource([[message(GOOD % 0, 0), message(FRAUD % 1, 1)], []])
    producer = FakeTransactions(source.events, refuse="alerts")
    metrics = Metrics(CollectorRegistry())
    config = settings()
    publisher = TransactionalPublisher(producer, metrics, "alerts", "dlq", "scores")
    checkpoint = ExactlyOnce(source, publisher, metrics, 0, 5, sleep=lambda _s: None)
    checkpoint.start()
    loop = ScoringLoop(source, publisher, checkpoint, FakeDetector(), "m-1", metrics, config)
    run_all(loop, source)  # does not raise
    assert source.seeks == [("in", 0, 0)]  # to score the refused batch again
    calls = [e for e in producer.events if e in {"begin", "abort", "commit_txn"}]
    assert calls[:2] == ["begin", "abort"]
    assert producer.sent == []  # the refused batch's offsets never reached a transaction


def test_a_failed_commit_is_retried_by_the_next_one():
    loop, source, sink, registry, _ = build([[message(GOOD % 0, 0)], [message(GOOD % 1, 1)]])
    source.fail_commits = 1
    run_all(loop, source)
    assert source.commits == [{("in", 0): 2}]
    assert registry.get_sample_value("fraud_offset_commits_total", {"outcome": "failed"}) == 1


def test_a_commit_with_a_failed_partition_is_counted_failed_and_retried():
    loop, source, sink, registry, _ = build([[message(GOOD % 0, 0)], []])
    source.fail_partition_commits = 1
    run_all(loop, source)
    assert source.commits == [{("in", 0): 1}]  # the failed offset stayed pending
    assert registry.get_sample_value("fraud_offset_commits_total", {"outcome": "failed"}) == 1
    assert registry.get_sample_value("fraud_offset_commits_total", {"outcome": "ok"}) == 1


def test_revoke_commits_what_is_done_and_lost_partitions_are_not_committed():
    two = [("in", 0), ("in", 1)]
    batch = [message(GOOD % 0, 5, partition=0), message(GOOD % 1, 7, partition=1)]
    loop, source, sink, _, health = build([batch], commit_interval=3600)
    source.partitions = two
    loop.source.subscribe(["in"], loop.on_assign, loop.on_revoke, loop.on_lost)
    loop.step()  # the interval has not passed: nothing committed yet
    assert source.commits == [] and health.assigned == frozenset(two)
    from confluent_kafka import TopicPartition

    loop.on_lost(source, [TopicPartition("in", 1)])
    loop.on_revoke(source, [TopicPartition("in", 0)])
    assert source.commits == [{("in", 0): 6}]
    assert source.events[-2:] == ["flush", "commit"]
    assert health.assigned == frozenset()


def test_metrics_count_what_happened():
    batch = [
        message(GOOD % 0, 0),
        message(FRAUD % 1, 1),
        message(b"[]", 2),
        message(b'{"a": 1}', 3),
    ]
    loop, source, sink, registry, _ = build([batch])
    run_all(loop, source)

    def value(name, **labels):
        return registry.get_sample_value(name, labels)

    assert value("fraud_transactions_scored_total") == 2
    assert value("fraud_alerts_total") == 1
    assert value("fraud_invalid_messages_total", reason="not_object") == 1
    assert value("fraud_invalid_messages_total", reason="missing_feature") == 1
    assert value("fraud_invalid_messages_total", reason="oversized") == 0
    assert value("fraud_anomaly_score_count") == 2
    assert value("fraud_anomaly_score_sum") == 17.0
    assert value("fraud_scoring_batch_seconds_count") == 1
    assert value("fraud_end_to_end_latency_seconds_count") == 1
    assert value("fraud_end_to_end_latency_seconds_sum") == 10.0
    assert value("fraud_model_info", model_version="m-1") == 1
    assert (
        value("fraud_consumer_lag_messages", topic="in", partition="0") is None
    )  # revoked at close


@pytest.mark.parametrize("event_time", [1_800_000_000, 1_700_000_000_000], ids=["future", "ms"])
def test_a_negative_latency_is_not_observed(event_time):
    fraud = b'{"a": 3, "b": 2, "c": 1, "event_time": %d}' % event_time
    loop, source, _, registry, _ = build([[message(fraud, 0)]])
    run_all(loop, source)
    assert registry.get_sample_value("fraud_alerts_total") == 1
    assert registry.get_sample_value("fraud_end_to_end_latency_seconds_count") == 0
    assert registry.get_sample_value("fraud_end_to_end_latency_seconds_sum") == 0


def test_lag_is_the_distance_to_the_high_watermark():
    loop, source, sink, registry, _ = build([[message(GOOD % 0, 41)]])
    loop.source.subscribe(["in"], loop.on_assign, loop.on_revoke, loop.on_lost)
    loop.step()
    assert (
        registry.get_sample_value("fraud_consumer_lag_messages", {"topic": "in", "partition": "0"})
        == 58
    )


def test_without_a_scores_topic_only_alerts_are_published():
    loop, source, sink, _, _ = build(
        [[message(GOOD % 0, 0), message(FRAUD % 1, 1)]], scores_topic=None
    )
    run_all(loop, source)
    assert [r.topic for r in sink.delivered] == ["alerts"]


def test_readiness_needs_a_model_and_partitions():
    loop, source, sink, _, health = build([])
    assert health.ready() == (False, "no partitions assigned")
    loop.source.subscribe(["in"], loop.on_assign, loop.on_revoke, loop.on_lost)
    source.consume()
    assert health.ready()[0]
    assert Health().ready() == (False, "model not loaded")


class OverflowingDetector(FakeDetector):
    """Scores a row whose `a` is 7 as NaN, as an overflowing input can score."""

    def contributions(self, features):
        out = super().contributions(features)
        out[features[:, 0] == 7] = np.nan
        return out


def test_a_score_that_is_not_finite_alerts_and_is_published_as_null():
    huge = b'{"a": 1e200, "b": 0, "c": 0, "transaction_id": "inf"}'  # squares to inf
    nan = b'{"a": 7, "b": 0, "c": 0, "transaction_id": "nan"}'
    loop, source, sink, _, _ = build([[message(huge, 0), message(nan, 1), message(GOOD % 2, 2)]])
    loop.scorer = Scorer(OverflowingDetector())
    run_all(loop, source)
    alerts = {r.key: orjson.loads(r.value) for r in sink.on("alerts")}
    assert sorted(alerts) == [b"inf", b"nan"]
    assert alerts[b"inf"]["score"] is None and alerts[b"nan"]["score"] is None
    scores = {r.key: orjson.loads(r.value)["alert"] for r in sink.on("scores")}
    assert scores == {b"inf": True, b"nan": True, b"ok-2": False}


def test_a_consume_error_is_skipped_and_the_messages_around_it_are_scored():
    eof = Message(topic="in", partition=0, offset=1, error=KafkaError(KafkaError._PARTITION_EOF))
    batch = [message(GOOD % 0, 0), eof, message(FRAUD % 2, 2)]
    loop, source, sink, _, _ = build([batch])
    run_all(loop, source)
    assert [r.key for r in sink.on("scores")] == [b"ok-0", b"fraud-2"]
    assert source.commits[-1] == {("in", 0): 3}


def test_a_fatal_consume_error_stops_the_loop():
    fatal = KafkaError(KafkaError._FATAL, "broken client", fatal=True)
    batch = [message(GOOD % 0, 0), Message(topic="in", partition=0, offset=1, error=fatal)]
    loop, source, _, _, _ = build([batch])
    with pytest.raises(KafkaClientError, match="fatal Kafka consumer error: broken client"):
        run_all(loop, source)
    assert source.commits == []
