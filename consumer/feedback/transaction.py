"""The feedback process's Kafka transactions: a commit interval's changelog records, verdicts
sent home and dead letters, with the labels offsets they reflect, all visible or none.

There is no at-least-once mode: without a transaction the changelog and the offsets could not
move together. A retriable error is retried (`consumer.retry`); an error that requires an
abort aborts, and the caller rolls its state back to the changelog; a fencing or any other
fatal error stops the process, whose restart restores everything from the changelog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from confluent_kafka import KafkaException, TopicPartition

from consumer.errors import FencedError, KafkaClientError
from consumer.feedback.metrics import FeedbackMetrics
from consumer.feedback.writer import FeedbackWriter
from consumer.kafka import error_text
from consumer.logs import log_event
from consumer.retry import (
    AbortNeededError,
    CallStuckError,
    ProducerUnusableError,
    TransactionCalls,
    run_bounded,
)


class FeedbackTransaction:
    """Begin, commit and abort the writer's transactions.

    Parameters:
        writer: the producer's owner.
        metrics: commits are counted by outcome.
        timeout: seconds each transactional call may take.
        calls: runs each call, retrying what librdkafka says is retriable.
    """

    def __init__(
        self,
        writer: FeedbackWriter,
        metrics: FeedbackMetrics,
        timeout: float,
        calls: TransactionCalls | None = None,
    ):
        self.writer = writer
        self.metrics = metrics
        self.timeout = timeout
        self.calls = calls or TransactionCalls()
        self.open = False

    def start(self) -> None:
        """Register the transactional.id: fences an older instance and aborts what it left open.

        Raises:
            FencedError, KafkaClientError: a fatal error.
        """
        self._call("init_transactions", lambda: self.writer.init_transactions(self.timeout))

    def begin(self) -> None:
        """Open a transaction unless one is open."""
        if not self.open:
            self._call("begin_transaction", self.writer.begin_transaction)
            self.open = True

    def commit(self, offsets: list[TopicPartition], group_metadata: object) -> bool:
        """Add the labels offsets to the open transaction and commit it; tell whether it did.

        False: the transaction had to be aborted; nothing of it is visible, and the caller
        must roll back to the changelog and the offsets of the last commit.

        Raises:
            FencedError, KafkaClientError: a fatal error (the process must stop).
        """
        self.begin()
        try:
            if offsets:
                # Not retried: a second call after a transport failure can hang in librdkafka.
                self._call(
                    "send_offsets_to_transaction",
                    lambda: run_bounded(
                        lambda: self.writer.send_offsets_to_transaction(
                            offsets, group_metadata, self.timeout
                        ),
                        self.timeout,
                    ),
                    retry=False,
                )
            self._call("commit_transaction", lambda: self.writer.commit_transaction(self.timeout))
        except AbortNeededError as exc:
            self.abort(str(exc))
            return False
        except CallStuckError as exc:
            raise KafkaClientError(
                f"a transactional call hung for over {self.timeout:g}s; stopping"
            ) from exc
        self.open = False
        self.metrics.commits.labels("ok").inc()
        return True

    def abort(self, reason: str) -> None:
        """Abort the open transaction.

        Raises:
            KafkaClientError: the abort itself failed.
        """
        log_event("transaction_aborted", logging.WARNING, reason=reason)
        self.metrics.commits.labels("aborted").inc()
        try:
            self._call("abort_transaction", lambda: self.writer.abort_transaction(self.timeout))
        except AbortNeededError as exc:
            raise KafkaClientError(f"cannot abort the Kafka transaction: {exc}") from exc
        self.open = False

    def close(self) -> None:
        """Abort a transaction left open by a failure (best effort: the broker times it out)."""
        if self.open:
            try:
                self.writer.abort_transaction(self.timeout)
            except KafkaException as exc:
                log_event("abort_failed", logging.WARNING, reason=error_text(exc))
            self.open = False

    def _call(self, name: str, call: Callable[[], object], retry: bool = True) -> None:
        try:
            self.calls.run(name, call, retry)
        except FencedError:
            self.open = False  # a newer instance owns the transactional.id: no abort either
            raise
        except ProducerUnusableError as exc:
            self.open = False  # nothing more can be sent through this producer, not even an abort
            raise KafkaClientError(f"fatal Kafka error in {exc}; stopping") from exc
