"""While the Schema Registry cannot be asked: the batch put back, the input paused, retried.

A registry that cannot be reached is not bad input: nothing is dead-lettered, and nothing of
the batch is produced (under exactly-once, no transaction is begun for it). Each partition of
the batch is rewound to its first message, so the client delivers them again, every assigned
partition is paused, so nothing more is fetched meanwhile, and the batch is tried again after
a backoff (0.5 s, doubling up to 10 s). The loop goes on polling: rebalance callbacks run, and
the checkpoint commits what was done before (an open transaction is not left to time out).
Nothing is kept in memory, so a revoked partition or a checkpoint's rewind needs no care here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from confluent_kafka import KafkaException, Message, TopicPartition

from consumer.errors import KafkaClientError
from consumer.health import Health
from consumer.kafka import error_text
from consumer.logs import log_event
from consumer.metrics import Metrics
from consumer.offsets import first_offsets

FIRST_WAIT_S = 0.5
LONGEST_WAIT_S = 10.0


class Pausable(Protocol):
    """The consumer calls that put a batch back and hold the input."""

    def assignment(self) -> list[TopicPartition]: ...
    def pause(self, partitions: list[TopicPartition]) -> None: ...
    def resume(self, partitions: list[TopicPartition]) -> None: ...
    def seek(self, partition: TopicPartition) -> None: ...


class RegistryOutage:
    """Hold the input while the Schema Registry cannot be asked, and say so on /readyz.

    Parameters:
        source: the consumer, rewound, paused and resumed.
        health, metrics: unready while the registry is away; each failed try counted.
        first_wait_s, longest_wait_s: the backoff between tries, doubling from the first.
    """

    def __init__(
        self,
        source: Pausable,
        health: Health,
        metrics: Metrics,
        monotonic: Callable[[], float] = time.monotonic,
        first_wait_s: float = FIRST_WAIT_S,
        longest_wait_s: float = LONGEST_WAIT_S,
    ):
        self.source = source
        self.health = health
        self.metrics = metrics
        self.monotonic = monotonic
        self.first_wait_s = first_wait_s
        self.longest_wait_s = longest_wait_s
        self.wait_s = first_wait_s
        self.retry_at: float | None = None  # when the put-back batch is tried again

    @property
    def waiting(self) -> bool:
        """Tell whether a batch is put back and its retry not yet begun."""
        return self.retry_at is not None

    def remaining(self) -> float:
        """Return the seconds until the put-back batch is tried again (0: now)."""
        return 0.0 if self.retry_at is None else max(self.retry_at - self.monotonic(), 0.0)

    def put_back(self, messages: Sequence[Message], reason: str) -> None:
        """Rewind the batch's partitions to its first messages, pause the input, wait a while.

        Raises:
            KafkaClientError: the client refused to rewind (going on would skip the batch).
        """
        self._rewind(messages)
        self._pause()
        self.retry_at = self.monotonic() + self.wait_s
        self.metrics.schema_registry_unavailable.inc()
        self.health.unavailable = "the Schema Registry cannot be asked for a schema"
        log_event(
            "registry_unavailable",
            logging.WARNING,
            reason=reason,
            messages=len(messages),
            retry_in_s=self.wait_s,
        )
        self.wait_s = min(self.wait_s * 2, self.longest_wait_s)

    def hold(self, messages: Sequence[Message]) -> None:
        """Put back what came while waiting (fetched before the pause), and pause new partitions.

        Raises:
            KafkaClientError: the client refused to rewind.
        """
        self._rewind(messages)
        self._pause()

    def retry(self) -> None:
        """Resume the input: the put-back batch is delivered again."""
        partitions = self.source.assignment()
        if partitions:
            self.source.resume(partitions)
        self.retry_at = None

    def answered(self) -> None:
        """Be ready again: a batch decoded, so the schemas it needed were found."""
        if self.health.unavailable is None:
            return
        self.health.unavailable = None
        self.wait_s = self.first_wait_s
        log_event("registry_available")

    def _pause(self) -> None:
        partitions = self.source.assignment()
        if partitions:
            self.source.pause(partitions)

    def _rewind(self, messages: Sequence[Message]) -> None:
        for (topic, partition), offset in first_offsets(messages).items():
            try:
                self.source.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:
                raise KafkaClientError(
                    f"cannot rewind {topic}[{partition}] to offset {offset} to wait for the "
                    f"Schema Registry: {error_text(exc)}"
                ) from exc
