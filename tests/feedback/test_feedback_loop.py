"""The feedback loop against fakes: transactions, an abort rolled back, strays, rebalances."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry

from consumer.config import FeedbackSettings, KafkaSettings
from consumer.feedback.alert_records import Alert
from consumer.feedback.changelog import restore
from consumer.feedback.join import FeedbackJoin
from consumer.feedback.ledger import Limits
from consumer.feedback.loop import FeedbackLoop
from consumer.feedback.metrics import FeedbackMetrics
from consumer.feedback.partitioning import home_partition
from consumer.feedback.transaction import FeedbackTransaction
from consumer.feedback.writer import ROUTED_FROM, FeedbackWriter
from consumer.health import FeedbackHealth
from consumer.retry import TransactionCalls

ROLES = ("champion",)
PARTITIONS = 2
IDS = [f"t{i}" for i in range(20)]
HOME = {tx: home_partition(tx, PARTITIONS) for tx in IDS}
ON_0 = [tx for tx in IDS if HOME[tx] == 0]
ON_1 = [tx for tx in IDS if HOME[tx] == 1]


def verdict(tx: str, offset: int, partition: int, fraud: bool = True) -> Message:
    value = orjson.dumps({"transaction_id": tx, "fraud": fraud, "source": "a", "labelled_at": 0})
    return Message(topic="labels", partition=partition, offset=offset, key=tx.encode(),
                   value=value, timestamp=(1, 1_000_000))  # fmt: skip


@dataclass
class Broker:
    """What the fake clients share: committed records per (topic, partition), group offsets."""

    logs: dict[tuple[str, int], list[tuple[bytes | None, bytes | None, Any]]] = field(
        default_factory=dict
    )
    offsets: dict[int, int] = field(default_factory=dict)


@dataclass
class FakeProducer:
    """A transactional producer: records become visible when their transaction commits."""

    broker: Broker
    abort_next_commit: int = 0
    pending: list[tuple[str, int, bytes | None, bytes | None, Any]] = field(default_factory=list)
    offsets: list[TopicPartition] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def produce(self, topic, value=None, key=None, headers=None, on_delivery=None, **placement):
        self.pending.append((topic, placement.get("partition", -1), key, value, headers))

    def poll(self, timeout=-1):
        return 0

    def flush(self, timeout=-1):
        return 0

    def __len__(self):
        return 0

    def init_transactions(self, timeout=-1):
        self.calls.append("init")

    def begin_transaction(self):
        self.calls.append("begin")

    def send_offsets_to_transaction(self, positions, group_metadata, timeout=-1):
        self.offsets = list(positions)

    def commit_transaction(self, timeout=-1):
        if self.abort_next_commit:
            self.abort_next_commit -= 1
            raise KafkaException(
                KafkaError(KafkaError._STATE, "abortable", txn_requires_abort=True)
            )
        for topic, partition, key, value, headers in self.pending:
            self.broker.logs.setdefault((topic, partition), []).append((key, value, headers))
        self.broker.offsets.update({tp.partition: tp.offset for tp in self.offsets})
        self.pending.clear()
        self.calls.append("commit")

    def abort_transaction(self, timeout=-1):
        self.pending.clear()
        self.calls.append("abort")


@dataclass
class FakeLabels:
    """The labels consumer: serves its partitions' verdicts from the committed offsets."""

    broker: Broker
    verdicts: dict[int, list[Message]]
    callbacks: dict[str, Any] = field(default_factory=dict)
    next: dict[int, int] = field(default_factory=dict)
    held: list[int] = field(default_factory=list)
    seeks: list[tuple[int, int]] = field(default_factory=list)

    def subscribe(self, topics, on_assign=None, on_revoke=None, on_lost=None):
        self.callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}

    def rebalance(self, kind: str, partitions: list[int]) -> None:
        self.callbacks[kind](self, [TopicPartition("labels", p) for p in partitions])

    def consume(self, num_messages=1, timeout=-1):
        if not self.held and not self.callbacks.get("assigned"):
            self.callbacks["assigned"] = True
            self.rebalance("assign", list(self.verdicts))
        batch = []
        for p in self.held:
            log = self.verdicts[p]
            batch += log[self.next[p] :]
            self.next[p] = len(log)
        return batch

    def committed(self, partitions, timeout=-1):
        return [TopicPartition("labels", tp.partition, self.broker.offsets.get(tp.partition, -1001))
                for tp in partitions]  # fmt: skip

    def assign(self, partitions):
        self.held = [tp.partition for tp in partitions]
        self.next.update({tp.partition: tp.offset for tp in partitions})

    def seek(self, partition):
        self.seeks.append((partition.partition, partition.offset))
        self.next[partition.partition] = partition.offset

    def position(self, partitions):
        return [
            TopicPartition("labels", tp.partition, self.next[tp.partition]) for tp in partitions
        ]

    def get_watermark_offsets(self, partition, timeout=-1, cached=False):
        return 0, len(self.verdicts.get(partition.partition, []))

    def consumer_group_metadata(self):
        return "metadata"

    def commit(self, offsets=None, asynchronous=False):
        raise AssertionError("the feedback loop commits in transactions only")

    def close(self):
        if self.held:
            self.rebalance("revoke", self.held)
            self.held = []


