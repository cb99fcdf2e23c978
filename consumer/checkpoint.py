"""The delivery guarantee in one object: when a batch's input offsets are committed, and how.

`AtLeastOnce` flushes the producer, then commits the offsets: an output may be written twice
(a crash between the two) but never lost. `ExactlyOnce` puts a batch's outputs and its input
offsets in one Kafka transaction: readers with `isolation.level=read_committed` see each output
once. Both commit what is done when partitions are revoked and drop what is pending when they
are lost (another consumer owns them: committing would be wrong).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from consumer.errors import DeliveryError, KafkaClientError
from consumer.kafka import Source, TransactionalSink, TransactionalSource, fatal_error
from consumer.logs import log_event
from consumer.metrics import Metrics
from consumer.offsets import OffsetTracker, Partition, position
from consumer.publish import Publisher

CrashPoint = Callable[[str], None]
RETRY_WAIT_S = 0.5
RETRY_FOR_S = 300.0  # how long retriable transaction errors are retried (a broker restarting)


def no_crash(_phase: str) -> None:
    """Do nothing: the production crash point (tests kill the process at a named phase)."""


class Checkpoint(Protocol):
    """What the scoring loop asks of a delivery guarantee."""

    def begin(self) -> None:
        """Prepare to hand a batch's records to the producer."""

    def done(self, messages: Iterable[Message]) -> None:
        """Mark messages as handled: every record they caused was handed to the producer."""

    def commit(self, force: bool = False) -> None:
        """Commit what is done if the commit interval has passed (or `force`)."""

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
        publisher: Publisher,
        metrics: Metrics,
        commit_interval: float,
        flush_timeout: float,
        crash: CrashPoint = no_crash,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.source = source
        self.publisher = publisher
        self.metrics = metrics
        self.commit_interval = commit_interval
        self.flush_timeout = flush_timeout
        self.crash = crash
        self.monotonic = monotonic
        self.offsets = OffsetTracker()
        self.failed = False
        self.last_commit = monotonic()

    def begin(self) -> None:
        """Nothing to prepare: records go straight to the producer."""

    def done(self, messages: Iterable[Message]) -> None:
        self.offsets.record(messages)

    def due(self, force: bool) -> bool:
        """Tell whether to commit now, and restart the interval if so."""
        if not force and self.monotonic() - self.last_commit < self.commit_interval:
            return False
        self.last_commit = self.monotonic()
        return True

    def commit(self, force: bool = False) -> None:
        """Flush the producer, then commit offsets.

        Records still unacknowledged after the flush timeout (a broker restarting) defer the
        commit to the next interval; librdkafka fails them after its message.timeout.ms.

        Raises:
            DeliveryError: a record failed, or, when forced, was not acknowledged in time;
                nothing is committed.
        """
        if self.failed or not self.due(force):
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
        self.crash("before_commit")
        offsets = [TopicPartition(t, p, o) for (t, p), o in pending.items()]
        try:
            results = self.source.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # Retried at the next commit or on revoke; at worst the next owner repeats the work.
            self._commit_failed([], str(exc.args[0]))
            return
        self.crash("after_commit")
        # A synchronous commit can succeed as a call yet fail for some partitions.
        failed = [tp for tp in results or () if tp.error is not None]
        if failed:
            reason = failed[0].error.str() if failed[0].error is not None else "unknown"
            self._commit_failed(failed, reason)
        else:
            self.metrics.commits.labels("ok").inc()
        keys = partition_keys(failed)
        self.offsets.committed({p: o for p, o in pending.items() if p not in keys})

    def revoke(self, partitions: list[TopicPartition]) -> None:
        if not self.failed:
            try:
                self.commit(force=True)
            except BaseException:
                self.failed = True
                raise
        self.offsets.drop(partition_keys(partitions))

    def lose(self, partitions: list[TopicPartition]) -> None:
        self.offsets.drop(partition_keys(partitions))

    def fail(self) -> None:
        self.failed = True

    def _commit_failed(self, partitions: list[TopicPartition], reason: str) -> None:
        self.metrics.commits.labels("failed").inc()
        fields: dict[str, Any] = {"partitions": partition_names(partitions)} if partitions else {}
        log_event("commit_failed", logging.WARNING, reason=reason, **fields)


