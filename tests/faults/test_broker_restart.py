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
    bootstrap, root = own_broker
    suffix = uuid.uuid4().hex[:8]
    topics = ScorerTopics(*(f"{p}-{suffix}" for p in ("tx", "alerts", "dlq", "scores", "g")))
    create_topic(bootstrap, topics.source, PARTITIONS)
    for topic in topics[1:4]:
        create_topic(bootstrap, topic)
    items = transactions(N, seed=17)
    first = len(items) * 2 // 5
    feed(bootstrap, topics.source, items[:first])
    consumer = start(tmp_path, "rider", settings(topics, bootstrap, model_bundle, mode), "m-0")
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
        time.sleep(2)
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
    finally:
        consumer.ensure_stopped()
    assert before < N
    ids = [key.decode() for key, _ in items]
    check(bootstrap, topics, ids, mode, "broker restart", 1, recovery)