class FakeChangelog:
    """Restores a ledger from the fake broker's committed changelog records."""

    def __init__(self, broker: Broker):
        self.broker = broker
        self.restored: list[int] = []

    def restore(self, partition, roles):
        self.restored.append(partition)
        records = [(k, v) for k, v, _ in self.broker.logs.get(("changelog", partition), [])]
        return restore(records, roles)


@dataclass
class FakeWatermark:
    value: float = 1500.0  # a verdict's grace period is over; nothing reaches the horizon
    caught_up: bool = True


class FakeAlerts:
    """The alert reader: the given alerts are read on the first step; the watermark is far."""

    def __init__(self, alerts: list[Alert]):
        self.alerts = alerts
        self.watermark = FakeWatermark()

    def read(self, join, batches):
        for alert in self.alerts:
            join.add_alert(alert)
        self.alerts = []
        return 0

    def follow_ends(self):
        return False


def build(verdicts: dict[int, list[Message]], alerts: list[Alert], abort: int = 0):
    broker = Broker()
    registry = CollectorRegistry()
    metrics = FeedbackMetrics(ROLES, registry)
    settings = FeedbackSettings(
        KafkaSettings("fake:9092"), "labels", "alerts", "changelog", "labels-dlq", "fb",
        commit_interval=0,
    )  # fmt: skip
    producer = FakeProducer(broker, abort_next_commit=abort)
    writer = FeedbackWriter(producer, "labels", "changelog", "labels-dlq", metrics)
    calls = TransactionCalls(sleep=lambda _: None)
    transaction = FeedbackTransaction(writer, metrics, 5.0, calls)
    transaction.start()
    source = FakeLabels(broker, verdicts)
    changelog = FakeChangelog(broker)
    join = FeedbackJoin(ROLES, PARTITIONS, Limits(60.0, 3600.0, 100, 100))
    loop = FeedbackLoop(
        source, FakeAlerts(alerts), changelog, writer, transaction, join, metrics, settings,
        FeedbackHealth(), sleep=lambda _: None,
    )  # fmt: skip
    source.subscribe(["labels"], loop.on_assign, loop.on_revoke, loop.on_lost)
    return loop, source, producer, broker, registry, changelog


def total(registry, name, **labels):
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None or math.isnan(value) else value


CAUGHT = {"role": "champion", "caught": "true"}


