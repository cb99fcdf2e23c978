"""The publish stage: hand alerts, scores and dead letters to the producer and track their acks.

The publisher is the only caller of the producer: the loop polls it through the publisher, the
checkpoints flush it or run its transactions through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Generic, TypeVar

import numpy as np
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import Counter

from consumer.deadletter import MAX_DEAD_LETTER_BYTES, dead_letter_record, log_dead_letter
from consumer.errors import DeliveryError, ProduceRefused
from consumer.kafka import (
    DeliveryCallback,
    Headers,
    Sink,
    TransactionalSink,
    fatal_error,
    is_fenced,
    kafka_error,
)
from consumer.messages import Rejected
from consumer.metrics import Metrics
from consumer.records import Outputs

QUEUE_FULL_WAIT_S = 0.1
# What a publisher's producer can do: a plain one publishes, a transactional one commits too.
ProducerT = TypeVar("ProducerT", bound=Sink, covariant=True)


def produce(
    sink: Sink,
    topic: str,
    value: bytes | None,
    key: bytes | None,
    headers: Headers | None = None,
    on_delivery: DeliveryCallback | None = None,
    **placement: int,
) -> None:
    """Produce one record, letting deliveries drain while the local queue is full.

    `placement` may name the record's `partition` (else the partitioner picks) and
    `timestamp` (epoch milliseconds; else now).

    Raises:
        ProduceRefused: the client refused the record (not a full queue): in a transaction
            that has become abortable this is `_STATE`, and the transaction must be aborted;
            a producer with a fatal error refuses everything, and must be replaced.
        FencedError: a newer instance with the same transactional.id fenced this producer.
    """
    while True:
        try:
            sink.produce(topic, value, key, headers=headers, on_delivery=on_delivery, **placement)
            return
        except BufferError:  # local queue full: let deliveries drain, then retry
            sink.poll(QUEUE_FULL_WAIT_S)
        except KafkaException as exc:
            error = kafka_error(exc)
            if error is not None and is_fenced(error):
                raise fatal_error(f"produce to {topic}", error) from exc
            raise ProduceRefused(f"cannot produce to {topic}: {exc}") from exc


class DeliveryFailures:
    """A delivery callback that remembers each failed record as "topic: reason"."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        """Record a failure (the client's delivery-callback signature)."""
        self.record(error, message)

    def record(self, error: KafkaError | None, message: Message) -> bool:
        """Record a failure; return whether the record was delivered."""
        if error is not None:
            self.reasons.append(f"{message.topic()}: {error.str()}")
            return False
        return True

    def take(self) -> list[str]:
        """Return the failures so far and forget them."""
        reasons, self.reasons = self.reasons, []
        return reasons


class BatchAcks:
    """A batch's records still awaiting their acknowledgement; each failure also goes to
    `failures`. The delivery callback of every record the batch produced."""

    __slots__ = ("waiting", "failures")

    def __init__(self, failures: DeliveryFailures):
        self.waiting = 0
        self.failures = failures

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        self.waiting -= 1
        self.failures.record(error, message)


class Publisher(Generic[ProducerT]):
    """Produce the records of each batch: the one owner of the producer and its failures.

    Parameters:
        producer: the Kafka producer; nothing else calls it.
        metrics: where alerts, dead letters and alert latency are counted.
        alert_topic, dlq_topic, scores_topic: destinations (no score records if None).
        clock: epoch seconds, to measure event-to-alert latency at acknowledgement.
        dead_letter_bytes: how much of a rejected message's value a dead letter keeps.
        challenger_topic: where a challenger's would-be alerts go (`publish_challenger`).
    """

    def __init__(
        self,
        producer: ProducerT,
        metrics: Metrics,
        alert_topic: str,
        dlq_topic: str,
        scores_topic: str | None = None,
        clock: Callable[[], float] = time.time,
        dead_letter_bytes: int = MAX_DEAD_LETTER_BYTES,
        challenger_topic: str | None = None,
    ):
        self._producer = producer
        self.challenger_topic = challenger_topic
        self.metrics = metrics
        self.alert_topic = alert_topic
        self.dlq_topic = dlq_topic
        self.scores_topic = scores_topic
        self.clock = clock
        self.dead_letter_bytes = dead_letter_bytes
        self._failures = DeliveryFailures()
        self._batch = BatchAcks(self._failures)

    def publish(self, outputs: Outputs, event_times: np.ndarray) -> None:
        """Produce a batch's alerts and score records."""
        batch = self._batch
        if outputs.alerts:
            counted = self.metrics.model_alerts.labels(outputs.role, outputs.model_version)
        for record in outputs.alerts:
            event_time = float(event_times[record.row])
            on_delivery = partial(self._alert_delivered, batch, counted, event_time)
            produce(self._producer, self.alert_topic, record.value, record.key, None, on_delivery)
            batch.waiting += 1
        if self.scores_topic is not None:
            for record in outputs.scores:
                value, key = record.value, record.key
                produce(self._producer, self.scores_topic, value, key, None, batch)
                batch.waiting += 1

    def publish_challenger(self, outputs: Outputs) -> None:
        """Produce a challenger's would-be alerts to the challenger topic, never the alert topic.

        Raises:
            ValueError: the publisher has no challenger topic.
        """
        if self.challenger_topic is None:
            raise ValueError("this publisher has no challenger topic")
        if not outputs.alerts:
            return
        counted = self.metrics.model_alerts.labels(outputs.role, outputs.model_version)
        batch = self._batch
        on_delivery = partial(self._challenger_alert_delivered, batch, counted)
        for record in outputs.alerts:
            value, key = record.value, record.key
            produce(self._producer, self.challenger_topic, value, key, None, on_delivery)
            batch.waiting += 1

    def dead_letter(self, rejected: Sequence[Rejected]) -> None:
        """Produce each rejected message, raw, to the dead-letter topic, and count and log it."""
        batch = self._batch
        for item in rejected:
            value, key, headers = dead_letter_record(item, self.dead_letter_bytes)
            produce(self._producer, self.dlq_topic, value, key, headers, batch)
            batch.waiting += 1
            self.metrics.invalid_messages.labels(item.reason).inc()
            log_dead_letter(item)

    def end_batch(self) -> BatchAcks:
        """Return the acknowledgements awaited by the records produced since the last call."""
        batch, self._batch = self._batch, BatchAcks(self._failures)
        return batch

    def poll(self, timeout: float) -> None:
        """Serve the delivery callbacks of acknowledged records, waiting up to `timeout`."""
        self._producer.poll(timeout)

    def pending(self) -> int:
        """Return how many produced records the broker has not acknowledged yet."""
        return len(self._producer)

    def flush(self, timeout: float) -> int:
        """Wait up to `timeout` seconds until every produced record is acknowledged.

        Returns:
            How many records are still unacknowledged (the broker may be restarting).

        Raises:
            DeliveryError: a record failed.
        """
        remaining = self._producer.flush(timeout)
        failures = self._failures.take()
        if failures:
            raise DeliveryError(f"{len(failures)} records not delivered, first: {failures[0]}")
        return remaining

    def drain(self, timeout: float) -> int:
        """Give records in flight up to `timeout` seconds to arrive, failed or not (shutdown).

        Returns:
            How many records are still unacknowledged.
        """
        return self._producer.flush(timeout)

    def discard_failures(self) -> None:
        """Forget the records that failed so far: their transaction was aborted or has ended."""
        self._failures.take()

    def _alert_delivered(
        self,
        batch: BatchAcks,
        counted: Counter,
        event_time: float,
        error: KafkaError | None,
        message: Message,
    ) -> None:
        batch.waiting -= 1
        if self._failures.record(error, message):
            self.metrics.alerts.inc()
            counted.inc()
            latency = self.clock() - event_time
            # An event time in the future (a skewed clock, milliseconds sent as seconds) would
            # make a negative observation: leave it out rather than distort the histogram.
            if latency >= 0:
                self.metrics.end_to_end_latency_seconds.observe_many(np.array([latency]))
        else:
            self.metrics.alert_delivery_failures.inc()

    def _challenger_alert_delivered(
        self, batch: BatchAcks, counted: Counter, error: KafkaError | None, message: Message
    ) -> None:
        # A failed would-be alert fails the batch as a real one does: the comparison of the two
        # models is only fair if the challenger's alerts are complete.
        batch.waiting -= 1
        if self._failures.record(error, message):
            counted.inc()


class ForwardsTransactions:
    """The transactional calls of a producer's one owner, passed straight to the producer.

    The caller (`consumer.transaction.ExactlyOnce`, `consumer.feedback.transaction`) decides
    when to make them; the owner keeps `_producer` to itself.
    """

    _producer: TransactionalSink

    def init_transactions(self, timeout: float) -> None:
        """Register the transactional.id, fencing older producers that share it."""
        self._producer.init_transactions(timeout)

    def begin_transaction(self) -> None:
        self._producer.begin_transaction()

    def send_offsets_to_transaction(
        self, offsets: list[TopicPartition], group_metadata: object, timeout: float
    ) -> None:
        """Add the consumer's input offsets to the open transaction."""
        self._producer.send_offsets_to_transaction(offsets, group_metadata, timeout)

    def commit_transaction(self, timeout: float) -> None:
        self._producer.commit_transaction(timeout)

    def abort_transaction(self, timeout: float) -> None:
        self._producer.abort_transaction(timeout)


class TransactionalPublisher(ForwardsTransactions, Publisher[TransactionalSink]):
    """A publisher whose producer writes in Kafka transactions, which it begins and ends.

    The calls mirror the client's; `consumer.transaction.ExactlyOnce` decides when to make them.
    """

    def replace(self, producer: TransactionalSink) -> None:
        """Publish through `producer` from now on, forgetting the old one and its failures."""
        self._producer = producer
        self._failures.take()
