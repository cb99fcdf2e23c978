"""The `run` command's edge: load the model, build the clients, serve HTTP, score until told."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from prometheus_client import REGISTRY, CollectorRegistry

from consumer.config import RunSettings
from consumer.health import Health, serve
from consumer.kafka import build_consumer, build_producer
from consumer.logs import log_event
from consumer.loop import ScoringLoop
from consumer.metrics import Metrics
from training.bundle import load_detector, load_manifest

SHUTDOWN_FLUSH_S = 10.0


def install_stop_signals() -> threading.Event:
    """Return an event that SIGTERM and SIGINT set; the loop checks it between batches."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log_event("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


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
    manifest = load_manifest(settings.model_dir)
    detector = load_detector(settings.model_dir)
    health = Health()
    metrics = Metrics(registry)
    server = serve(settings.metrics_host, settings.metrics_port, health, registry)
    log_event(
        "starting",
        model_version=manifest["model_version"],
        threshold=detector.threshold,
        features=len(detector.feature_names),
        input_topic=settings.input_topic,
        alert_topic=settings.alert_topic,
        dlq_topic=settings.dlq_topic,
        scores_topic=settings.scores_topic,
        group_id=settings.group_id,
        metrics=f"http://{settings.metrics_host}:{server.server_address[1]}/metrics",
        kafka=settings.kafka.redacted(),
    )
    producer = build_producer(settings)
    try:
        consumer = build_consumer(settings)
        loop = ScoringLoop(
            consumer, producer, detector, manifest["model_version"], metrics, settings, health
        )
        loop.run(stopping)
    finally:
        producer.flush(SHUTDOWN_FLUSH_S)  # after a failure, what was sent may as well arrive
        server.shutdown()
        server.server_close()
