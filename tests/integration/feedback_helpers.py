"""Run `python -m consumer feedback` against a real broker, and join the same topics independently.

The independent join is the property tests' `batch_join` (tests/feedback/simulation.py), fed
with what the topics hold, read read_committed: each role's alerts, and each labels partition's
verdicts in offset order, leaving out those read off their home partition (their copy, sent
home by the feedback process, is read where it belongs). "First" is thus a transaction's first
verdict in home-partition order, as the feedback process takes it.
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from consumer_helpers import ConsumerProcess, read_topic
from kafka_helpers import REPO_ROOT, delete_topics, wait_for_topic

sys.path.insert(0, str(REPO_ROOT / "tests" / "feedback"))

from simulation import Topics, batch_join  # noqa: E402

from consumer.feedback.alert_records import decode_alert  # noqa: E402
from consumer.feedback.counts import (  # noqa: E402
    AlertCount,
    Count,
    EvictedCount,
    FraudCount,
    LateAlertCount,
    RepeatCount,
)
from consumer.feedback.partitioning import home_partition  # noqa: E402
from consumer.feedback.verdicts import decode_verdict  # noqa: E402

ROLES = ("champion", "challenger")
FAMILIES = {
    "fraud_feedback_alerts_total": AlertCount,
    "fraud_feedback_frauds_total": FraudCount,
    "fraud_feedback_repeated_verdicts_total": RepeatCount,
    "fraud_feedback_late_alerts_total": LateAlertCount,
    "fraud_feedback_verdicts_evicted_total": EvictedCount,
}


@dataclass(frozen=True)
class FeedbackTopics:
    """Fresh topics and a group for one feedback test."""

    labels: str
    alerts: str
    challenger: str
    changelog: str
    dlq: str
    group: str
    partitions: int

    @classmethod
    def create(cls, bootstrap: str, partitions: int, alert_partitions: int = 2) -> FeedbackTopics:
        suffix = uuid.uuid4().hex[:10]
        topics = cls(
            f"labels-{suffix}", f"alerts-{suffix}", f"challenger-{suffix}",
            f"changelog-{suffix}", f"labels-dlq-{suffix}", f"feedback-{suffix}", partitions,
        )  # fmt: skip
        compact = {"cleanup.policy": "compact"}
        admin = AdminClient({"bootstrap.servers": bootstrap})
        wanted = [
            NewTopic(topics.labels, partitions, 1),
            NewTopic(topics.changelog, partitions, 1, config=compact),
            NewTopic(topics.alerts, alert_partitions, 1),
            NewTopic(topics.challenger, alert_partitions, 1),
            NewTopic(topics.dlq, 1, 1),
        ]
        for future in admin.create_topics(wanted, operation_timeout=30).values():
            future.result(30)
        for topic in wanted:
            wait_for_topic(admin, topic.topic, topic.num_partitions, 30)
        return topics

    def names(self) -> list[str]:
        return [self.labels, self.alerts, self.challenger, self.changelog, self.dlq]

    def delete(self, bootstrap: str) -> None:
        delete_topics(bootstrap, self.names())

    def settings(self, bootstrap: str, **extra: Any) -> dict[str, Any]:
        """Return FeedbackProcess settings for these topics (FRAUD_* names, lower case)."""
        return dict(
            bootstrap_servers=bootstrap,
            labels_topic=self.labels,
            alert_topic=self.alerts,
            challenger_alert_topic=self.challenger,
            changelog_topic=self.changelog,
            dlq_topic=self.dlq,
            group_id=self.group,
            commit_interval=0.2,
            **extra,
        )


class FeedbackProcess(ConsumerProcess):
    """`python -m consumer feedback` in a subprocess, configured through FRAUD_* variables."""

    def command(self, settings: dict[str, str | int | float]) -> list[str]:
        return ["-m", "consumer", "feedback"]

    def totals(self) -> Counter[Count]:
        """Return the committed totals /metrics exports, summed over labels partitions."""
        totals: Counter[Count] = Counter()
        for (name, labels), value in self.metrics().items():
            kind = FAMILIES.get(name)
            if kind is None or not value:
                continue
            fields = dict(labels)
            fields.pop("partition")
            totals[kind(**fields)] += int(value)
        return totals

    def watermark(self) -> float:
        return self.metrics().get(("fraud_feedback_alert_watermark_seconds", ()), float("-inf"))


def alert_value(
    tx: str, version: str, role: str | None = None, stage: str = "autoencoder"
) -> bytes:
    """Return an alert record as the scorer writes it (the fields the feedback process reads)."""
    document: dict[str, Any] = {
        "transaction_id": tx,
        "score": 9.5,
        "model_version": version,
        "reasons": stage.split("+"),
        "scored_at": "2026-12-01T10:00:00.000Z",
    }
    if role is not None:
        document["role"] = role
    return orjson.dumps(document)


def verdict_value(tx: str, fraud: bool, source: str = "analyst") -> bytes:
    return orjson.dumps(
        {"transaction_id": tx, "fraud": fraud, "source": source, "labelled_at": 1764583200}
    )


def producer(bootstrap: str, murmur2: bool = False) -> Producer:
    """Return a producer; with `murmur2`, keyed records go to their home partition."""
    config = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 10}
    if murmur2:
        config["partitioner"] = "murmur2_random"
    return Producer(config)


def send(client: Producer, topic: str, items: list[tuple[bytes, bytes]]) -> None:
    """Produce (key, value) pairs and wait for every ack."""
    for key, value in items:
        while True:
            try:
                client.produce(topic, value, key)
                break
            except BufferError:
                client.poll(0.1)
    assert client.flush(60) == 0


def independent_join(bootstrap: str, topics: FeedbackTopics, alert_partitions: int = 2):
    """Return the counts the topics call for, and the verdicts read off their home partition."""
    model = Topics(topics.partitions)
    for topic, role in ((topics.alerts, "champion"), (topics.challenger, "challenger")):
        for record in sorted(read_topic(bootstrap, topic, alert_partitions),
                             key=lambda r: (r.partition, r.offset)):  # fmt: skip
            model.alerts[role].append(decode_alert(record.value, role, 0.0))
    strays = 0
    records = read_topic(bootstrap, topics.labels, topics.partitions)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        try:
            verdict = decode_verdict(record.value, 65536)
        except Exception:
            continue  # dead-lettered
        if home_partition(verdict.transaction_id, topics.partitions) != record.partition:
            strays += 1
            continue
        model.labels[record.partition].append((verdict, 0.0))
    return batch_join(model), strays
