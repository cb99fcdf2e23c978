"""A test entry point kills the consumer at each phase of a batch; restarted, it loses nothing."""

from __future__ import annotations

import random
import signal
import time

import pytest
from consumer_helpers import feed, transactions
from crashing_consumer import PHASES
from fault_helpers import (
    MODES,
    PARTITIONS,
    N,
    check,
    in_slices,
    restart_and_finish,
    settings,
    start,
    wait_done,
)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_crash_at_every_phase_of_a_batch_loses_nothing(
    kafka_bootstrap, scorer_topics, model_bundle, tmp_path, mode
):
    topics = scorer_topics(PARTITIONS)
    items = transactions(N, seed=13)
    # One slice of fresh input per crash, fed just before it: the crashing run always has work.
    slices = in_slices(items, len(PHASES))
    config = settings(topics, kafka_bootstrap, model_bundle, mode)
    rng = random.Random(5)
    recovery = 0.0
    consumer = None
    fed = 0
    try:
        for i, phase in enumerate(PHASES):
            feed(kafka_bootstrap, topics.source, slices[i])
            fed += len(slices[i])
            # A slice takes many batches but maybe a single commit: commit phases crash at once.
            nth = rng.randint(1, 3) if phase in ("after_consume", "after_produce") else 1
            point = f"{phase}:{nth}"
            consumer = start(tmp_path, f"crash-{i}", config, "member-0", test_crash_point=point)
            assert consumer.wait(180) == -signal.SIGKILL, f"{point} never reached"
            consumer, took = restart_and_finish(
                tmp_path, f"after-{i}", config, kafka_bootstrap, topics, fed, time.monotonic()
            )
            recovery = max(recovery, took)
            assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
        feed(kafka_bootstrap, topics.source, slices[-1])
        consumer = start(tmp_path, "last", config, "member-0")
        wait_done(kafka_bootstrap, topics, N, 240, consumer)
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        if consumer is not None:
            consumer.ensure_stopped()
    ids = [key.decode() for key, _ in items]
    check(kafka_bootstrap, topics, ids, mode, "crash points", len(PHASES), recovery)
