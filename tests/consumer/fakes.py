"""Small fakes of the Kafka clients and the detector, for loop tests without a broker."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from consumer.config import KafkaSettings, RunSettings
from training.scoring.detector import ScoreOutputs, capped_outputs


def fake_run_settings(**changes: Any) -> RunSettings:
    """Return settings for a `run` against fake clients; `changes` override the defaults."""
    base: dict[str, Any] = dict(
        kafka=KafkaSettings("fake:9092"),
        model_dir=Path("unused"),
        input_topic="in",
        alert_topic="alerts",
        dlq_topic="dlq",
        group_id="g",
    )
    return RunSettings(**{**base, **changes})


FEATURES = ("a", "b", "c")


class FakeDetector:
    """Score = sum of squared features; alert above 10."""

    feature_names = FEATURES
    threshold = 10.0

    def contributions(self, features: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # like the real Detector: overflow scores inf
            return np.square(features)

    def outputs(self, features: np.ndarray, residuals: bool = False) -> ScoreOutputs:
        """Return the contributions as the real Detector does: overflowed rows capped."""
        contributions = self.contributions(features)
        return capped_outputs(contributions, np.zeros((len(features), 3)))


def message(
    value: bytes | None,
    offset: int,
    partition: int = 0,
    topic: str = "in",
    key: bytes | None = None,
) -> Message:
    return Message(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        timestamp=(1, 1_700_000_000_000),
    )


@dataclass
class Committed:
    """A partition as a synchronous commit returns it (TopicPartition.error is read-only)."""

    topic: str
    partition: int
    offset: int
    error: KafkaError | None = None


@dataclass
class FakeSource:
    """Returns the given batches, one per consume(); assigns `partitions` on the first call."""

    batches: list[list[Message]]
    partitions: list[tuple[str, int]] = field(default_factory=lambda: [("in", 0)])
    commits: list[dict[tuple[str, int], int]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    fail_commits: int = 0
    fail_partition_commits: int = 0  # commits whose every partition comes back with an error
    callbacks: dict[str, Any] = field(default_factory=dict)
    closed: bool = False
    assigned: bool = False
    seeks: list[tuple[str, int, int]] = field(default_factory=list)
    paused: set[tuple[str, int]] = field(default_factory=set)

    def subscribe(self, topics, on_assign=None, on_revoke=None, on_lost=None) -> None:
        self.callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}

    def tps(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.partitions]

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        if not self.assigned:
            self.assigned = True
            if self.callbacks.get("assign"):
                self.callbacks["assign"](self, self.tps())
        self.events.append("consume")
        if self.paused and self.paused >= set(self.partitions):  # nothing is fetched
            return []
        return self.batches.pop(0) if self.batches else []

    def commit(self, offsets=None, asynchronous: bool = True) -> list[Committed]:
        self.events.append("commit")
        if self.fail_commits:
            self.fail_commits -= 1
            raise KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS))
        if self.fail_partition_commits:
            self.fail_partition_commits -= 1
            error = KafkaError(KafkaError.REBALANCE_IN_PROGRESS)
            return [Committed(tp.topic, tp.partition, tp.offset, error) for tp in offsets]
        self.commits.append({(tp.topic, tp.partition): tp.offset for tp in offsets})
        return [Committed(tp.topic, tp.partition, tp.offset) for tp in offsets]

    def get_watermark_offsets(self, partition, timeout=None, cached=False):
        return (0, 100)

    def assignment(self) -> list[TopicPartition]:
        return self.tps() if self.assigned else []

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.events.append("pause")
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.events.append("resume")
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append((partition.topic, partition.partition, partition.offset))

    def close(self) -> None:
        if self.assigned and self.callbacks.get("revoke"):
            self.callbacks["revoke"](self, self.tps())
        self.closed = True


@dataclass
class Produced:
    topic: str
    value: bytes | None
    key: bytes | None
    headers: list[tuple[str, bytes]] | None


@dataclass
class FakeSink:
    """Keeps records in flight until flush(); `fail` names a topic whose records fail.

    `refuse` names a topic whose next `refusals` produce calls raise `_STATE`, as librdkafka
    does while a transaction is abortable.
    """

    events: list[str]
    fail: str | None = None
    refuse: str | None = None
    refusals: int = 1
    stuck: bool = False
    delivered: list[Produced] = field(default_factory=list)
    in_flight: list[tuple[Produced, Any]] = field(default_factory=list)

    def produce(self, topic, value=None, key=None, headers=None, on_delivery=None) -> None:
        if topic == self.refuse and self.refusals > 0:
            self.refusals -= 1
            raise KafkaException(KafkaError(KafkaError._STATE, "transaction is abortable"))
        self.in_flight.append((Produced(topic, value, key, headers), on_delivery))

    def poll(self, timeout: float = -1) -> int:
        return 0

    def __len__(self) -> int:
        return len(self.in_flight)

    def flush(self, timeout: float = -1) -> int:
        self.events.append("flush")
        if self.stuck:
            return len(self.in_flight)
        for record, callback in self.in_flight:
            error = KafkaError(KafkaError._MSG_TIMED_OUT) if record.topic == self.fail else None
            msg = Message(topic=record.topic, value=record.value, key=record.key)
            callback(error, msg)
            if error is None:
                self.delivered.append(record)
        self.in_flight.clear()
        return 0

    def on(self, topic: str) -> list[Produced]:
        return [r for r in self.delivered if r.topic == topic]


class FakeClock:
    """A monotonic clock (call it) that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeTransactions(FakeSink):
    """A transactional producer: calls are logged; `errors[call]` raise once each, in order.

    With a `clock`, a call failing with `_TIMED_OUT` first waits out its timeout on it, as
    librdkafka blocks for the whole timeout it was given before giving up.
    """

    errors: dict[str, list[KafkaError]] = field(default_factory=dict)
    sent: list[dict[tuple[str, int], int]] = field(default_factory=list)
    clock: FakeClock | None = None

    def _call(self, name: str, timeout: float = -1) -> None:
        self.events.append(name)
        if self.errors.get(name):
            error = self.errors[name].pop(0)
            if self.clock is not None and error.code() == KafkaError._TIMED_OUT and timeout > 0:
                self.clock.sleep(timeout)
            raise KafkaException(error)

    def init_transactions(self, timeout=-1) -> None:
        self._call("init", timeout)

    def begin_transaction(self) -> None:
        self._call("begin")

    def send_offsets_to_transaction(self, positions, group_metadata, timeout=-1) -> None:
        self._call("send_offsets", timeout)
        self.sent.append({(tp.topic, tp.partition): tp.offset for tp in positions})

    def commit_transaction(self, timeout=-1) -> None:
        self._call("commit_txn", timeout)

    def abort_transaction(self, timeout=-1) -> None:
        self._call("abort", timeout)


@dataclass
class FakeGroupSource(FakeSource):
    group_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    unanswered: bool = False  # committed() times out

    def consumer_group_metadata(self) -> object:
        return "group-metadata"

    def committed(self, partitions: list[TopicPartition], timeout: float = -1):
        """The group's offsets in `group_offsets`; -1001 (none) for the others."""
        if self.unanswered:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "no answer"))
        return [
            TopicPartition(
                p.topic, p.partition, self.group_offsets.get((p.topic, p.partition), -1001)
            )
            for p in partitions
        ]
