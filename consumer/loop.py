"""The scoring loop: consume → decode → score → publish → commit, one small stage each.

Delivery is at-least-once: a batch's offsets are recorded only after its records are handed to
the producer, and committed only after the producer has flushed and every record was
acknowledged. Rebalances commit what is done before partitions go; lost partitions are dropped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException, Message, TopicPartition

from consumer.alerts import ModelInfo, build_outputs
from consumer.config import RunSettings
from consumer.errors import KafkaClientError
from consumer.health import Health
from consumer.kafka import Sink, Source
from consumer.logs import log_event
from consumer.messages import Decoded, decode_batch
from consumer.metrics import Metrics
from consumer.offsets import OffsetTracker, position
from consumer.publish import Publisher
from training.scoring import Detector
from training.stages import Scored, Scorer


class ScoringLoop:
    """Score an input topic in micro-batches; see the module docstring for the guarantees."""

    def __init__(
        self,
        source: Source,
        sink: Sink,
        detector: Detector | Scorer,
        model_version: str,
        metrics: Metrics,
        settings: RunSettings,
        health: Health | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.source = source
        self.scorer = detector if isinstance(detector, Scorer) else Scorer(detector)
        self.detector = self.scorer.detector
        decision = self.scorer.decision
        self.model = ModelInfo(
            model_version,
            self.detector.threshold,
            self.detector.feature_names,
            None if decision is None else decision.probability_threshold,
        )
        self.metrics = metrics
        self.settings = settings
        self.health = health or Health()
        self.clock = clock
        self.monotonic = monotonic
        self.publisher = Publisher(
            sink, metrics, settings.alert_topic, settings.dlq_topic, settings.scores_topic, clock
        )
        self.sink = sink
        self.offsets = OffsetTracker()
        self.failed = False
        self.last_commit = monotonic()
        metrics.model_info.labels(model_version).set(1)
        self.health.model_version = model_version

    def run(self, stopping: Callable[[], bool]) -> None:
        """Subscribe and score until `stopping()` is true, then commit and close."""
        self.source.subscribe(
            [self.settings.input_topic],
            on_assign=self.on_assign,
            on_revoke=self.on_revoke,
            on_lost=self.on_lost,
        )
        try:
            while not stopping():
                self.step()
            self.commit(force=True)
        except BaseException:
            self.failed = True  # what is pending may lack acks: never commit it on the way out
            raise
        finally:
            self.source.close()  # runs on_revoke: commits nothing new unless healthy
        log_event("stopped")

    def step(self) -> None:
        """Run one batch through every stage."""
        messages = self.consume()
        if messages:
            decoded, scored = self.score(messages)
            self.publish(decoded, scored)
            self.offsets.record(messages)
            self.update_lag(messages)
        self.sink.poll(0)
        self.commit()

    def consume(self) -> list[Message]:
        """Return up to batch-size messages, logging (and skipping) per-partition errors."""
        batch = self.source.consume(self.settings.batch_size, self.settings.batch_timeout)
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

    def score(self, messages: list[Message]) -> tuple[Decoded, Scored]:
        """Decode the batch and score it with every stage (one matrix, one call per stage)."""
        started = self.monotonic()
        decoded = decode_batch(
            messages, self.detector.feature_names, self.settings.max_message_bytes
        )
        scored = self.scorer.score(decoded.features)
        self.metrics.scoring_batch_seconds.observe(self.monotonic() - started)
        self.metrics.transactions_scored.inc(len(decoded.messages))
        self.metrics.anomaly_score.observe_many(scored.score)
        return decoded, scored

    def publish(self, decoded: Decoded, scored: Scored) -> None:
        """Hand the batch's alerts, score records and dead letters to the producer."""
        outputs = build_outputs(
            decoded,
            scored,
            self.model,
            self.clock(),
            self.settings.top_features,
            with_scores=self.settings.scores_topic is not None,
        )
        self.publisher.publish(outputs, decoded.event_times)
        self.publisher.dead_letter(decoded.rejected)

    def commit(self, force: bool = False) -> None:
        """Every commit interval (or when forced): flush the producer, then commit offsets.

        Raises:
            DeliveryError: a record was not acknowledged; nothing is committed.
        """
        if not force and self.monotonic() - self.last_commit < self.settings.commit_interval:
            return
        self.last_commit = self.monotonic()
        pending = self.offsets.pending()
        if not pending:
            return
        self.publisher.flush(self.settings.flush_timeout)
        offsets = [TopicPartition(t, p, o) for (t, p), o in pending.items()]
        try:
            results = self.source.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # Retried at the next commit or on revoke; at worst the next owner repeats the work.
            self.metrics.commits.labels("failed").inc()
            log_event("commit_failed", logging.WARNING, reason=str(exc.args[0]))
            return
        # A synchronous commit can succeed as a call yet fail for some partitions.
        failed = [tp for tp in results or () if tp.error is not None]
        reasons = [tp.error.str() for tp in failed if tp.error is not None]
        if failed:
            self.metrics.commits.labels("failed").inc()
            log_event(
                "commit_failed",
                logging.WARNING,
                partitions=_names(failed),
                reason=reasons[0],
            )
        else:
            self.metrics.commits.labels("ok").inc()
        keys = _keys(failed)
        self.offsets.committed({p: o for p, o in pending.items() if p not in keys})

    def update_lag(self, messages: list[Message]) -> None:
        """Set the lag gauge of each partition in the batch from the client's cached watermark."""
        last: dict[tuple[str, int], int] = {}
        for message in messages:
            key, offset = position(message)
            last[key] = offset
        for (topic, partition), offset in last.items():
            marks = self.source.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if marks and marks[1] >= 0:
                lag = max(marks[1] - offset - 1, 0)
                self.metrics.consumer_lag_messages.labels(topic, str(partition)).set(lag)

    def on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self.health.assigned = self.health.assigned | _keys(partitions)
        log_event("partitions_assigned", partitions=_names(partitions))

    def on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        if not self.failed:
            try:
                self.commit(force=True)
            except BaseException:
                self.failed = True
                raise
        self._forget(partitions)
        log_event("partitions_revoked", partitions=_names(partitions))

    def on_lost(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self._forget(partitions)  # another consumer owns them now: committing would be wrong
        log_event("partitions_lost", logging.WARNING, partitions=_names(partitions))

    def _forget(self, partitions: list[TopicPartition]) -> None:
        keys = _keys(partitions)
        self.offsets.drop(keys)
        self.health.assigned = self.health.assigned - keys
        for topic, partition in keys:
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag_messages.remove(topic, str(partition))


def _keys(partitions: list[TopicPartition]) -> frozenset[tuple[str, int]]:
    return frozenset((p.topic, p.partition) for p in partitions)


def _names(partitions: list[TopicPartition]) -> list[str]:
    return sorted(f"{p.topic}[{p.partition}]" for p in partitions)