def test_an_aborted_transaction_is_rolled_back_to_the_changelog_and_counted_once():
    tx = ON_0[0]
    loop, source, producer, broker, registry, changelog = build(
        {0: [verdict(tx, 0, 0)], 1: []},
        [Alert(tx, "champion", "v1", "autoencoder", 900.0)],
        abort=1,
    )
    loop.step()  # reads, counts, commits: aborted, rolled back
    assert producer.calls[-1] == "abort"
    assert source.seeks == [(0, 0), (1, 0)]  # back to the committed offsets
    assert changelog.restored == [0, 1, 0, 1]  # on assignment, then on the rollback
    assert total(registry, "fraud_feedback_frauds_total", partition="0", **CAUGHT) == 0
    loop.step()  # reads the verdict again, commits
    assert total(registry, "fraud_feedback_frauds_total", partition="0", **CAUGHT) == 1
    assert total(registry, "fraud_feedback_commits_total", outcome="aborted") == 1
    assert broker.offsets == {0: 1, 1: 0}
    loop.step()
    assert total(registry, "fraud_feedback_frauds_total", partition="0", **CAUGHT) == 1


def test_a_stray_is_sent_home_in_the_transaction_and_counted_where_it_belongs():
    tx = ON_1[0]
    loop, source, producer, broker, registry, _ = build(
        {0: [verdict(tx, 0, 0)], 1: []}, [Alert(tx, "champion", "v1", "autoencoder", 900.0)]
    )
    loop.step()
    ((key, value, headers),) = broker.logs[("labels", 1)]
    assert key == tx.encode() and headers == [(ROUTED_FROM, b"0:0")]
    assert total(registry, "fraud_feedback_frauds_total", partition="0", **CAUGHT) == 0
    assert total(registry, "fraud_feedback_verdicts_routed_total") == 1
    source.verdicts[1].append(verdict(tx, 0, 1))  # the copy, read by the home partition's owner
    loop.step()
    assert total(registry, "fraud_feedback_frauds_total", partition="1", **CAUGHT) == 1


def test_every_transaction_carries_the_offsets_of_every_partition_held():
    tx = ON_0[0]
    loop, source, producer, broker, _, _ = build({0: [verdict(tx, 0, 0)], 1: []}, [])
    loop.step()
    assert sorted((tp.partition, tp.offset) for tp in producer.offsets) == [(0, 1), (1, 0)]


def test_a_bad_verdict_is_dead_lettered_in_the_transaction():
    bad = Message(topic="labels", partition=0, offset=0, key=b"x", value=b"{",
                  timestamp=(1, 1_000_000))  # fmt: skip
    loop, _, _, broker, registry, _ = build({0: [bad], 1: []}, [])
    loop.step()
    ((_, value, headers),) = broker.logs[("labels-dlq", -1)]
    assert value == b"{" and dict(headers)["dlq.reason"] == b"not_json"
    assert total(registry, "fraud_feedback_invalid_verdicts_total", reason="not_json") == 1
    assert broker.offsets[0] == 1


def test_revoke_commits_then_forgets_and_the_next_owner_restores():
    tx = ON_0[0]
    loop, source, producer, broker, registry, changelog = build(
        {0: [verdict(tx, 0, 0)], 1: []}, [Alert(tx, "champion", "v1", "autoencoder", 900.0)]
    )
    loop.source.consume()  # assignment
    loop.alerts.read(loop.join, 1)
    loop.take(source.verdicts[0])
    source.rebalance("revoke", [0, 1])
    assert broker.offsets == {0: 1, 1: 0}
    assert loop.join.ledgers == {}
    assert total(registry, "fraud_feedback_frauds_total", partition="0", **CAUGHT) == 0  # forgot
    source.rebalance("assign", [0])
    assert total(registry, "fraud_feedback_frauds_total", partition="0", **CAUGHT) == 1
    assert tx in loop.join.ledgers[0].entries


def test_lost_partitions_abort_the_open_transaction():
    tx = ON_0[0]
    loop, source, producer, broker, registry, _ = build({0: [verdict(tx, 0, 0)], 1: []}, [])
    loop.source.consume()
    loop.take(source.verdicts[0])
    source.rebalance("lost", [0, 1])
    assert producer.calls[-1] == "abort"
    assert broker.offsets == {} and loop.join.ledgers == {}
