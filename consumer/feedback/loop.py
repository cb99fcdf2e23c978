"""The feedback loop: alerts in, verdicts in, the join settled, its changes committed.

Each step reads the alerts already fetched (every alert partition), follows where the alert
partitions end (the watermark), reads a batch of verdicts from the labels partitions this
member holds, settles what the watermark allows, and, once per commit interval, writes every
ledger's changes to its changelog partition in one Kafka transaction with the labels offsets.
Only then are the totals handed to /metrics (docs/feedback.md, "Exactly once").
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Message, TopicPartition

from consumer.checkpoint import CommitInterval
from consumer.config import FeedbackSettings
from consumer.errors import KafkaClientError
from consumer.feedback.alert_reader import AlertReader
from consumer.feedback.changelog import changelog_records
from consumer.feedback.group import LabelsSource, stable_offsets
from consumer.feedback.join import FeedbackJoin
from consumer.feedback.metrics import FeedbackMetrics
from consumer.feedback.restore import ChangelogReader
from consumer.feedback.transaction import FeedbackTransaction
from consumer.feedback.verdicts import decode_verdicts
from consumer.feedback.writer import FeedbackWriter
from consumer.health import FeedbackHealth
from consumer.logs import log_event
from consumer.messages import InputMessage

ALERT_BATCHES = 5  # alert batches read per step, between two batches of verdicts
CATCH_UP_BATCHES = 50  # ... until every alert partition has been read to its end once
_NO_TIMESTAMP = 0  # confluent_kafka.TIMESTAMP_NOT_AVAILABLE


class FeedbackLoop:
    """Join verdicts with alerts and commit the counts, exactly once.

    Parameters:
        source: the labels consumer (the group).
        alerts: reads every alert partition into the join.
        changelog: restores a ledger when its labels partition is assigned.
        writer, transaction: produce and commit (one transaction per commit interval).
        join: the pure join: alert index and one ledger per labels partition held.
        metrics, settings, health: counted, read, reported on /readyz.
    """

    def __init__(
        self,
        source: LabelsSource,
        alerts: AlertReader,
        changelog: ChangelogReader,
        writer: FeedbackWriter,
        transaction: FeedbackTransaction,
        join: FeedbackJoin,
        metrics: FeedbackMetrics,
        settings: FeedbackSettings,
        health: FeedbackHealth,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.source = source
        self.alerts = alerts
        self.changelog = changelog
        self.writer = writer
        self.transaction = transaction
        self.join = join
        self.metrics = metrics
        self.settings = settings
        self.health = health
        self.clock = clock
        self.monotonic = monotonic
        self.sleep = sleep
        self.interval = CommitInterval(settings.commit_interval, monotonic)
        self.positions: dict[int, int] = {}  # labels partition -> next offset, as read
        self.committed: dict[int, int] = {}  # ... as of the last commit
        self.watermark = -math.inf
        self.failed = False

    def run(self, stopping: Callable[[], bool]) -> None:
        """Subscribe to the labels topic and join until `stopping()`, then commit and close."""
        self.source.subscribe(
            [self.settings.labels_topic],
            on_assign=self.on_assign,
            on_revoke=self.on_revoke,
            on_lost=self.on_lost,
        )
        try:
            while not stopping():
                self.step()
            self.commit(force=True)
        except BaseException:
            self.failed = True
            raise
        finally:
            self.source.close()  # runs on_revoke: commits nothing new unless healthy
            self.transaction.close()
        log_event("stopped")

    def step(self) -> None:
        """Read alerts, then a batch of verdicts; settle; commit when the interval is over."""
        caught_up = self.alerts.watermark.caught_up
        self.alerts.read(self.join, ALERT_BATCHES if caught_up else CATCH_UP_BATCHES)
        self.alerts.follow_ends()
        if not caught_up and self.alerts.watermark.caught_up:
            self.health.alerts_read = True
            log_event("alerts_read", alerts=len(self.join.alerts))
        # While the alert index is rebuilt, verdicts are taken as they are, without waiting.
        messages = self.consume(self.settings.batch_timeout if caught_up else 0.0)
        if messages:
            self.take(messages)
        watermark = self.alerts.watermark.value
        if watermark > self.watermark:
            self.watermark = watermark
            self.join.advance(watermark)
        self.writer.poll(0)
        self.commit()

    def consume(self, timeout: float) -> list[Message]:
        """Return a batch of verdict messages (errors logged and skipped; fatal ones raise)."""
        batch = self.source.consume(self.settings.batch_size, timeout)
        messages = []
        for message in batch:
            error = message.error()
            if error is None:
                messages.append(message)
            elif error.fatal():
                raise KafkaClientError(f"fatal Kafka consumer error: {error.str()}")
            else:
                log_event("consume_error", logging.WARNING, code=error.name(), reason=error.str())
        return messages

    def take(self, messages: list[Message]) -> None:
        """Join a batch's verdicts, send strays home, dead-letter bad ones (in the transaction)."""
        self.transaction.begin()
        decoded = decode_verdicts(messages, self.settings.max_message_bytes)
        self.writer.dead_letter(decoded.rejected)
        join = self.join
        for message, verdict in decoded.verdicts:
            partition = message.partition() or 0
            home = join.home(verdict.transaction_id)
            if home != partition:
                self.writer.route(message, home)
            else:
                join.add_verdict(partition, verdict, self._arrival(message))
        for message in messages:
            self.positions[message.partition() or 0] = (message.offset() or 0) + 1
        self.metrics.verdicts_read.inc(len(messages))

    def commit(self, force: bool = False) -> None:
        """Commit the ledgers' changes with the labels offsets, when the interval is over.

        Raises:
            FencedError, KafkaClientError: a fatal error.
        """
        if self.failed or not self.interval.due(force):
            return
        self.metrics.observe(self.join, self.watermark)  # idle or not: the watermark shows life
        changes = {p: ledger.take_changes() for p, ledger in self.join.ledgers.items()}
        dirty = any(c.entries or c.totals is not None for c in changes.values())
        if not (dirty or self.transaction.open or self.positions != self.committed):
            return
        if changes:
            self.transaction.begin()
            roles = self.join.roles
            for partition, change in changes.items():
                self.writer.changelog(partition, changelog_records(change, roles))
        topic = self.settings.labels_topic
        # Every held partition's offset goes in, changed or not: the group's generation check
        # then refuses the commit of a member that lost its partitions without noticing.
        offsets = [TopicPartition(topic, p, o) for p, o in sorted(self.positions.items())]
        if not self.transaction.commit(offsets, self.source.consumer_group_metadata()):
            self.rollback()
            return
        self.committed = dict(self.positions)
        for partition, ledger in self.join.ledgers.items():
            self.metrics.committed.publish(partition, ledger.totals)
        self._update_lag()

    def rollback(self) -> None:
        """Go back to the last commit: ledgers from their changelog, offsets as committed."""
        held = sorted(self.join.ledgers)
        for partition in held:
            self._restore(partition)
        topic = self.settings.labels_topic
        for partition in held:
            offset = self.committed[partition]
            self.positions[partition] = offset
            self.source.seek(TopicPartition(topic, partition, offset))
        log_event("rolled_back", partitions=held)

    def on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        """Restore each partition's ledger, then read its verdicts from the committed offset."""
        offsets = stable_offsets(self.source, partitions, self.monotonic, self.sleep)
        for tp in partitions:
            self._restore(tp.partition)
            self.positions[tp.partition] = self.committed[tp.partition] = offsets[tp.partition]
        topic = self.settings.labels_topic
        self.source.assign([TopicPartition(topic, p, offsets[p]) for p in sorted(offsets)])
        self.health.assigned = frozenset(self.join.ledgers)
        log_event("partitions_assigned", partitions=sorted(offsets))

    def on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        """Commit what is done (unless the loop failed), then forget the partitions."""
        if not self.failed:
            try:
                self.commit(force=True)
            except BaseException:
                self.failed = True
                raise
        self._forget(partitions)
        log_event("partitions_revoked", partitions=sorted(tp.partition for tp in partitions))

    def on_lost(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        """Forget the partitions without committing; roll what remains back to its changelog."""
        if self.transaction.open and not self.failed:
            self.transaction.abort("partitions lost")
            self._forget(partitions)
            self.rollback()
        else:
            self._forget(partitions)
        log_event(
            "partitions_lost",
            logging.WARNING,
            partitions=sorted(tp.partition for tp in partitions),
        )

    def _restore(self, partition: int) -> None:
        entries, totals = self.changelog.restore(partition, self.join.roles)
        self.join.assign(partition, entries, totals)  # its recheck is committed next
        self.metrics.committed.publish(partition, totals)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.join.revoke(tp.partition)
            self.metrics.committed.forget(tp.partition)
            self.positions.pop(tp.partition, None)
            self.committed.pop(tp.partition, None)
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(str(tp.partition))
        self.health.assigned = frozenset(self.join.ledgers)

    def _arrival(self, message: InputMessage) -> float:
        kind, stamp = message.timestamp()
        return stamp / 1000 if kind != _NO_TIMESTAMP else self.clock()

    def _update_lag(self) -> None:
        # The client's position, not the offsets read: it steps over transaction markers (the
        # copies of verdicts sent home are written in transactions), which are never read.
        topic = self.settings.labels_topic
        held = [TopicPartition(topic, partition) for partition in sorted(self.positions)]
        for tp in self.source.position(held) if held else []:
            marks = self.source.get_watermark_offsets(tp, cached=True)
            if marks and marks[1] >= 0 and tp.offset >= 0:
                self.metrics.lag.labels(str(tp.partition)).set(max(marks[1] - tp.offset, 0))
