"""Which partitions this consumer holds: readiness on /readyz and each partition's lag gauge."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from confluent_kafka import Message, TopicPartition

from consumer.checkpoint import partition_keys
from consumer.health import Health
from consumer.kafka import Source
from consumer.metrics import Metrics
from consumer.offsets import last_offsets


class Assignment:
    """Keep health's assigned partitions and the lag gauges in step with rebalances."""

    def __init__(self, source: Source, health: Health, metrics: Metrics):
        self.source = source
        self.health = health
        self.metrics = metrics

    def add(self, partitions: list[TopicPartition]) -> None:
        """Record newly assigned partitions."""
        self.health.assigned = self.health.assigned | partition_keys(partitions)

    def remove(self, partitions: list[TopicPartition]) -> None:
        """Forget revoked or lost partitions, and their lag gauges."""
        keys = partition_keys(partitions)
        self.health.assigned = self.health.assigned - keys
        for topic, partition in keys:
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag_messages.remove(topic, str(partition))

    def update_lag(self, messages: Sequence[Message]) -> None:
        """Set the lag gauge of each partition in the batch from the client's cached watermark."""
        for (topic, partition), offset in last_offsets(messages).items():
            marks = self.source.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if marks and marks[1] >= 0:
                lag = max(marks[1] - offset - 1, 0)
                self.metrics.consumer_lag_messages.labels(topic, str(partition)).set(lag)
