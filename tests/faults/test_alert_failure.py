"""The alert topic refuses records mid-stream: offsets never pass an unacknowledged alert."""

from __future__ import annotations

import signal
import time

import orjson
import pytest
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from consumer_helpers import committed, feed, read_topic, transactions
from fault_helpers import (
    AT_LEAST_ONCE,
    MODES,
    PARTITIONS,
    N,
    check,
    settings,
    start,
    wait_done,
    wait_for,
)


def set_max_bytes(bootstrap: str, topic: str, value: str | None) -> None:
    """Set the topic's max.message.bytes (None: back to the broker's default)."""
    op = AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE
    entry = ConfigEntry("max.message.bytes", value or "", incremental_operation=op)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def unacknowledged_alerts_behind_commits(bootstrap: str, topics) -> list[str]:
    """Return alerting ids whose input offset is committed but whose alert is not in the topic."""
    done = committed(bootstrap, topics.group, topics.source, PARTITIONS)
    raised = {
        orjson.loads(r.value)["transaction_id"] for r in read_topic(bootstrap, topics.alerts, 1)
    }
    missing = []
    for r in read_topic(bootstrap, topics.scores, 1):
        document = orjson.loads(r.value)
        behind = document["source_offset"] < done[document["source_partition"]]
        if document["alert"] and behind and document["transaction_id"] not in raised:
            missing.append(document["transaction_id"])
    return missing


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_offsets_never_pass_unacknowledged_alerts(
    kafka_bootstrap, scorer_topics, model_bundle, tmp_path, mode
):
    topics = scorer_topics(PARTITIONS)
    items = transactions(N, seed=11)
    half = N // 2
    feed(kafka_bootstrap, topics.source, items[:half])
    config = settings(topics, kafka_bootstrap, model_bundle, mode, flush_timeout=10)
    consumer = start(tmp_path, "before", config, "member-0")
    try:
        wait_done(kafka_bootstrap, topics, half, 180, consumer)
        # Alerts (~600 bytes) no longer fit; transaction markers (~80) still do, so aborts finish.
        set_max_bytes(kafka_bootstrap, topics.alerts, "200")
        feed(kafka_bootstrap, topics.source, items[half:])
        if mode == AT_LEAST_ONCE:
            assert consumer.wait(120) == 1, consumer.logs()  # stops: records not delivered
            assert "not delivered" in consumer.logs()
        else:  # aborts the transaction, rewinds and tries again, until the topic works
            wait_for(
                lambda: consumer.logs().count("transaction_aborted") >= 3, "aborts", 120, consumer
            )
        assert unacknowledged_alerts_behind_commits(kafka_bootstrap, topics) == []
        set_max_bytes(kafka_bootstrap, topics.alerts, None)
        repaired = time.monotonic()
        if mode == AT_LEAST_ONCE:
            consumer = start(tmp_path, "after", config, "member-0")
        wait_done(kafka_bootstrap, topics, N, 180, consumer)
        recovery = time.monotonic() - repaired
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        consumer.ensure_stopped()
    ids = [key.decode() for key, _ in items]
    check(kafka_bootstrap, topics, ids, mode, "alert topic failing", 1, recovery)
