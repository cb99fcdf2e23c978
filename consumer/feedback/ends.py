"""Ask the brokers where partitions end, as a `read_committed` reader sees them: their last
stable offsets (before any open transaction), without blocking the loop that asks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import Any, Protocol

from confluent_kafka import IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from consumer.errors import KafkaClientError
from consumer.kafka import error_text
from consumer.logs import log_event

Partition = tuple[str, int]
REQUEST_TIMEOUT_S = 30.0


class OffsetsAdmin(Protocol):
    """The admin call this module makes."""

    def list_offsets(
        self, topic_partition_offsets: dict[TopicPartition, Any], **kwargs: Any
    ) -> dict[TopicPartition, Future[Any]]: ...


class StableEnds:
    """Ask for partitions' last stable offsets, one question in flight at a time.

    Parameters:
        admin: an AdminClient of the cluster.
        clock: epoch seconds; `answer` returns the moment each question was asked.
    """

    def __init__(self, admin: OffsetsAdmin, clock: Callable[[], float] = time.time):
        self.admin = admin
        self.clock = clock
        self._asked: tuple[float, dict[TopicPartition, Future[Any]]] | None = None

    def ask(self, partitions: Iterable[Partition]) -> bool:
        """Send a question unless one is in flight; tell whether one was sent."""
        if self._asked is not None:
            return False
        request = {TopicPartition(t, p): OffsetSpec.latest() for t, p in partitions}
        moment = self.clock()
        futures = self.admin.list_offsets(
            request,
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=REQUEST_TIMEOUT_S,
        )
        self._asked = (moment, futures)
        return True

    def answer(self) -> tuple[float, dict[Partition, int]] | None:
        """Return (when asked, {partition: end}) once the answer is in, else None.

        A failed question (a broker away) is logged and forgotten: the next `ask` repeats it.
        """
        if self._asked is None:
            return None
        moment, futures = self._asked
        if not all(future.done() for future in futures.values()):
            return None
        self._asked = None
        try:
            ends = {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}
        except KafkaException as exc:
            log_event("end_offsets_failed", logging.WARNING, reason=error_text(exc))
            return None
        return moment, ends


def stable_ends_now(
    admin: OffsetsAdmin, partitions: Iterable[Partition], timeout: float
) -> dict[Partition, int]:
    """Return partitions' last stable offsets, waiting up to `timeout` seconds for them.

    Raises:
        KafkaClientError: the brokers did not answer in time, or answered with an error.
    """
    request = {TopicPartition(t, p): OffsetSpec.latest() for t, p in partitions}
    futures = admin.list_offsets(
        request, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=timeout
    )
    try:
        return {(tp.topic, tp.partition): f.result(timeout).offset for tp, f in futures.items()}
    except (KafkaException, TimeoutError) as exc:
        raise KafkaClientError(f"cannot get end offsets: {error_text(exc)}") from exc


def known_positions(
    positions: Iterable[TopicPartition], starts: Mapping[Partition, int]
) -> dict[Partition, int]:
    """Return each partition's position, its start offset where the reader has none yet.

    A reader assigned a partition has no position until it has fetched from it, however idle.

    >>> known_positions([TopicPartition("a", 0, -1001), TopicPartition("a", 1, 7)],
    ...                 {("a", 0): 3, ("a", 1): 0})
    {('a', 0): 3, ('a', 1): 7}
    """
    return {
        (tp.topic, tp.partition): tp.offset if tp.offset >= 0 else starts[(tp.topic, tp.partition)]
        for tp in positions
    }
