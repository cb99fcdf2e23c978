"""What the feedback process writes, through the one owner of its transactional producer:
changelog records, verdicts sent to their home partition, and dead letters."""

from __future__ import annotations

from collections.abc import Sequence

from consumer.deadletter import MAX_DEAD_LETTER_BYTES, dead_letter_record, log_dead_letter
from consumer.feedback.changelog import Record
from consumer.feedback.metrics import FeedbackMetrics
from consumer.kafka import Headers, TransactionalSink
from consumer.messages import InputMessage, Rejected
from consumer.publish import ForwardsTransactions, produce

ROUTED_FROM = "feedback.routed_from"  # header of a verdict sent home: "partition:offset"
_NO_TIMESTAMP = 0  # confluent_kafka.TIMESTAMP_NOT_AVAILABLE


class FeedbackWriter(ForwardsTransactions):
    """Produce the feedback process's records; nothing else calls its producer.

    Its transactional calls (`ForwardsTransactions`) are made by
    `consumer.feedback.transaction.FeedbackTransaction`.

    Parameters:
        producer: a transactional producer (every record goes into a Kafka transaction).
        labels_topic, changelog_topic, dlq_topic: where verdicts sent home, ledger changes
            and bad verdicts go.
        metrics: verdicts sent home and dead-lettered are counted.
    """

    def __init__(
        self,
        producer: TransactionalSink,
        labels_topic: str,
        changelog_topic: str,
        dlq_topic: str,
        metrics: FeedbackMetrics,
        dead_letter_bytes: int = MAX_DEAD_LETTER_BYTES,
    ):
        self._producer = producer
        self.labels_topic = labels_topic
        self.changelog_topic = changelog_topic
        self.dlq_topic = dlq_topic
        self.metrics = metrics
        self.dead_letter_bytes = dead_letter_bytes

    def changelog(self, partition: int, records: Sequence[Record]) -> None:
        """Produce a ledger's changes to its changelog partition (same number as its labels')."""
        for key, value in records:
            produce(self._producer, self.changelog_topic, value, key, partition=partition)

    def route(self, message: InputMessage, home: int) -> None:
        """Send a verdict read off its home partition there: same key, value and timestamp."""
        kind, stamp = message.timestamp()
        origin = f"{message.partition()}:{message.offset()}".encode()
        value, key = message.value(), message.key()
        headers: Headers = [(ROUTED_FROM, origin)]
        if kind != _NO_TIMESTAMP:
            produce(self._producer, self.labels_topic, value, key, headers, partition=home,
                    timestamp=stamp)  # fmt: skip
        else:
            produce(self._producer, self.labels_topic, value, key, headers, partition=home)
        self.metrics.verdicts_routed.inc()

    def dead_letter(self, rejected: Sequence[Rejected]) -> None:
        """Produce each bad verdict, raw, to the dead-letter topic, and count and log it."""
        for item in rejected:
            value, key, headers = dead_letter_record(item, self.dead_letter_bytes)
            produce(self._producer, self.dlq_topic, value, key, headers)
            self.metrics.invalid_verdicts.labels(item.reason).inc()
            log_dead_letter(item)

    def poll(self, timeout: float) -> None:
        """Serve the producer's events (errors, acknowledgements)."""
        self._producer.poll(timeout)
