"""Which input offsets are done and may be committed once their output is acknowledged. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from consumer.messages import InputMessage

Partition = tuple[str, int]


def last_offsets(messages: Sequence[InputMessage]) -> dict[Partition, int]:
    """Return the offset of each partition's last message in a batch.

    A consumer receives each partition's messages in offset order, so the last one wins. One
    dict entry per message, in C calls only: a Python call per message would cost more.

    Raises:
        ValueError: a message has no position (it was not read from a partition).

    >>> from confluent_kafka import Message
    >>> last_offsets([Message(topic="t", partition=0, offset=o) for o in (4, 9)])
    {('t', 0): 9}
    """
    return _positioned({(m.topic(), m.partition()): m.offset() for m in messages})


def first_offsets(messages: Sequence[InputMessage]) -> dict[Partition, int]:
    """Return the offset of each partition's first message in a batch (see `last_offsets`).

    >>> from confluent_kafka import Message
    >>> first_offsets([Message(topic="t", partition=0, offset=o) for o in (4, 9)])
    {('t', 0): 4}
    """
    return _positioned({(m.topic(), m.partition()): m.offset() for m in reversed(messages)})


def _positioned(ends: dict[tuple[str | None, int | None], int | None]) -> dict[Partition, int]:
    checked: dict[Partition, int] = {}
    for (topic, partition), offset in ends.items():
        if topic is None or partition is None or offset is None:
            raise ValueError(f"message has no position: {topic}-{partition}-{offset}")
        checked[(topic, partition)] = offset
    return checked


class OffsetTracker:
    """Remember, per partition, the offset after the last message whose records were produced.

    >>> from confluent_kafka import Message
    >>> tracker = OffsetTracker()
    >>> tracker.record([Message(topic="t", partition=0, offset=o) for o in (4, 9)])
    >>> tracker.pending()
    {('t', 0): 10}
    """

    def __init__(self) -> None:
        self._next: dict[Partition, int] = {}

    def record(self, messages: Sequence[InputMessage]) -> None:
        """Mark messages as handled: every record they caused has been handed to the producer."""
        self.advance(last_offsets(messages))

    def advance(self, ends: dict[Partition, int]) -> None:
        """Mark each partition handled up to its offset in `ends` (see `last_offsets`)."""
        for partition, last in ends.items():
            offset = last + 1  # Kafka commits the offset of the next message to read
            if offset > self._next.get(partition, -1):
                self._next[partition] = offset

    def pending(self) -> dict[Partition, int]:
        """Return the offsets to commit, a copy."""
        return dict(self._next)

    def committed(self, offsets: dict[Partition, int]) -> None:
        """Forget offsets that were committed (unless a later one arrived meanwhile)."""
        for partition, offset in offsets.items():
            if self._next.get(partition) == offset:
                del self._next[partition]

    def drop(self, partitions: Iterable[Partition]) -> None:
        """Forget partitions that were lost or revoked: their offsets must not be committed."""
        for partition in partitions:
            self._next.pop(partition, None)
