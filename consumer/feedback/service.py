"""The `feedback` command's edge: check the topics, build the clients, serve HTTP, join until told.

    fraudstream-consumer feedback --bootstrap-servers HOST:PORT --labels-topic labels \\
        --alert-topic alerts --challenger-alert-topic challenger-alerts \\
        --changelog-topic feedback-changelog --dlq-topic labels-dlq --group-id fraudstream-feedback
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from prometheus_client import REGISTRY, CollectorRegistry

from consumer.config import (
    FeedbackSettings,
    feedback_consumer_config,
    feedback_producer_config,
    reader_config,
)
from consumer.errors import ConfigError
from consumer.feedback.alert_reader import AlertReader
from consumer.feedback.ends import StableEnds
from consumer.feedback.join import FeedbackJoin
from consumer.feedback.ledger import Limits
from consumer.feedback.loop import FeedbackLoop
from consumer.feedback.metrics import FeedbackMetrics
from consumer.feedback.restore import ChangelogReader
from consumer.feedback.transaction import FeedbackTransaction
from consumer.feedback.writer import FeedbackWriter
from consumer.health import FeedbackHealth
from consumer.kafka import build_client, build_producer_client
from consumer.logs import log_event
from consumer.service import serve_metrics

METADATA_TIMEOUT_S = 30.0


def topic_partitions(client: Consumer, topics: list[str]) -> dict[str, int]:
    """Return each topic's partition count.

    Raises:
        ConfigError: a topic does not exist (or cannot be described).
    """
    counts = {}
    for topic in topics:
        metadata = client.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            reason = metadata.error.str() if metadata is not None and metadata.error else "none"
            raise ConfigError(f"topic {topic} does not exist or cannot be read ({reason})")
        counts[topic] = len(metadata.partitions)
    return counts


def check_changelog(settings: FeedbackSettings, partitions: dict[str, int]) -> None:
    """Refuse a changelog topic whose partition count is not the labels topic's.

    Raises:
        ConfigError: the counts differ (a ledger lives in the changelog partition numbered as
            its labels partition).
    """
    labels, changelog = partitions[settings.labels_topic], partitions[settings.changelog_topic]
    if labels != changelog:
        raise ConfigError(
            f"the changelog topic {settings.changelog_topic} has {changelog} partitions, the "
            f"labels topic {settings.labels_topic} {labels}: they must have as many (create "
            "the changelog with as many partitions and cleanup.policy=compact)"
        )


def run(
    settings: FeedbackSettings,
    stopping: Callable[[], bool],
    registry: CollectorRegistry = REGISTRY,
) -> None:
    """Join verdicts with alerts until `stopping()`; raise on errors that stop the process.

    Raises:
        ConfigError: a topic is missing, or the changelog's partitions are not the labels'.
        ConsumerError: a client, transaction or changelog failure.
    """
    topics = settings.alert_topics
    roles = tuple(topics.values())
    metrics = FeedbackMetrics(roles, registry)
    health = FeedbackHealth()
    server = serve_metrics(settings, health, registry)
    closing: list[Any] = []
    try:
        source = build_client(feedback_consumer_config(settings))
        closing.append(source)
        names = [settings.labels_topic, settings.changelog_topic, *topics]
        partitions = topic_partitions(source, names)
        check_changelog(settings, partitions)
        admin = AdminClient(dict(settings.kafka.client_config()))
        limits = Limits(
            settings.grace, settings.horizon, settings.max_alerts, settings.max_verdicts
        )
        join = FeedbackJoin(roles, partitions[settings.labels_topic], limits)
        log_event(
            "starting",
            labels_topic=settings.labels_topic,
            labels_partitions=partitions[settings.labels_topic],
            alert_topics=topics,
            changelog_topic=settings.changelog_topic,
            dlq_topic=settings.dlq_topic,
            group_id=settings.group_id,
            grace_s=settings.grace,
            horizon_s=settings.horizon,
            max_alerts=settings.max_alerts,
            max_verdicts=settings.max_verdicts,
            metrics=f"http://{settings.metrics_host}:{server.server_address[1]}/metrics",
            kafka=settings.kafka.redacted(),
        )
        writer = FeedbackWriter(
            build_producer_client(feedback_producer_config(settings)),
            settings.labels_topic,
            settings.changelog_topic,
            settings.dlq_topic,
            metrics,
        )
        transaction = FeedbackTransaction(writer, metrics, settings.transaction_timeout)
        transaction.start()  # fences a previous instance and aborts what it left open
        log_event("transactions_ready", transactional_id=settings.transactional_id)
        alert_client = build_client(reader_config(settings, "feedback-alerts"))
        closing.append(alert_client)
        alerts = AlertReader(alert_client, StableEnds(admin), topics, partitions, metrics)
        alerts.start(settings.horizon)
        changelog_client = build_client(reader_config(settings, "feedback-changelog"))
        closing.append(changelog_client)
        changelog = ChangelogReader(changelog_client, admin, settings.changelog_topic)
        loop = FeedbackLoop(
            source, alerts, changelog, writer, transaction, join, metrics, settings, health
        )
        closing.remove(source)  # the loop closes it, committing on the way
        loop.run(stopping)
    finally:
        for client in closing:
            client.close()
        server.shutdown()
        server.server_close()
