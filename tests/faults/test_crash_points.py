"""A test-only switch kills the consumer at each phase of a batch; restarted, it loses nothing."""

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

from consumer.crashpoint import PHASES


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_crash_at_every_phase_of_a_batch_loses_nothing(
    kafka_bootstrap, scorer_topics, model_bundle, tmp_path, mode
):
    topics = scorer_topics(PARTITIONS)
    items = transactions(N, seed=13)
    feed(kafka_bootstrap, topics.source, items)
    # A static member rejoins at once after a crash instead of waiting for its session to end.
    config = settings(
        topics, kafka_bootstrap, model_bundle, mode, kafka_group_instance_id="member-0"
    )
    rng = random.Random(5)
    recovery = 0.0
    consumer = None
    try:
        for i, phase in enumerate(PHASES):
            point = f"{phase}:{rng.randint(2, 6)}"
            consumer = start(tmp_path, f"crash-{i}", config, "member-0", test_crash_point=point)
            assert consumer.wait(180) == -signal.SIGKILL, f"{point} never reached"
            crashed = time.monotonic()
            # Restart first: in exactly-once mode the group's offsets stay unreadable until the
            # new instance aborts the transaction the crashed one left open.
            consumer = start(tmp_path, f"after-{i}", config, "member-0")
            done = progress(kafka_bootstrap, topics.group, topics.source)
            assert done < N, "the consumer finished before the crash: lower the batch size"
            wait_for(
                lambda d=done: progress(kafka_bootstrap, topics.group, topics.source) > d,
                "progress after a crash",
                180,
                consumer,
            )
            recovery = max(recovery, time.monotonic() - crashed)
            assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
        consumer = start(tmp_path, "last", config, "member-0")
        wait_done(kafka_bootstrap, topics, N, 240, consumer)
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        if consumer is not None:
            consumer.ensure_stopped()
    ids = [key.decode() for key, _ in items]
    check(kafka_bootstrap, topics, ids, mode, "crash points", len(PHASES), recovery)
