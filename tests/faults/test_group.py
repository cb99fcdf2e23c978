"""Group faults: members killed and added mid-stream, and a zombie that wakes up too late."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from consumer_helpers import feed, transactions
from fault_helpers import (
    EXACTLY_ONCE,
    MODES,
    N,
    check,
    progress,
    settings,
    start,
    wait_for,
)
from test_consumer_group import final_assignment

PARTITIONS = 6
CHUNK = 500


def stopped_state(pid: int) -> bool:
    """Tell whether the process is stopped (SIGSTOP): state T in /proc/PID/stat."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def committed_so_far(bootstrap: str, topics) -> int:
    return progress(bootstrap, topics.group, topics.source, PARTITIONS)


def feed_steadily(bootstrap: str, topic: str, items, per_second: float) -> threading.Thread:
    """Feed items in chunks at about `per_second`, in a thread, so faults land mid-stream."""

    def run() -> None:
        for first in range(0, len(items), CHUNK):
            feed(bootstrap, topic, items[first : first + CHUNK])
            time.sleep(CHUNK / per_second)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_member_killed_and_one_added_mid_stream_loses_nothing(
    kafka_bootstrap, scorer_topics, model_bundle, tmp_path, mode
):
    topics = scorer_topics(PARTITIONS)
    items = transactions(N, seed=19)
    # A member killed for good leaves its transaction open until the broker times it out.
    config = settings(
        topics, kafka_bootstrap, model_bundle, mode, kafka_transaction_timeout_ms=10000
    )
    members = [start(tmp_path, f"m-{i}", config, f"m-{i}") for i in range(3)]
    try:
        for member in members:
            member.wait_ready(180)
        feeder = feed_steadily(kafka_bootstrap, topics.source, items, 2000)
        wait_for(
            lambda: committed_so_far(kafka_bootstrap, topics) >= N // 4,
            "a quarter",
            180,
        )
        members[0].stop(signal.SIGKILL)
        killed = time.monotonic()
        done = committed_so_far(kafka_bootstrap, topics)
        members.append(start(tmp_path, "m-3", config, "m-3"))
        wait_for(
            lambda: committed_so_far(kafka_bootstrap, topics) > done,
            "progress",
            180,
        )
        recovery = time.monotonic() - killed
        feeder.join(300)
        wait_for(
            lambda: committed_so_far(kafka_bootstrap, topics) >= N,
            "the end",
            240,
            *members[1:],
        )
        for member in members[1:]:
            assert member.stop(signal.SIGTERM) == 0, member.logs()
    finally:
        for member in members:
            member.ensure_stopped()
    assert done < N, "the group finished before the kill"
    ids = [key.decode() for key, _ in items]
    check(
        kafka_bootstrap,
        topics,
        ids,
        mode,
        "rebalance (3 members, 1 killed, 1 added)",
        2,
        recovery,
        PARTITIONS,
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_zombie_woken_after_its_partitions_moved_loses_nothing(
    kafka_bootstrap, scorer_topics, model_bundle, tmp_path, mode
):
    topics = scorer_topics(PARTITIONS)
    items = transactions(N, seed=23)
    config = settings(topics, kafka_bootstrap, model_bundle, mode)
    # The zombie freezes itself mid-batch, its records produced but not committed.
    zombie = start(tmp_path, "z-0", config, "z-0", test_crash_point="after_produce:8:stop")
    other = start(tmp_path, "z-1", config, "z-1")
    everything = {f"{topics.source}[{p}]" for p in range(PARTITIONS)}
    try:
        for member in (zombie, other):
            member.wait_ready(180)
        feeder = feed_steadily(kafka_bootstrap, topics.source, items, 2000)
        wait_for(lambda: stopped_state(zombie.process.pid), "the zombie to freeze", 180)
        stopped = time.monotonic()
        wait_for(
            lambda: final_assignment(other.logs()) == everything,
            "the partitions to move",
            120,
            other,
        )
        os.kill(zombie.process.pid, signal.SIGCONT)
        recovery = time.monotonic() - stopped
        feeder.join(300)
        wait_for(
            lambda: committed_so_far(kafka_bootstrap, topics) >= N,
            "the end",
            240,
            other,
        )
        for member in (zombie, other):
            if member.process.poll() is None:
                member.stop(signal.SIGTERM)
    finally:
        for member in (zombie, other):
            member.ensure_stopped()
    logs = zombie.logs()
    assert "partitions_lost" in logs or "partitions_revoked" in logs
    if mode == EXACTLY_ONCE:
        assert "transaction_aborted" in logs or "fenced" in logs  # what it wrote did not survive
    ids = [key.decode() for key, _ in items]
    check(
        kafka_bootstrap,
        topics,
        ids,
        mode,
        "zombie (SIGSTOP, then SIGCONT)",
        1,
        recovery,
        PARTITIONS,
    )
