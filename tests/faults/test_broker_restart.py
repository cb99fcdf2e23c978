"""The broker stops and starts again mid-stream: the consumer rides through without a restart."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from consumer_helpers import ScorerTopics, feed, transactions
from fault_helpers import (
    EXACTLY_ONCE,
    MODES,
    PARTITIONS,
    N,
    check,
    progress,
    settings,
    start,
    wait_done,
    wait_for,
)
from kafka_helpers import can_run_local_broker, create_topic, kafka_local


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A broker of this module's own, started with scripts/kafka-local, to restart at will."""
    if not can_run_local_broker():
        pytest.fail("the broker restart needs a JDK and mvn (or KAFKA_HOME)", pytrace=False)
    root = tmp_path_factory.mktemp("own-kafka")
    bootstrap = kafka_local("start", "--dir", str(root))
    try:
        yield bootstrap, root
    finally:
        kafka_local("stop", "--dir", str(root), timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_broker_restart_loses_nothing(own_broker, model_bundle, tmp_path, mode):
    ride_through(own_broker, model_bundle, tmp_path, mode, "broker restart", 2)


@pytest.mark.slow
def test_a_broker_away_longer_than_the_transaction_timeout_loses_nothing(
    own_broker, model_bundle, tmp_path
):
    # The open transaction and its records time out while the broker is away (librdkafka
    # caps message.timeout.ms at transaction.timeout.ms): aborted and scored again, once.
    logs = ride_through(
        own_broker,
        model_bundle,
        tmp_path,
        EXACTLY_ONCE,
        "broker away 15 s, transaction timeout 10 s",
        15,
        kafka_transaction_timeout_ms=10000,
    )
    # The transaction open at the stop did not survive: aborted, or its producer replaced.
    assert "transaction_aborted" in logs or "producer_replaced" in logs


def ride_through(
    own_broker, model_bundle, tmp_path, mode: str, scenario: str, outage_s: float, **extra
) -> str:
    """Stop the broker mid-stream for `outage_s`, start it again; the consumer carries on.

    Returns:
        The consumer's logs.
    """
    bootstrap, root = own_broker
    suffix = uuid.uuid4().hex[:8]
    topics = ScorerTopics(*(f"{p}-{suffix}" for p in ("tx", "alerts", "dlq", "scores", "g")))
    create_topic(bootstrap, topics.source, PARTITIONS)
    for topic in topics[1:4]:
        create_topic(bootstrap, topic)
    items = transactions(N, seed=17)
    first = len(items) * 2 // 5
    feed(bootstrap, topics.source, items[:first])
    config = settings(topics, bootstrap, model_bundle, mode, **extra)
    consumer = start(tmp_path, "rider", config, "m-0")
    # The rest arrives while the broker is away: the feeding producer buffers and retries.
    feeder = threading.Thread(target=feed, args=(bootstrap, topics.source, items[first:]))
    try:
        wait_for(
            lambda: progress(bootstrap, topics.group, topics.source) >= N // 5,
            "some",
            180,
            consumer,
        )
        before = progress(bootstrap, topics.group, topics.source)
        feeder.start()
        kafka_local("stop", "--dir", str(root), timeout=120)
        time.sleep(outage_s)
        kafka_local("start", "--dir", str(root))
        back = time.monotonic()
        wait_for(
            lambda: progress(bootstrap, topics.group, topics.source) > before,
            "progress",
            180,
            consumer,
        )
        recovery = time.monotonic() - back
        feeder.join(120)
        wait_done(bootstrap, topics, N, 240, consumer)
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()  # the same process throughout
        logs = consumer.logs()
    finally:
        consumer.ensure_stopped()
    assert before < N
    ids = [key.decode() for key, _ in items]
    check(bootstrap, topics, ids, mode, scenario, 1, recovery)
    return logs
