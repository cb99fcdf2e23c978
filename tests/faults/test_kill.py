"""kill -9 of the consumer at K random moments, restarted each time: nothing lost."""

from __future__ import annotations

import random
import signal
import time

import pytest
from consumer_helpers import feed, transactions
from fault_helpers import (
    MODES,
    PARTITIONS,
    N,
    check,
    in_slices,
    progress,
    restart_and_finish,
    settings,
    start,
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
    # One slice of fresh input per kill, fed just before it, so every kill lands mid-stream.
    slices = in_slices(items, K)
    config = settings(topics, kafka_bootstrap, model_bundle, mode)
    rng = random.Random(9)
    consumer = start(tmp_path, "run-0", config, "member-0")
    recovery = 0.0
    fed = 0
    try:
        for i in range(K):
            feed(kafka_bootstrap, topics.source, slices[i])
            mark = fed + int(len(slices[i]) * rng.uniform(0.05, 0.6))  # a random moment
            fed += len(slices[i])
            wait_for(
                lambda m=mark: progress(kafka_bootstrap, topics.group, topics.source) >= m,
                f"{mark} committed",
                180,
                consumer,
            )
            consumer.stop(signal.SIGKILL)
            consumer, took = restart_and_finish(
                tmp_path, f"run-{i + 1}", config, kafka_bootstrap, topics, fed, time.monotonic()
            )
            recovery = max(recovery, took)
        feed(kafka_bootstrap, topics.source, slices[-1])
        wait_done(kafka_bootstrap, topics, N, 240, consumer)
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        consumer.ensure_stopped()
    ids = [key.decode() for key, _ in items]
    check(kafka_bootstrap, topics, ids, mode, "kill -9", K, recovery)
