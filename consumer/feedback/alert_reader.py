"""Read every partition of the alert topics into the join, and tell how far they have been read.

Every feedback member reads every alert partition, by assignment outside its group, from the
alerts of a horizon ago (`offsets_for_times`) and on as they come, `read_committed` (alerts of
an aborted exactly-once transaction never count). Reading an alert again, after a restart, is
idempotent: the join counts a role's alert once (docs/feedback.md, "The invariant").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from confluent_kafka import Message, TopicPartition

from consumer.errors import InvalidMessageError, KafkaClientError
from consumer.feedback.alert_records import decode_alert
from consumer.feedback.ends import Partition, StableEnds, known_positions
from consumer.feedback.join import FeedbackJoin
from consumer.feedback.metrics import FeedbackMetrics
from consumer.feedback.reading import Reader
from consumer.feedback.verdicts import BAD_FIELD
from consumer.feedback.watermark import AlertWatermark
from consumer.logs import log_event

BATCH = 1000
ASK_EVERY_S = 1.0  # how often the brokers are asked where the alert partitions end
_NO_TIMESTAMP = 0  # confluent_kafka.TIMESTAMP_NOT_AVAILABLE


class AlertReader:
    """Feed the alerts of every alert partition to a join and keep the alert watermark.

    Parameters:
        reader: a consumer that reads by assignment, read_committed.
        ends: asks the brokers where the alert partitions end.
        topics: {alert topic: the role of its alerts}.
        partitions: {alert topic: its partition count}.
        metrics: alerts read and unreadable are counted.
        clock, monotonic: epoch seconds; a steady clock for asking every ASK_EVERY_S.
    """

    def __init__(
        self,
        reader: Reader,
        ends: StableEnds,
        topics: Mapping[str, str],
        partitions: Mapping[str, int],
        metrics: FeedbackMetrics,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.reader = reader
        self.ends = ends
        self.topics = dict(topics)
        self.partitions: list[Partition] = [
            (topic, p) for topic in self.topics for p in range(partitions[topic])
        ]
        self.metrics = metrics
        self.clock = clock
        self.monotonic = monotonic
        self.watermark = AlertWatermark(self.partitions)
        self.starts: dict[Partition, int] = {}
        self._last_ask = -float("inf")

    def start(self, horizon: float, timeout: float = 30.0) -> None:
        """Assign every alert partition from the alerts raised a horizon ago.

        Raises:
            KafkaClientError: the brokers did not say where to start.
        """
        since_ms = int((self.clock() - horizon) * 1000)
        asked = [TopicPartition(t, p, max(since_ms, 0)) for t, p in self.partitions]
        try:
            found = self.reader.offsets_for_times(asked, timeout)
        except Exception as exc:  # KafkaException; a timeout
            raise KafkaClientError(f"cannot find where to read the alert topics: {exc}") from exc
        for tp in found:
            offset = tp.offset
            if offset < 0:  # no alert that recent: start at the end
                marks = self.reader.get_watermark_offsets(TopicPartition(tp.topic, tp.partition))
                offset = marks[1] if marks else 0
            self.starts[(tp.topic, tp.partition)] = offset
        self.reader.assign([TopicPartition(t, p, o) for (t, p), o in self.starts.items()])
        log_event("alerts_assigned", partitions=len(self.starts), since=since_ms / 1000)

    def read(self, join: FeedbackJoin, batches: int) -> int:
        """Read up to `batches` batches of alerts already fetched into the join; return how many."""
        read = 0
        for _ in range(batches):
            messages = self.reader.consume(BATCH, 0)
            if not messages:
                break
            for message in messages:
                error = message.error()
                if error is None:
                    self._take(join, message)
                    read += 1
                elif error.fatal():
                    raise KafkaClientError(f"fatal Kafka error reading alerts: {error.str()}")
        return read

    def follow_ends(self) -> bool:
        """Ask where the partitions end now and then, and move the watermark as the reader gets
        there; tell whether it moved."""
        answered = self.ends.answer()
        if answered is not None:
            self.watermark.asked(*answered)
        if self.monotonic() - self._last_ask >= ASK_EVERY_S and self.ends.ask(self.partitions):
            self._last_ask = self.monotonic()
        tps = [TopicPartition(t, p) for t, p in self.partitions]
        return self.watermark.reached(known_positions(self.reader.position(tps), self.starts))

    def _take(self, join: FeedbackJoin, message: Message) -> None:
        topic = message.topic() or ""
        role = self.topics.get(topic, "")
        kind, stamp = message.timestamp()
        fallback = stamp / 1000 if kind != _NO_TIMESTAMP else self.clock()
        try:
            alert = decode_alert(message.value(), role, fallback)
            if alert.role not in join.roles:
                raise InvalidMessageError(BAD_FIELD, f"role {alert.role} is not read here")
        except InvalidMessageError as exc:
            self.metrics.unreadable_alerts.labels(exc.reason).inc()
            log_event(
                "unreadable_alert",
                logging.WARNING,
                reason=exc.reason,
                detail=exc.detail,
                topic=topic,
                partition=message.partition(),
                offset=message.offset(),
            )
            return
        self.metrics.alerts_read.labels(role).inc()
        join.add_alert(alert)
