"""The `run` command's edge: load the model, build the clients, serve HTTP, score until told."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from types import FrameType

from confluent_kafka import Consumer, Producer
from prometheus_client import REGISTRY, CollectorRegistry
from threadpoolctl import threadpool_limits

from consumer import heap
from consumer.avro_writer import avro_records
from consumer.challenger import build_challenger
from consumer.checkpoint import AtLeastOnce
from consumer.config import FeedbackSettings, RunSettings
from consumer.decoding import BatchDecoder
from consumer.errors import ConfigError
from consumer.health import Health, Readiness, serve
from consumer.kafka import Sink, build_consumer, build_producer
from consumer.logs import log_event
from consumer.loop import ScoringLoop
from consumer.metrics import Metrics
from consumer.models import ModelDirectory, ModelWatch, describe
from consumer.publish import Publisher, TransactionalPublisher
from consumer.records import JSON_RECORDS, RecordFormats
from consumer.schema_registry import SchemaCache, registry_client
from consumer.transaction import ExactlyOnce
from training.scoring.bundle import load_scorer

SHUTDOWN_FLUSH_S = 10.0
FORCED_EXIT_CODE = 1


class StopSignals:
    """A stop flag that SIGTERM and SIGINT set; call it to check (and log the request once).

    The handler only records the signal: logging from a handler can deadlock on the logging
    lock the interrupted code holds. A second signal exits at once, without cleaning up.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.logged = False

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is not None:
            os._exit(FORCED_EXIT_CODE)
        self.signum = signum

    def __call__(self) -> bool:
        if self.signum is None:
            return False
        if not self.logged:
            self.logged = True
            log_event("stop_requested", signal=signal.Signals(self.signum).name)
        return True


def install_stop_signals() -> StopSignals:
    """Return a stop flag that SIGTERM and SIGINT set; the loop checks it between batches."""
    stop = StopSignals()
    signal.signal(signal.SIGTERM, stop.handle)
    signal.signal(signal.SIGINT, stop.handle)
    return stop


def serve_metrics(
    settings: RunSettings | FeedbackSettings, health: Readiness, registry: CollectorRegistry
) -> ThreadingHTTPServer:
    """Start the metrics HTTP server; a port in use or a bad address is a ConfigError."""
    try:
        return serve(settings.metrics_host, settings.metrics_port, health, registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"metrics port {settings.metrics_port} is in use") from exc
        address = f"{settings.metrics_host}:{settings.metrics_port}"
        raise ConfigError(f"cannot serve metrics on {address}: {exc.strerror or exc}") from exc


def build_publisher(settings: RunSettings, producer: Producer, metrics: Metrics) -> Publisher[Sink]:
    """Return the publisher of `producer`: a transactional one under exactly-once."""
    kind = TransactionalPublisher if settings.exactly_once else Publisher
    return kind(
        producer,
        metrics,
        settings.alert_topic,
        settings.dlq_topic,
        settings.scores_topic,
        challenger_topic=settings.challenger_alert_topic,
    )


def build_checkpoint(
    settings: RunSettings,
    consumer: Consumer,
    publisher: Publisher[Sink],
    metrics: Metrics,
) -> AtLeastOnce | ExactlyOnce:
    """Return the checkpoint of the publisher's guarantee; exactly-once registers its producer.

    Raises:
        KafkaClientError: the transactional producer cannot be registered.
    """
    if not isinstance(publisher, TransactionalPublisher):
        return AtLeastOnce(
            consumer, publisher, metrics, settings.commit_interval, settings.flush_timeout
        )
    checkpoint = ExactlyOnce(
        consumer,
        publisher,
        metrics,
        settings.commit_interval,
        settings.flush_timeout,
        new_producer=lambda: build_producer(settings),
    )
    checkpoint.start()
    log_event("transactions_ready", transactional_id=settings.transactional_id)
    return checkpoint


def typed_io(settings: RunSettings) -> tuple[BatchDecoder, RecordFormats]:
    """Return the decode stage and the records' formats: with a Schema Registry when one is set.

    Raises:
        RegistryUnavailableError: Avro output, and its schemas cannot be registered.
    """
    if settings.schema_registry is None:
        return BatchDecoder(), JSON_RECORDS
    client = registry_client(settings.schema_registry.client_config())
    formats = JSON_RECORDS
    if settings.output_format == "avro":
        formats = avro_records(client, settings.alert_topic, settings.scores_topic)
    return BatchDecoder(SchemaCache(client)), formats


def run(
    settings: RunSettings,
    stopping: Callable[[], bool],
    registry: CollectorRegistry = REGISTRY,
) -> None:
    """Score `settings.input_topic` until `stopping()`; raise on errors that stop the consumer.

    Raises:
        BundleError: the model bundle cannot be loaded.
        ConsumerError: a configuration, client or delivery failure.
    """
    # A micro-batch is a few small matrix products: BLAS threads would only contend with the
    # Kafka client's threads (and spin on a busy machine). Scale out with group members.
    threadpool_limits(limits=1, user_api="blas")
    metrics = Metrics(registry)
    directory = ModelDirectory(
        settings.model_dir,
        on_refused=lambda _path, _reason: metrics.model_reloads.labels("refused").inc(),
        load=load_scorer,
    )
    model = directory.first()
    manifest, scorer = model.manifest, model.scorer
    health = Health()
    describe(metrics, model)
    challenger = build_challenger(settings, metrics, scorer.feature_names)
    server = serve_metrics(settings, health, registry)
    try:
        log_event(
            "starting",
            model_version=manifest["model_version"],
            model_path=str(model.path),
            threshold=scorer.threshold,
            features=len(scorer.feature_names),
            stages="autoencoder" if scorer.stage is None else "supervised+autoencoder",
            input_topic=settings.input_topic,
            alert_topic=settings.alert_topic,
            dlq_topic=settings.dlq_topic,
            scores_topic=settings.scores_topic,
            challenger=None if challenger is None else challenger.model.version,
            challenger_alert_topic=settings.challenger_alert_topic,
            group_id=settings.group_id,
            guarantee="exactly-once" if settings.exactly_once else "at-least-once",
            metrics=f"http://{settings.metrics_host}:{server.server_address[1]}/metrics",
            kafka=settings.kafka.redacted(),
            schema_registry=None if (sr := settings.schema_registry) is None else sr.redacted(),
            output_format=settings.output_format,
        )
        decoder, formats = typed_io(settings)
        publisher = build_publisher(settings, build_producer(settings), metrics)
        checkpoint: AtLeastOnce | ExactlyOnce | None = None
        try:
            consumer = build_consumer(settings)
            checkpoint = build_checkpoint(settings, consumer, publisher, metrics)
            loop = ScoringLoop(
                consumer,
                publisher,
                checkpoint,
                scorer,
                manifest["model_version"],
                metrics,
                settings,
                health,
                models=ModelWatch(directory, model, settings.reload_interval),
                decoder=decoder,
                formats=formats,
                challenger=challenger,
            )
            heap.freeze()  # everything start-up made stays out of the collector's way
            loop.run(stopping)
        finally:
            if isinstance(checkpoint, ExactlyOnce):
                checkpoint.close()  # an open transaction is aborted: flushing it is pointless
            else:
                publisher.drain(SHUTDOWN_FLUSH_S)  # after a failure, what was sent may arrive
    finally:
        server.shutdown()
        server.server_close()
