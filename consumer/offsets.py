"""Which input offsets are done and may be committed once their output is acknowledged. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from consumer.messages import InputMessage

Partition = tuple[str, int]


def position(message: InputMessage) -> tuple[Partition, int]:
    """Return a consumed message's (topic, partition) and offset.

    Raises:
        ValueError: the message has no position (it was not read from a partition).

    >>> from confluent_kafka import Message
    >>> position(Message(topic="t", partition=0, offset=4))
    (('t', 0), 4)
    """
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError(f"message has no position: {topic}-{partition}-{offset}")
    return (topic, partition), offset


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

    def record(self, messages: Iterable[InputMessage]) -> None:
        """Mark messages as handled: every record they caused has been handed to the producer."""
        for message in messages:
            partition, last = position(message)
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
