"""`python -m consumer feedback` against a real broker: its counts equal an independent join."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

import pytest
from consumer_helpers import read_topic
from feedback_helpers import (
    FeedbackProcess,
    FeedbackTopics,
    alert_value,
    independent_join,
    producer,
    send,
    verdict_value,
)
from kafka_helpers import REPO_ROOT, create_topic

from consumer.feedback.counts import FraudCount, LateAlertCount
from consumer.feedback.writer import ROUTED_FROM

PARTITIONS = 3


@pytest.fixture
def feedback_topics(kafka_bootstrap):
    topics = FeedbackTopics.create(kafka_bootstrap, PARTITIONS)
    yield topics
    topics.delete(kafka_bootstrap)


def wait_until(condition, what, proc, timeout=90):
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.process.poll() is None, f"feedback died waiting for {what}:\n{proc.logs()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{proc.logs()[-3000:]}"
        time.sleep(0.2)


def settled(proc, since: float, grace: float) -> bool:
    """Tell whether the process has settled every verdict that arrived before `since`."""
    return proc.watermark() > since + grace + 0.5


@pytest.mark.slow
def test_counts_equal_an_independent_join_through_strays_repeats_and_a_restart(
    kafka_bootstrap, feedback_topics, tmp_path
):
    topics = feedback_topics
    grace = 5.0  # alerts come within a second of the verdicts they follow
    config = topics.settings(kafka_bootstrap, grace=grace)
    ids = [f"tx-{i}" for i in range(300)]
    home = producer(kafka_bootstrap, murmur2=True)
    anywhere = producer(kafka_bootstrap)  # librdkafka's default partitioner: many strays
    proc = FeedbackProcess(tmp_path / "feedback-1.log", **config)
    try:
        proc.wait_ready()
        # Verdicts first for a third, their alerts after (out of order), with repeats and
        # conflicts; then verdicts on the rest, some of them after a restart.
        early = [(t.encode(), verdict_value(t, i % 4 == 0)) for i, t in enumerate(ids[:100])]
        send(home, topics.labels, early[:50])
        send(anywhere, topics.labels, early[50:] + early[:10])  # ten exact repeats
        send(anywhere, topics.labels, [(t.encode(), verdict_value(t, True)) for t in ids[10:15]])
        send(home, topics.labels, [(b"bad-1", b"{not json"), (b"bad-2", b'{"fraud": "yes"}')])
        send(home, topics.alerts, [(t.encode(), alert_value(t, "v1")) for t in ids[::2]])
        shadow = [(t.encode(), alert_value(t, "c1", "challenger", "supervised")) for t in ids[::3]]
        send(anywhere, topics.challenger, shadow)
        late = [(t.encode(), verdict_value(t, i % 5 == 0, "chargeback")) for i, t in
                enumerate(ids[100:])]  # fmt: skip
        send(anywhere, topics.labels, late[:100])
        sent = time.time()
        wait_until(lambda: settled(proc, sent, grace), "the first verdicts settled", proc)
        assert proc.stop(signal.SIGTERM) == 0, proc.logs()
        send(home, topics.labels, late[100:] + late[:5])  # five repeats after the restart
        proc = FeedbackProcess(tmp_path / "feedback-2.log", **config)
        proc.wait_ready()
        sent = time.time()
        expected, strays = independent_join(kafka_bootstrap, topics)
        wait_until(lambda: settled(proc, sent, grace), "every verdict settled", proc)
        wait_until(lambda: proc.totals() == expected, "the counts of the independent join", proc)
        copies = [r for r in read_topic(kafka_bootstrap, topics.labels, PARTITIONS)
                  if ROUTED_FROM in r.headers]  # fmt: skip
        assert strays > 0 and len(copies) == strays  # each stray sent home once
        dead = read_topic(kafka_bootstrap, topics.dlq, 1)
        assert sorted(r.headers["dlq.reason"] for r in dead) == [b"missing_field", b"not_json"]
        assert proc.stop(signal.SIGTERM) == 0, proc.logs()
    finally:
        proc.ensure_stopped()
    assert expected[FraudCount("champion", "true")] > 0
    assert expected[FraudCount("challenger", "false")] > 0


@pytest.mark.slow
def test_an_alert_after_the_grace_period_counts_as_late_and_nothing_else_moves(
    kafka_bootstrap, feedback_topics, tmp_path
):
    topics = feedback_topics
    proc = FeedbackProcess(tmp_path / "feedback.log", **topics.settings(kafka_bootstrap, grace=1))
    try:
        proc.wait_ready()
        client = producer(kafka_bootstrap, murmur2=True)
        send(client, topics.labels, [(b"lonely", verdict_value("lonely", True, "chargeback"))])
        missed = FraudCount("champion", "false")
        wait_until(lambda: proc.totals()[missed] == 1, "the fraud settled as missed", proc)
        send(client, topics.alerts, [(b"lonely", alert_value("lonely", "v1"))])
        late = LateAlertCount("champion", "fraud")
        wait_until(lambda: proc.totals()[late] == 1, "the late alert counted", proc)
        totals = proc.totals()
        assert totals[missed] == 1 and totals[FraudCount("champion", "true")] == 0
        assert totals[FraudCount("challenger", "false")] == 1
        assert proc.stop(signal.SIGTERM) == 0, proc.logs()
    finally:
        proc.ensure_stopped()


@pytest.mark.slow
def test_a_changelog_unlike_the_labels_topic_is_refused_in_one_sentence(kafka_bootstrap):
    suffix = uuid.uuid4().hex[:8]
    labels, changelog, alerts = (f"{name}-{suffix}" for name in ("l", "c", "a"))
    create_topic(kafka_bootstrap, labels, 3)
    create_topic(kafka_bootstrap, changelog, 2)
    create_topic(kafka_bootstrap, alerts, 1)
    argv = [
        "--bootstrap-servers", kafka_bootstrap, "--labels-topic", labels, "--alert-topic", alerts,
        "--changelog-topic", changelog, "--dlq-topic", "dlq", "--group-id", "g",
        "--metrics-port", "0",
    ]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "consumer", "feedback", *argv],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "has 2 partitions, the labels topic" in result.stderr
    argv[argv.index(alerts)] = "no-such-topic"
    result = subprocess.run(
        [sys.executable, "-m", "consumer", "feedback", *argv],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "topic no-such-topic does not exist" in result.stderr
