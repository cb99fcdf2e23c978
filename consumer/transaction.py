"""Exactly-once delivery: a batch's outputs and its input offsets in one Kafka transaction.

Readers with `isolation.level=read_committed` see each output once. Errors are handled as
librdkafka classifies them: retriable ones are retried, those that require an abort abort the
transaction and rewind the consumer, a fenced producer (a newer instance took over) stops the
consumer, and a producer left unusable by another fatal error is replaced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from confluent_kafka import KafkaException, Message, TopicPartition

from consumer.checkpoint import CommitInterval, commit_before_revoke, partition_keys
from consumer.errors import FencedError, KafkaClientError, ProduceRefused
from consumer.kafka import TransactionalSink, TransactionalSource, error_text
from consumer.logs import log_event
from consumer.metrics import Metrics
from consumer.offsets import OffsetTracker, Partition, first_offsets
from consumer.publish import TransactionalPublisher
from consumer.retry import (
    RETRY_WAIT_S,
    AbortNeededError,
    CallStuckError,
    ProducerUnusableError,
    TransactionCalls,
    run_bounded,
)

COMMITTED_TIMEOUT_S = 5.0  # asking the group's committed offsets to rewind to
MAX_REPLACEMENTS = 3  # producers replaced in a row, without a commit in between, before stopping
STUCK_AFTER_CALLS = 2  # timed-out tries of a commit or an abort before its producer is replaced


class ExactlyOnce:
    """One Kafka transaction per commit interval: the batches' outputs plus their input offsets.

    A retriable error is retried; an error that requires an abort aborts the transaction and
    rewinds the consumer to the offsets the last commit left, so the batches are scored again;
    a fencing (a newer instance with the same transactional.id) raises. Any other fatal error
    leaves the producer unusable (a broker away longer than transaction.timeout.ms may abort
    the transaction under it): a new producer with the same transactional.id takes its place,
    fencing it, and the batches are scored again, as after a restart but without one. So does
    a producer whose commit or abort still times out after STUCK_AFTER_CALLS tries: librdkafka
    lets such a call be resumed, but a client that forgot its brokers never reaches its
    transaction coordinator again (a single broker in controlled shutdown answers metadata
    requests with no broker at all, and librdkafka 2.16 then drops the one it knew and does
    not bootstrap again), so resuming it would time out for good.

    Parameters:
        source: the consumer: group metadata for the offsets, seek to rewind.
        publisher: runs the transactions; its delivery failures are reset with each one.
        metrics: commits are counted by outcome (ok, failed, aborted).
        commit_interval, timeout: seconds; `timeout` bounds each transactional call.
        new_producer: builds a replacement for a producer stuck in a call (see `run_bounded`),
            timing out for good, or left unusable by a fatal error.
    """

    def __init__(
        self,
        source: TransactionalSource,
        publisher: TransactionalPublisher,
        metrics: Metrics,
        commit_interval: float,
        timeout: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        new_producer: Callable[[], TransactionalSink] | None = None,
    ):
        self.source = source
        self.new_producer = new_producer
        self.publisher = publisher
        self.metrics = metrics
        self.timeout = timeout
        self.sleep = sleep
        self.calls = TransactionCalls(monotonic, sleep)
        self.offsets = OffsetTracker()
        self.starts: dict[Partition, int] = {}  # where the open transaction began, to rewind
        self.open = False
        self.failed = False
        self.unusable = False
        self.replacements = 0  # in a row, since the last commit
        self.interval = CommitInterval(commit_interval, monotonic)

    def start(self) -> None:
        """Register the transactional.id, fencing older instances and aborting their leftovers.

        Raises:
            FencedError, KafkaClientError: a fatal error.
        """
        try:
            self._call("init_transactions", lambda: self.publisher.init_transactions(self.timeout))
        except ProducerUnusableError as exc:
            raise KafkaClientError(f"fatal Kafka error in {exc}") from exc

    def begin(self) -> None:
        if not self.open:
            self._call("begin_transaction", self.publisher.begin_transaction)
            self.open = True

    def done(self, messages: Sequence[Message]) -> None:
        self._remember_starts(messages)
        self.offsets.record(messages)

    def commit(self, force: bool = False) -> None:
        """Send the offsets to the transaction and commit it; abort and rewind if it must.

        Raises:
            FencedError, KafkaClientError: a fatal error.
        """
        if self.failed or not self.open:
            return
        if not self.interval.due(force):
            return
        pending = self.offsets.pending()
        offsets = [TopicPartition(t, p, o) for (t, p), o in pending.items()]
        try:
            if offsets:
                metadata = self.source.consumer_group_metadata()
                # Not retried: a second call after a transport failure can hang in librdkafka.
                # Aborting and scoring the batches again is safe, and rarely needed.
                self._call(
                    "send_offsets_to_transaction",
                    lambda: run_bounded(
                        lambda: self.publisher.send_offsets_to_transaction(
                            offsets, metadata, self.timeout
                        ),
                        self.timeout,
                    ),
                    retry=False,
                )
            self._call(
                "commit_transaction",
                lambda: self.publisher.commit_transaction(self.timeout),
                stuck_after=self.stuck_after,
            )
        except AbortNeededError as exc:
            self.abort(str(exc))
            self.sleep(RETRY_WAIT_S)  # a failing topic would otherwise be retried in a hot loop
            return
        except (CallStuckError, ProducerUnusableError) as exc:
            self.replace_producer(str(exc))
            return
        self.replacements = 0
        self.open = False
        self.publisher.discard_failures()
        self.offsets.committed(pending)
        self.starts.clear()
        self.metrics.commits.labels("ok").inc()

    def refused(self, messages: list[Message], error: ProduceRefused) -> None:
        """Abort the transaction the batch's records went into, and rewind to score it again.

        The usual cause is a transaction that became abortable (a record failed) while the
        batch was being produced: librdkafka then refuses every produce with `_STATE`.
        """
        self._remember_starts(messages)
        self.abort(str(error))
        self.sleep(RETRY_WAIT_S)  # a failing topic would otherwise be retried in a hot loop

    def abort(self, reason: str) -> None:
        """Abort the open transaction and rewind the consumer to where it began."""
        log_event("transaction_aborted", logging.WARNING, reason=reason)
        self.metrics.commits.labels("aborted").inc()
        try:
            self._call(
                "abort_transaction",
                lambda: self.publisher.abort_transaction(self.timeout),
                stuck_after=self.stuck_after,
            )
        except AbortNeededError as exc:  # an abort cannot need an abort: treat it as fatal
            raise KafkaClientError(f"cannot abort the Kafka transaction: {exc}") from exc
        except (CallStuckError, ProducerUnusableError) as exc:
            self._new_producer(str(exc))  # fencing the old one aborts its transaction
            return
        self.open = False
        self.publisher.discard_failures()
        self._rewind()

    def _remember_starts(self, messages: Sequence[Message]) -> None:
        """Remember where the open transaction began reading each partition of `messages`."""
        for partition, offset in first_offsets(messages).items():
            self.starts.setdefault(partition, offset)

    def _rewind(self) -> None:
        """Seek each partition the open transaction read back to the group's committed offset.

        The broker is asked rather than `starts` trusted: a transaction whose end the client
        could not see (the broker went away during its commit) may have committed after all,
        and then its batches must not be scored again. A partition the group never committed
        goes back to where the transaction began, and so does every partition when the broker
        cannot answer in time (a consumer out of its group cannot ask until it is polled
        again, and its new assignment then starts from the committed offsets anyway).
        """
        partitions = [TopicPartition(topic, partition) for topic, partition in self.starts]
        try:
            committed = self.source.committed(partitions, COMMITTED_TIMEOUT_S) if partitions else []
        except KafkaException as exc:
            log_event("rewind_to_transaction_start", logging.WARNING, reason=error_text(exc))
            committed = partitions  # offsets unknown (-1001): where the transaction began
        for tp in committed:
            key = (tp.topic, tp.partition)
            offset = tp.offset if tp.offset >= 0 else self.starts[key]
            self.source.seek(TopicPartition(tp.topic, tp.partition, offset))
        self.starts.clear()
        self.offsets = OffsetTracker()

    def replace_producer(self, reason: str) -> None:
        """Count the open transaction as aborted and swap the producer (see `_new_producer`).

        Raises:
            KafkaClientError: no replacement can be built, or too many in a row.
        """
        self.metrics.commits.labels("aborted").inc()
        self._new_producer(reason)

    def _new_producer(self, reason: str) -> None:
        """Swap a stuck or unusable producer for a new one with the same transactional.id.

        Registering the id fences the old producer and aborts its transaction, so whatever
        it still sends is refused: the rewound batches are scored again, once.

        Raises:
            KafkaClientError: no replacement can be built, or MAX_REPLACEMENTS in a row failed.
        """
        if self.new_producer is None or self.replacements >= MAX_REPLACEMENTS:
            raise KafkaClientError(f"the Kafka producer cannot go on: {reason}")
        self.replacements += 1
        log_event("producer_replaced", logging.WARNING, reason=reason)
        self.publisher.replace(self.new_producer())
        self.unusable = False
        self.start()
        self.open = False
        self._rewind()

    def revoke(self, partitions: list[TopicPartition]) -> None:
        commit_before_revoke(self)
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
        if self.open and not self.unusable:
            try:
                self.publisher.abort_transaction(self.timeout)
            except KafkaException as exc:
                log_event("abort_failed", logging.WARNING, reason=error_text(exc))
            self.open = False

    def _forget(self, partitions: list[TopicPartition]) -> None:
        keys = partition_keys(partitions)
        self.offsets.drop(keys)
        for key in keys:
            self.starts.pop(key, None)

    @property
    def stuck_after(self) -> float:
        """Return how long a commit or an abort may keep timing out before the producer goes."""
        return STUCK_AFTER_CALLS * self.timeout

    def _call(
        self,
        name: str,
        call: Callable[[], object],
        retry: bool = True,
        stuck_after: float | None = None,
    ) -> None:
        """Run one transactional call (see `TransactionCalls.run`), remembering a fatal error."""
        try:
            self.calls.run(name, call, retry, stuck_after)
        except (FencedError, ProducerUnusableError):
            self.unusable = True  # no abort on the way out, nor any other call
            raise
