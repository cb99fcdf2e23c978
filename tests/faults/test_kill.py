"""kill -9 of the consumer at K random moments, restarted each time: nothing lost."""

from __future__ import annotations

import random
import signal
import time

import pytest
from fault_helpers import (
    MODES,
    PARTITIONS,
    N,
    check,
    feed,
    progress,
    settings,
    start,
    transactions,
    wait_done,
    wait_for,
)

K = 5


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_kill_9_at_random_moments_loses_nothing(
    kafka_bootstrap, scorer_topics, model_bundle, tmp_path, mode
):
    topics = scorer_topics(PARTITIONS)
    items = transactions(N)
    feed(kafka_bootstrap, topics.source, items)
    config = settings(topics, kafka_bootstrap, model_bundle, mode)
    rng = random.Random(9)
    # Kill once the group has committed each of K random fractions of the input.
    marks = sorted(rng.sample(range(N // 20, N * 9 // 10), K))
    consumer = start(tmp_path, "run-0", config, "member-0")
    recovery = 0.0
    try:
        for i, mark in enumerate(marks, start=1):
            wait_for(
                lambda m=mark: progress(kafka_bootstrap, topics.group, topics.source) >= m,
                f"{mark} committed",
                180,
                consumer,
            )
            done = progress(kafka_bootstrap, topics.group, topics.source)
            assert done < N, "the consumer finished before the kill: lower the batch size"
            consumer.stop(signal.SIGKILL)
            killed = time.monotonic()
            consumer = start(tmp_path, f"run-{i}", config, "member-0")
            wait_for(
                lambda d=done: progress(kafka_bootstrap, topics.group, topics.source) > d,
                "progress after a restart",
                180,
                consumer,
            )
            recovery = max(recovery, time.monotonic() - killed)
        wait_done(kafka_bootstrap, topics, N, 240, consumer)
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        consumer.ensure_stopped()
    ids = [key.decode() for key, _ in items]
    check(kafka_bootstrap, topics, ids, mode, "kill -9", K, recovery)
