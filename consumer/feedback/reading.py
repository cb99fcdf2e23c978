"""Read partitions from their start to where they end now, as a `read_committed` reader sees
them: for restoring a ledger from its changelog and for the labelled export."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from consumer.errors import KafkaClientError
from consumer.feedback.ends import OffsetsAdmin, Partition, known_positions, stable_ends_now

BATCH = 10_000


class Reader(Protocol):
    """The consumer calls of a reader by assignment."""

    def assign(self, partitions: list[TopicPartition]) -> None: ...
    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]: ...
    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...
    def offsets_for_times(
        self, partitions: list[TopicPartition], timeout: float = ...
    ) -> list[TopicPartition]: ...
    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = ..., cached: bool = False
    ) -> tuple[int, int] | None: ...
    def close(self) -> None: ...


def read_to_end(
    reader: Reader,
    admin: OffsetsAdmin,
    partitions: Sequence[Partition],
    timeout: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[Message]:
    """Yield every committed record of `partitions`, from their start to their end as of now.

    Raises:
        KafkaClientError: the end is not reached, `timeout` seconds without a record.
    """
    ends = stable_ends_now(admin, partitions, timeout)
    left = {}
    for partition in partitions:
        marks = reader.get_watermark_offsets(TopicPartition(*partition), timeout)
        if marks is not None and marks[0] < ends[partition]:  # else empty, or compacted away
            left[partition] = ends[partition]
    if not left:
        return
    reader.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in left])
    deadline = monotonic() + timeout
    while left:
        for message in reader.consume(BATCH, 0.5):
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise KafkaClientError(f"fatal Kafka error reading {message.topic()}: {error}")
                continue
            deadline = monotonic() + timeout
            yield message
        # The position, not the last offset read: it steps over transaction markers.
        tps = reader.position([TopicPartition(t, p) for t, p in left])
        positions = known_positions(tps, dict.fromkeys(left, -1))
        left = {p: end for p, end in left.items() if positions[p] < end}
        if left and monotonic() > deadline:
            where = ", ".join(f"{t}[{p}] at {positions[t, p]} of {e}" for (t, p), e in left.items())
            raise KafkaClientError(f"not read to their end within {timeout:g}s: {where}")