class ExactlyOnce:
    """One Kafka transaction per commit interval: the batches' outputs plus their input offsets.

    A retriable error is retried; an error that requires an abort aborts the transaction and
    rewinds the consumer to the offsets the last commit left, so the batches are scored again;
    a fatal error (a newer instance with the same transactional.id fenced this one) raises.

    Parameters:
        source: the consumer: group metadata for the offsets, seek to rewind.
        producer: the transactional producer the publisher writes to.
        publisher: its delivery failures are reset with each transaction.
        metrics: commits are counted by outcome (ok, failed, aborted).
        commit_interval, timeout: seconds; `timeout` bounds each transactional call.
    """

    def __init__(
        self,
        source: TransactionalSource,
        producer: TransactionalSink,
        publisher: Publisher,
        metrics: Metrics,
        commit_interval: float,
        timeout: float,
        crash: CrashPoint = no_crash,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.source = source
        self.producer = producer
        self.publisher = publisher
        self.metrics = metrics
        self.commit_interval = commit_interval
        self.timeout = timeout
        self.crash = crash
        self.monotonic = monotonic
        self.sleep = sleep
        self.offsets = OffsetTracker()
        self.starts: dict[Partition, int] = {}  # where the open transaction began, to rewind
        self.open = False
        self.failed = False
        self.last_commit = monotonic()

    def start(self) -> None:
        """Register the transactional.id, fencing older instances and aborting their leftovers.

        Raises:
            FencedError, KafkaClientError: a fatal error.
        """
        self._call("init_transactions", lambda: self.producer.init_transactions(self.timeout))

    def begin(self) -> None:
        if not self.open:
            self._call("begin_transaction", self.producer.begin_transaction)
            self.open = True

    def done(self, messages: Iterable[Message]) -> None:
        messages = list(messages)
        for message in messages:
            partition, offset = position(message)
            self.starts.setdefault(partition, offset)
        self.offsets.record(messages)

    def commit(self, force: bool = False) -> None:
        """Send the offsets to the transaction and commit it; abort and rewind if it must.

        Raises:
            FencedError, KafkaClientError: a fatal error.
        """
        if self.failed or not self.open:
            return
        if not force and self.monotonic() - self.last_commit < self.commit_interval:
            return
        self.last_commit = self.monotonic()
        pending = self.offsets.pending()
        offsets = [TopicPartition(t, p, o) for (t, p), o in pending.items()]
        try:
            if offsets:
                metadata = self.source.consumer_group_metadata()
                self._call(
                    "send_offsets_to_transaction",
                    lambda: self.producer.send_offsets_to_transaction(
                        offsets, metadata, self.timeout
                    ),
                )
            self.crash("before_commit")
            self._call("commit_transaction", lambda: self.producer.commit_transaction(self.timeout))
        except _AbortNeeded as exc:
            self.abort(str(exc))
            self.sleep(RETRY_WAIT_S)  # a failing topic would otherwise be retried in a hot loop
            return
        self.crash("after_commit")
        self.open = False
        self.publisher.failures.take()
        self.offsets.committed(pending)
        self.starts.clear()
        self.metrics.commits.labels("ok").inc()

    def abort(self, reason: str) -> None:
        """Abort the open transaction and rewind the consumer to where it began."""
        log_event("transaction_aborted", logging.WARNING, reason=reason)
        self.metrics.commits.labels("aborted").inc()
        try:
            self._call("abort_transaction", lambda: self.producer.abort_transaction(self.timeout))
        except _AbortNeeded as exc:  # an abort cannot need an abort: treat it as fatal
            raise KafkaClientError(f"cannot abort the Kafka transaction: {exc}") from exc
        self.open = False
        self.publisher.failures.take()
        for (topic, partition), offset in self.starts.items():
            self.source.seek(TopicPartition(topic, partition, offset))
        self.starts.clear()
        self.offsets = OffsetTracker()

    def revoke(self, partitions: list[TopicPartition]) -> None:
        if not self.failed:
            try:
                self.commit(force=True)
            except BaseException:
                self.failed = True
                raise
        self._forget(partitions)

    def lose(self, partitions: list[TopicPartition]) -> None:
        # Their offsets may not be committed, and their outputs share the open transaction.
        if self.open and not self.failed:
            self.abort("partitions lost")
        self._forget(partitions)

    def fail(self) -> None:
        self.failed = True

    def close(self) -> None:
        """Abort a transaction left open by a failure (best effort: the broker times it out)."""
        if self.open:
            try:
                self.producer.abort_transaction(self.timeout)
            except KafkaException as exc:
                log_event("abort_failed", logging.WARNING, reason=_reason(exc))
            self.open = False

    def _forget(self, partitions: list[TopicPartition]) -> None:
        keys = partition_keys(partitions)
        self.offsets.drop(keys)
        for key in keys:
            self.starts.pop(key, None)

    def _call(self, name: str, call: Callable[[], object]) -> None:
        """Run one transactional call, retrying what librdkafka says is retriable."""
        deadline = self.monotonic() + RETRY_FOR_S
        while True:
            try:
                call()
                return
            except KafkaException as exc:
                error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
                if error is None:
                    raise KafkaClientError(f"Kafka {name} failed: {exc}") from exc
                if error.fatal():
                    raise fatal_error(name, error) from exc
                if error.txn_requires_abort():
                    raise _AbortNeeded(f"{name}: {error.str()}") from exc
                if not error.retriable() or self.monotonic() > deadline:
                    raise KafkaClientError(f"Kafka {name} failed: {error.str()}") from exc
                log_event("transaction_retry", logging.WARNING, call=name, reason=error.str())
                self.sleep(RETRY_WAIT_S)


class _AbortNeeded(Exception):
    """The open transaction must be aborted (librdkafka's txn_requires_abort)."""


def _reason(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else exc
    return error.str() if isinstance(error, KafkaError) else str(error)


def partition_keys(partitions: Iterable[TopicPartition]) -> frozenset[Partition]:
    """Return the (topic, partition) pairs of client partitions."""
    return frozenset((p.topic, p.partition) for p in partitions)


def partition_names(partitions: Iterable[TopicPartition]) -> list[str]:
    """Return "topic[partition]" names, sorted, for logs."""
    return sorted(f"{p.topic}[{p.partition}]" for p in partitions)
