"""Read a ledger back from its changelog partition: from the start to its last stable offset.

Called when a labels partition is assigned, after the group's committed offset for it has
been fetched: that fetch waits for a previous owner's open transaction to end (KIP-447), so
the changelog then holds exactly what the committed offsets reflect.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

from consumer.feedback.changelog import Record, restore
from consumer.feedback.counts import Count
from consumer.feedback.ends import OffsetsAdmin
from consumer.feedback.ledger import Entry
from consumer.feedback.reading import Reader, read_to_end
from consumer.logs import log_event


class ChangelogReader:
    """Restore ledgers from a compacted changelog topic.

    Parameters:
        reader: a consumer that reads by assignment, read_committed.
        admin: asks where a changelog partition ends.
        topic: the changelog topic.
        timeout: seconds without progress before giving up.
    """

    def __init__(
        self,
        reader: Reader,
        admin: OffsetsAdmin,
        topic: str,
        timeout: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.reader = reader
        self.admin = admin
        self.topic = topic
        self.timeout = timeout
        self.monotonic = monotonic

    def restore(
        self, partition: int, roles: Sequence[str]
    ) -> tuple[dict[str, Entry], Counter[Count]]:
        """Return the entries and totals changelog partition `partition` holds.

        Raises:
            ChangelogError: a record does not read.
            KafkaClientError: the partition cannot be read to its end in time.
        """
        started = self.monotonic()
        count = [0]
        entries, totals = restore(self._records(partition, count), roles)
        log_event(
            "ledger_restored",
            partition=partition,
            records=count[0],
            transactions=len(entries),
            seconds=round(self.monotonic() - started, 3),
        )
        return entries, totals

    def _records(self, partition: int, count: list[int]) -> Iterator[Record]:
        key = (self.topic, partition)
        for message in read_to_end(self.reader, self.admin, [key], self.timeout, self.monotonic):
            count[0] += 1
            yield message.key() or b"", message.value()
