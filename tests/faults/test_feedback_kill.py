"""kill -9 of the feedback process at K random moments: its counts equal an independent join.

Verdicts stream in slices, half through librdkafka's default partitioner (so that many are
sent home by the process) and half straight to their home partition, with repeats, conflicts,
bad ones, alerts that come after their verdicts and verdicts that come long after their alerts
(chargebacks on the first slices' transactions, in the last). After each slice the process is
killed at a random moment and started again. At the end its committed totals must equal the
property tests' batch join of what the topics hold, with nothing lost or counted twice, and
each bad verdict dead-lettered once.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter

import pytest
from consumer_helpers import read_topic
from fault_helpers import N, Outcome, record, wait_for
from feedback_helpers import (
    FeedbackProcess,
    FeedbackTopics,
    alert_value,
    independent_join,
    producer,
    send,
    verdict_value,
)

K = 5
PARTITIONS = 4
GRACE_S = 15.0  # alerts come within a second or two of the verdicts they follow
BAD = [(b"bad-json", b"{oops"), (b"bad-field", b'{"transaction_id": "x", "fraud": 1,'
        b' "source": "analyst", "labelled_at": 0}')]  # fmt: skip


def workload(n: int, rng: random.Random):
    """Return the slices of (verdicts, champion alerts, challenger alerts) to send, in order."""
    ids = [f"fb-{i}" for i in range(n)]
    fraud = {tx: rng.random() < 0.2 for tx in ids}
    slices = []
    size = n // (K + 1)
    for k in range(K + 1):
        chunk = ids[k * size : (k + 1) * size] if k < K else ids[K * size :]
        verdicts = [(tx, fraud[tx], "analyst") for tx in chunk if rng.random() < 0.85]
        verdicts += [(tx, fraud[tx], "analyst") for tx in rng.sample(chunk, len(chunk) // 10)]
        verdicts += [(tx, not fraud[tx], "analyst") for tx in rng.sample(chunk, len(chunk) // 20)]
        if k == K:  # late verdicts: chargebacks on the first slices' transactions
            verdicts += [(tx, True, "chargeback") for tx in ids[: 2 * size] if fraud[tx]]
        rng.shuffle(verdicts)
        champion = [tx for tx in chunk if fraud[tx] or rng.random() < 0.01]
        champion = [tx for tx in champion if rng.random() < 0.8]
        challenger = [tx for tx in chunk if fraud[tx] or rng.random() < 0.02]
        challenger = [tx for tx in challenger if rng.random() < 0.9]
        slices.append((verdicts, champion, challenger))
    return slices


def feed(bootstrap: str, topics: FeedbackTopics, part, clients) -> int:
    """Send one slice: half the verdicts, the alerts, the other half; return verdicts sent."""
    verdicts, champion, challenger = part
    home, anywhere = clients
    items = [(tx.encode(), verdict_value(tx, fraud, source)) for tx, fraud, source in verdicts]
    half = len(items) // 2
    send(home, topics.labels, items[:half])
    send(anywhere, topics.alerts, [(tx.encode(), alert_value(tx, "v7")) for tx in champion])
    shadow = [(tx.encode(), alert_value(tx, "c2", "challenger", "supervised")) for tx in challenger]
    send(home, topics.challenger, shadow)
    send(anywhere, topics.labels, items[half:])
    return len(items)


@pytest.mark.slow
def test_kill_9_of_the_feedback_process_loses_and_double_counts_nothing(kafka_bootstrap, tmp_path):
    topics = FeedbackTopics.create(kafka_bootstrap, PARTITIONS)
    rng = random.Random(21)
    # A killed member leaves the group after 6 s, not 45 s (passed through to librdkafka).
    config = topics.settings(
        kafka_bootstrap,
        grace=GRACE_S,
        batch_size=200,
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=1000,
    )
    clients = (producer(kafka_bootstrap, murmur2=True), producer(kafka_bootstrap))
    slices = workload(N, rng)
    proc = FeedbackProcess(tmp_path / "feedback-0.log", **config)
    recovery = 0.0
    sent = 0
    try:
        proc.wait_ready()
        send(clients[0], topics.labels, BAD)
        for k in range(K):
            sent += feed(kafka_bootstrap, topics, slices[k], clients)
            time.sleep(rng.uniform(0.0, 0.5))  # a random moment: mid-batch, mid-transaction
            proc.stop(signal.SIGKILL)
            killed = time.monotonic()
            proc = FeedbackProcess(tmp_path / f"feedback-{k + 1}.log", **config)
            proc.wait_ready(timeout=180)
            recovery = max(recovery, time.monotonic() - killed)
        sent += feed(kafka_bootstrap, topics, slices[K], clients)
        last = time.time()
        wait_for(
            lambda: proc.watermark() > last + GRACE_S + 1,
            "every verdict settled",
            180 + GRACE_S,
            proc,
        )
        expected, strays = independent_join(kafka_bootstrap, topics)
        wait_for(lambda: proc.totals() == expected, "the counts of the independent join", 60, proc)
        got = proc.totals()
        assert proc.stop(signal.SIGTERM) == 0, proc.logs()
    except AssertionError:
        got = proc.totals() if proc.process.poll() is None else Counter()
        expected, strays = independent_join(kafka_bootstrap, topics)
        raise
    finally:
        proc.ensure_stopped()
        dead = read_topic(kafka_bootstrap, topics.dlq, 1)
        lost = sum(max(n - got[c], 0) for c, n in expected.items())
        duplicated = sum(max(n - expected[c], 0) for c, n in got.items())
        record(
            Outcome(
                "feedback kill -9",
                "exactly-once",
                sent + len(BAD),
                K,
                lost,
                duplicated,
                len(dead),
                recovery,
            )  # fmt: skip
        )
        topics.delete(kafka_bootstrap)
    assert lost == 0 and duplicated == 0
    assert sorted(r.headers["dlq.reason"] for r in dead) == [b"bad_field", b"not_json"]
    assert strays > 0
    assert sum(n for c, n in expected.items() if type(c).__name__ == "RepeatCount") > 0
