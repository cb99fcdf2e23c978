"""Two consumers in one group split the partitions and together score everything."""

from __future__ import annotations

import re
import signal

import orjson
import pytest
from consumer_helpers import ConsumerProcess, metric, read_topic, replay, wait_until_committed

PARTITIONS = 4


def final_assignment(logs: str) -> set[str]:
    """The partitions a consumer held last, from its assigned/revoked log lines."""
    held: set[str] = set()
    for line in logs.splitlines():
        event = re.search(r'"event":"(partitions_\w+)"', line)
        if not event:
            continue
        partitions = set(orjson.loads(line)["partitions"])
        held = held | partitions if event.group(1) == "partitions_assigned" else held - partitions
    return held


@pytest.mark.slow
def test_two_consumers_split_the_partitions_and_score_everything(
    kafka_bootstrap, scorer_topics, model_bundle, stream, tmp_path
):
    topics = scorer_topics(PARTITIONS)
    source, alerts_topic, dlq, scores, group = topics
    settings = topics.settings(kafka_bootstrap, model_bundle)
    consumers = [ConsumerProcess(tmp_path / f"c{i}.log", **settings) for i in range(2)]
    try:
        for consumer in consumers:
            consumer.wait_ready()  # ready means it holds at least one partition
        replay(kafka_bootstrap, source, stream.csv)
        wait_until_committed(kafka_bootstrap, group, source, PARTITIONS, 120, *consumers)
        held = [final_assignment(c.logs()) for c in consumers]
        counts = [metric(c.metrics(), "fraud_transactions_scored_total") for c in consumers]
        for consumer in consumers:
            assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        for consumer in consumers:
            consumer.ensure_stopped()

    assert held[0] and held[1] and not held[0] & held[1]
    assert held[0] | held[1] == {f"{source}[{p}]" for p in range(PARTITIONS)}
    assert all(count > 0 for count in counts)
    assert sum(counts) >= len(stream.ids)  # at least once: a late rebalance may repeat a batch
    scored = {
        orjson.loads(r.value)["transaction_id"] for r in read_topic(kafka_bootstrap, scores, 1)
    }
    assert scored == set(stream.ids)
    alerts = {
        orjson.loads(r.value)["transaction_id"]
        for r in read_topic(kafka_bootstrap, alerts_topic, 1)
    }
    assert alerts == stream.alerts
