"""The delivery guarantee in one object: when a batch's input offsets are committed, and how.

`AtLeastOnce` flushes the producer, then commits the offsets: an output may be written twice
(a crash between the two) but never lost. `consumer.transaction.ExactlyOnce` puts a batch's
outputs and its input offsets in one Kafka transaction: readers with
`isolation.level=read_committed` see each output once. Both commit what is done when
partitions are revoked and drop what is pending when they are lost (another consumer owns
them: committing would be wrong).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaException, Message, TopicPartition

from consumer.errors import DeliveryError, ProduceRefused
from consumer.kafka import Sink, Source, error_text
from consumer.logs import log_event
from consumer.metrics import Metrics
from consumer.offsets import OffsetTracker, Partition
from consumer.publish import Publisher


class Checkpoint(Protocol):
    """What the scoring loop asks of a delivery guarantee."""

    def begin(self) -> None:
        """Prepare to hand a batch's records to the producer."""

    def done(self, messages: Sequence[Message]) -> None:
        """Mark messages as handled: every record they caused was handed to the producer."""

    def commit(self, force: bool = False) -> None:
        """Commit what is done if the commit interval has passed (or `force`)."""

    def refused(self, messages: list[Message], error: ProduceRefused) -> None:
        """Recover from the producer refusing a record of these messages' batch, or raise."""

    def revoke(self, partitions: list[TopicPartition]) -> None:
        """Commit what is done, then forget the partitions (unless the loop failed)."""

    def lose(self, partitions: list[TopicPartition]) -> None:
        """Forget the partitions without committing: another consumer owns them now."""

    def fail(self) -> None:
        """Remember that the loop failed: what is pending may lack acks, never commit it."""


class AtLeastOnce:
    """Flush the producer, then commit the consumer's offsets, every commit interval.

    Parameters:
        source: the consumer, which commits.
        publisher: the producer's front, whose flush raises unless every record was acked.
        metrics: commits are counted by outcome.
        commit_interval, flush_timeout: seconds.
    """

    def __init__(
        self,
        source: Source,
        publisher: Publisher[Sink],
        metrics: Metrics,
        commit_interval: float,
        flush_timeout: float,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.source = source
        self.publisher = publisher
        self.metrics = metrics
        self.flush_timeout = flush_timeout
        self.interval = CommitInterval(commit_interval, monotonic)
        self.offsets = OffsetTracker()
        self.failed = False

    def begin(self) -> None:
        """Nothing to prepare: records go straight to the producer."""

    def done(self, messages: Sequence[Message]) -> None:
        self.offsets.record(messages)

    def commit(self, force: bool = False) -> None:
        """Flush the producer, then commit offsets.

        Records still unacknowledged after the flush timeout (a broker restarting) defer the
        commit to the next interval; librdkafka fails them after its message.timeout.ms.

        Raises:
            DeliveryError: a record failed, or, when forced, was not acknowledged in time;
                nothing is committed.
        """
        if self.failed or not self.interval.due(force):
            return
        pending = self.offsets.pending()
        if not pending:
            return
        remaining = self.publisher.flush(self.flush_timeout)
        if remaining:
            message = f"{remaining} records not acknowledged within {self.flush_timeout:g}s"
            if force:
                raise DeliveryError(message)
            log_event("commit_deferred", logging.WARNING, reason=message)
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in pending.items()]
        try:
            results = self.source.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # Retried at the next commit or on revoke; at worst the next owner repeats the work.
            self._commit_failed([], error_text(exc))
            return
        # A synchronous commit can succeed as a call yet fail for some partitions.
        failed = [tp for tp in results or () if tp.error is not None]
        if failed:
            reason = failed[0].error.str() if failed[0].error is not None else "unknown"
            self._commit_failed(failed, reason)
        else:
            self.metrics.commits.labels("ok").inc()
        keys = partition_keys(failed)
        self.offsets.committed({p: o for p, o in pending.items() if p not in keys})

    def refused(self, messages: list[Message], error: ProduceRefused) -> None:
        """Stop: without a transaction, records already produced cannot be taken back.

        Raises:
            ProduceRefused: always; nothing of the batch is committed, so a restart repeats it.
        """
        raise error

    def revoke(self, partitions: list[TopicPartition]) -> None:
        commit_before_revoke(self)
        self.offsets.drop(partition_keys(partitions))

    def lose(self, partitions: list[TopicPartition]) -> None:
        self.offsets.drop(partition_keys(partitions))

    def fail(self) -> None:
        self.failed = True

    def _commit_failed(self, partitions: list[TopicPartition], reason: str) -> None:
        self.metrics.commits.labels("failed").inc()
        fields: dict[str, Any] = {"partitions": partition_names(partitions)} if partitions else {}
        log_event("commit_failed", logging.WARNING, reason=reason, **fields)


class CommitInterval:
    """Tell when a commit is due: once `seconds` have passed since the last one, or when forced.

    >>> now = [0.0]
    >>> interval = CommitInterval(5.0, monotonic=lambda: now[0])
    >>> now[0] = 4.0
    >>> interval.due(force=False), interval.due(force=True)
    (False, True)
    >>> now[0] = 8.0
    >>> interval.due(force=False)  # 4 s since the forced commit
    False
    """

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.monotonic = monotonic
        self.last = monotonic()

    def due(self, force: bool) -> bool:
        """Tell whether to commit now, and restart the interval if so."""
        if not force and self.monotonic() - self.last < self.seconds:
            return False
        self.last = self.monotonic()
        return True


class Committing(Protocol):
    """A checkpoint as `commit_before_revoke` sees it."""

    failed: bool

    def commit(self, force: bool = False) -> None: ...


def commit_before_revoke(checkpoint: Committing) -> None:
    """Commit what is done before partitions go, unless the loop failed; a failure here marks
    the checkpoint failed (what is pending may lack acks) and propagates."""
    if checkpoint.failed:
        return
    try:
        checkpoint.commit(force=True)
    except BaseException:
        checkpoint.failed = True
        raise


def partition_keys(partitions: Iterable[TopicPartition]) -> frozenset[Partition]:
    """Return the (topic, partition) pairs of client partitions."""
    return frozenset((p.topic, p.partition) for p in partitions)


def partition_names(partitions: Iterable[TopicPartition]) -> list[str]:
    """Return "topic[partition]" names, sorted, for logs."""
    return sorted(f"{p.topic}[{p.partition}]" for p in partitions)
