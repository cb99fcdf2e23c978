"""Stopping or crashing the consumer mid-stream and starting it again loses nothing."""

from __future__ import annotations

import signal
import time
from collections import Counter

import orjson
import pytest
from consumer_helpers import (
    ConsumerProcess,
    committed,
    read_topic,
    start_replay,
    wait_until_committed,
)

PARTITIONS = 2


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_restart_mid_stream_loses_nothing(
    kafka_bootstrap, scorer_topics, model_bundle, stream, tmp_path, stop_signal
):
    topics = scorer_topics(PARTITIONS)
    source, alerts_topic, dlq, scores, group = topics
    settings = topics.settings(
        kafka_bootstrap,
        model_bundle,
        batch_size=50,
        commit_interval=0.2,
        # Passed through to librdkafka: a killed member leaves the group after 6 s, not 45 s.
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=1000,
    )
    # Transactions arrive at a steady rate; the first consumer is stopped once it has
    # committed some of them, and the second takes over while they keep coming.
    first = ConsumerProcess(tmp_path / "first.log", **settings)
    second = feeder = None
    try:
        # Fed once the first consumer holds its partitions: on a busy machine (scripts/test's
        # parallel workers) its start can outlast the 5 s of feed, leaving nothing to take over.
        first.wait_ready()
        feeder = start_replay(kafka_bootstrap, source, stream.csv, "--rate", "300")
        wait_until_some_committed(kafka_bootstrap, group, source, 100, first)
        code = first.stop(stop_signal)
        if stop_signal == signal.SIGTERM:
            assert code == 0, first.logs()
        done_before = sum(committed(kafka_bootstrap, group, source, PARTITIONS).values())
        assert done_before < len(stream.ids), "stopped too late to test a restart"

        second = ConsumerProcess(tmp_path / "second.log", **settings)
        assert feeder.wait(300) == 0, feeder.stderr.read().decode()
        wait_until_committed(kafka_bootstrap, group, source, PARTITIONS, 120, second)
        assert second.stop(signal.SIGTERM) == 0, second.logs()
    finally:
        for process in (first, second):
            if process is not None:
                process.ensure_stopped()
        if feeder is not None and feeder.poll() is None:
            feeder.kill()
            feeder.wait()

    scored = Counter(
        orjson.loads(r.value)["transaction_id"] for r in read_topic(kafka_bootstrap, scores, 1)
    )
    alerts = {
        orjson.loads(r.value)["transaction_id"]
        for r in read_topic(kafka_bootstrap, alerts_topic, 1)
    }
    assert set(scored) == set(stream.ids)  # nothing lost
    assert alerts == stream.alerts
    assert read_topic(kafka_bootstrap, dlq, 1) == []
    if stop_signal == signal.SIGTERM:
        # A clean stop commits everything it scored: nothing is scored twice.
        assert max(scored.values()) == 1


def wait_until_some_committed(bootstrap, group, topic, at_least, process, timeout=120):
    deadline = time.monotonic() + timeout
    while (
        sum(max(o, 0) for o in committed(bootstrap, group, topic, PARTITIONS).values()) < at_least
    ):
        assert time.monotonic() < deadline, process.logs()
        assert process.process.poll() is None, process.logs()
        time.sleep(0.1)
