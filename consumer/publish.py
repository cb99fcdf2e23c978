"""The publish stage: hand alerts, scores and dead letters to the producer and track their acks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
from confluent_kafka import KafkaError, KafkaException, Message

from consumer.alerts import Outputs
from consumer.deadletter import MAX_DEAD_LETTER_BYTES, dead_letter_record
from consumer.errors import DeliveryError, ProduceRefused
from consumer.kafka import (
    DeliveryCallback,
    Headers,
    Sink,
    fatal_error,
    is_fenced,
    kafka_error,
)
from consumer.logs import log_event
from consumer.messages import Rejected
from consumer.metrics import Metrics

QUEUE_FULL_WAIT_S = 0.1


def produce(
    sink: Sink,
    topic: str,
    value: bytes | None,
    key: bytes | None,
    headers: Headers | None = None,
    on_delivery: DeliveryCallback | None = None,
) -> None:
    """Produce one record, letting deliveries drain while the local queue is full.

    Raises:
        ProduceRefused: the client refused the record (not a full queue): in a transaction
            that has become abortable this is `_STATE`, and the transaction must be aborted;
            a producer with a fatal error refuses everything, and must be replaced.
        FencedError: a newer instance with the same transactional.id fenced this producer.
    """
    while True:
        try:
            sink.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
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


class Publisher:
    """Produce the records of each batch; `flush` raises unless the broker acknowledged them all.

    Parameters:
        sink: the producer.
        metrics: where alerts, dead letters and alert latency are counted.
        alert_topic, dlq_topic, scores_topic: destinations (no score records if None).
        clock: epoch seconds, to measure event-to-alert latency at acknowledgement.
    """

    def __init__(
        self,
        sink: Sink,
        metrics: Metrics,
        alert_topic: str,
        dlq_topic: str,
        scores_topic: str | None = None,
        clock: Callable[[], float] = time.time,
        dead_letter_bytes: int = MAX_DEAD_LETTER_BYTES,
    ):
        self.sink = sink
        self.metrics = metrics
        self.alert_topic = alert_topic
        self.dlq_topic = dlq_topic
        self.scores_topic = scores_topic
        self.clock = clock
        self.dead_letter_bytes = dead_letter_bytes
        self.failures = DeliveryFailures()

    def publish(self, outputs: Outputs, event_times: np.ndarray) -> None:
        """Produce a batch's alerts and score records."""
        for record in outputs.alerts:
            on_delivery = partial(self._alert_delivered, float(event_times[record.row]))
            produce(self.sink, self.alert_topic, record.value, record.key, None, on_delivery)
        if self.scores_topic is not None:
            for record in outputs.scores:
                produce(self.sink, self.scores_topic, record.value, record.key, None, self.failures)

    def dead_letter(self, rejected: Sequence[Rejected]) -> None:
        """Produce each rejected message, raw, to the dead-letter topic, and count and log it."""
        for item in rejected:
            message = item.message
            value, key, headers = dead_letter_record(item, self.dead_letter_bytes)
            produce(self.sink, self.dlq_topic, value, key, headers, self.failures)
            self.metrics.invalid_messages.labels(item.reason).inc()
            log_event(
                "dead_letter",
                logging.WARNING,
                reason=item.reason,
                detail=item.detail,
                topic=message.topic(),
                partition=message.partition(),
                offset=message.offset(),
            )

    def flush(self, timeout: float) -> int:
        """Wait up to `timeout` seconds until every produced record is acknowledged.

        Returns:
            How many records are still unacknowledged (the broker may be restarting).

        Raises:
            DeliveryError: a record failed.
        """
        remaining = self.sink.flush(timeout)
        failures = self.failures.take()
        if failures:
            raise DeliveryError(f"{len(failures)} records not delivered, first: {failures[0]}")
        return remaining

    def _alert_delivered(
        self, event_time: float, error: KafkaError | None, message: Message
    ) -> None:
        if self.failures.record(error, message):
            self.metrics.alerts.inc()
            latency = self.clock() - event_time
            # An event time in the future (a skewed clock, milliseconds sent as seconds) would
            # make a negative observation: leave it out rather than distort the histogram.
            if latency >= 0:
                self.metrics.end_to_end_latency_seconds.observe_many(np.array([latency]))
        else:
            self.metrics.alert_delivery_failures.inc()
