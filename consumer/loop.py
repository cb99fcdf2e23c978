"""The scoring loop: consume → decode → score → publish, one small stage each.

When input offsets are committed, and how, is the checkpoint's business (see
`consumer.checkpoint`): the loop tells it when a batch begins, when its records are handed to
the producer, and when partitions are revoked or lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Message, TopicPartition

from consumer import heap
from consumer.assignment import Assignment
from consumer.challenger import Challenger
from consumer.checkpoint import Checkpoint, partition_names
from consumer.config import RunSettings
from consumer.decoding import BatchDecoder
from consumer.errors import KafkaClientError, ProduceRefused
from consumer.health import Health
from consumer.kafka import Sink, Source
from consumer.logs import log_event
from consumer.messages import Decoded
from consumer.metrics import Metrics
from consumer.models import Model, ModelWatch, describe
from consumer.publish import Publisher
from consumer.records import JSON_RECORDS, ModelInfo, RecordFormats, build_outputs
from consumer.registry_outage import RegistryOutage
from consumer.schema_registry import RegistryUnavailableError
from training.scoring.detector import Detector
from training.scoring.scorer import Scored, Scorer

# How long to wait for input while records await their acks: their callbacks run in between.
ACK_POLL_S = 0.002


class ScoringLoop:
    """Score an input topic in micro-batches, publishing through `publisher`.

    Parameters:
        source: the consumer.
        publisher: produces alerts, score records and dead letters.
        checkpoint: commits input offsets under the delivery guarantee.
        scorer, model_version: the model (a bare Detector scores with the autoencoder alone)
            and the version its records carry.
        metrics, settings, health: counted, read, and reported on /readyz.
        models: where a newer model may appear; asked between batches (None: never).
        decoder: the decode stage (without one: plain JSON, framed values dead-lettered).
        formats: how alert and score records are encoded (JSON unless told).
        challenger: a second model scoring each batch in the shadow (None: none).
    """

    def __init__(
        self,
        source: Source,
        publisher: Publisher[Sink],
        checkpoint: Checkpoint,
        scorer: Scorer | Detector,
        model_version: str,
        metrics: Metrics,
        settings: RunSettings,
        health: Health | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        models: ModelWatch | None = None,
        decoder: BatchDecoder | None = None,
        formats: RecordFormats = JSON_RECORDS,
        challenger: Challenger | None = None,
    ):
        self.models = models
        self.decoder = decoder or BatchDecoder()
        self.formats = formats
        self.challenger = challenger
        self.source = source
        self.publisher = publisher
        self.checkpoint = checkpoint
        self.adopt(scorer, model_version)
        self.metrics = metrics
        self.settings = settings
        self.health = health or Health()
        self.clock = clock
        self.monotonic = monotonic
        self.assignment = Assignment(source, self.health, metrics)
        self.outage = RegistryOutage(source, self.health, metrics, monotonic)
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
            self.checkpoint.commit(force=True)
        except BaseException:
            self.checkpoint.fail()
            raise
        finally:
            self.source.close()  # runs on_revoke: commits nothing new unless healthy
        log_event("stopped")

    def step(self) -> None:
        """Run one batch through every stage (with the newest model, when one appeared)."""
        newer = self.models.poll() if self.models is not None else None
        if newer is not None:
            self.use(newer)
        if self.challenger is not None:
            self.challenger.refresh()
        messages = self.consume()
        started = self.monotonic()
        decoded = self.decode(messages) if messages else None
        if decoded is not None:  # None: the batch waits for the Schema Registry
            self.checkpoint.begin()
            scored = self.score(decoded, started)
            try:
                self.publish(decoded, scored)
            except ProduceRefused as exc:
                self.checkpoint.refused(messages, exc)
                return
            self.checkpoint.done(messages)
            self.assignment.update_lag(messages)
        self.publisher.poll(0)
        self.checkpoint.commit()

    def use(self, model: Model) -> None:
        """Score the next batches with `model`: between batches, so none is half scored by each."""
        previous = self.model.version
        self.adopt(model.scorer, model.version)
        heap.refreeze()  # one full collection frees the previous model's reference cycles
        describe(self.metrics, model)
        self.metrics.model_reloads.labels("loaded").inc()
        self.health.model_version = model.version
        log_event(
            "model_loaded", model_version=model.version, previous=previous, path=str(model.path)
        )

    def adopt(self, scorer: Scorer | Detector, version: str) -> None:
        """Score with `scorer` from the next batch (a bare Detector: the autoencoder alone)."""
        self.scorer = scorer if isinstance(scorer, Scorer) else Scorer(scorer)
        decision = self.scorer.decision
        self.model = ModelInfo(
            version,
            self.scorer.threshold,
            self.scorer.feature_names,
            None if decision is None else decision.probability_threshold,
        )

    def consume(self) -> list[Message]:
        """Return the messages already fetched, up to batch-size; if none, wait for the next.

        A batch never waits to fill: what has arrived is scored now. While records await
        their acks, the wait is cut to ACK_POLL_S so that `step` serves their delivery
        callbacks (alert counts, latency) promptly. Per-partition errors are logged, skipped.
        While a batch waits for the Schema Registry, nothing is returned until its retry.
        """
        size = self.settings.batch_size
        wait = ACK_POLL_S if self.publisher.pending() else self.settings.batch_timeout
        if self.outage.waiting:
            if self.outage.remaining() > 0:
                held = self.source.consume(size, min(wait, self.outage.remaining()))
                self.outage.hold([m for m in held if m.error() is None])
                return []
            self.outage.retry()
        batch = self.source.consume(size, 0)
        if not batch:
            batch = self.source.consume(1, wait)
            if batch and size > 1:
                batch += self.source.consume(size - 1, 0)
        messages = [message for message in batch if message.error() is None]
        if len(messages) < len(batch):
            for error in filter(None, (message.error() for message in batch)):
                if error.fatal():
                    raise KafkaClientError(f"fatal Kafka consumer error: {error.str()}")
                log_event("consume_error", logging.WARNING, code=error.name(), reason=error.str())
        return messages

    def decode(self, messages: list[Message]) -> Decoded | None:
        """Decode the batch; None when it must wait for the Schema Registry (it is put back)."""
        try:
            decoded = self.decoder.decode(
                messages, self.scorer.feature_names, self.settings.max_message_bytes
            )
        except RegistryUnavailableError as exc:
            self.outage.put_back(messages, str(exc))
            return None
        self.outage.answered()
        return decoded

    def score(self, decoded: Decoded, started: float) -> Scored:
        """Score the decoded batch with every stage (one matrix, one call per stage); the batch
        time observed runs from `started`, before decoding."""
        scored = self.scorer.score(decoded.features)
        self.metrics.scoring_batch_seconds.observe(self.monotonic() - started)
        self.metrics.transactions_scored.inc(len(decoded.messages))
        self.metrics.observe_scores(scored.score)
        self.metrics.observe_out_of_range(scored.outside, self.scorer.feature_names)
        return scored

    def publish(self, decoded: Decoded, scored: Scored) -> None:
        """Hand the batch's alerts, score records and dead letters to the producer, and the
        challenger's would-be alerts when one runs (it scores the same decoded batch)."""
        scored_at = self.clock()
        outputs = build_outputs(
            decoded,
            scored,
            self.model,
            scored_at,
            self.settings.top_features,
            with_scores=self.settings.scores_topic is not None,
            formats=self.formats,
        )
        self.publisher.publish(outputs, decoded.event_times)
        if self.challenger is not None:
            self.publisher.publish_challenger(self.challenger.outputs(decoded, scored_at))
        self.publisher.dead_letter(decoded.rejected)

    def on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self.assignment.add(partitions)
        log_event("partitions_assigned", partitions=partition_names(partitions))

    def on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self.checkpoint.revoke(partitions)
        self.assignment.remove(partitions)
        log_event("partitions_revoked", partitions=partition_names(partitions))

    def on_lost(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self.checkpoint.lose(partitions)
        self.assignment.remove(partitions)
        log_event("partitions_lost", logging.WARNING, partitions=partition_names(partitions))
