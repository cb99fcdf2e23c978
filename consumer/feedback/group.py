"""The labels consumer's group: the offsets a member reads its partitions from when it gets them.

A `read_committed` consumer asks for *stable* offsets (KIP-447): while another member's
transaction holding offsets for the partitions is open, the fetch does not answer. That wait
is what makes restoring a ledger safe: once the offsets are fetched, no transaction of a
previous owner can still add to the changelog, which then holds exactly what they reflect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import TopicPartition

from consumer.errors import KafkaClientError
from consumer.kafka import TransactionalSource
from consumer.logs import log_event

COMMITTED_TIMEOUT_S = 10.0  # one try to fetch the group's offsets; tried until STABLE_WAIT_S
STABLE_WAIT_S = 300.0  # a dead owner's open transaction is aborted by the broker before this


class LabelsSource(TransactionalSource, Protocol):
    """The labels consumer: a group member whose offsets the feedback loop sets on assignment."""

    def assign(self, partitions: list[TopicPartition]) -> None: ...
    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...


def stable_offsets(
    source: LabelsSource,
    partitions: list[TopicPartition],
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[int, int]:
    """Return the group's committed offset of each partition (its first offset if none).

    The fetch times out while a previous owner's transaction is open, and is asked again
    until the transaction ends or the broker aborts it (`transaction.timeout.ms`).

    Raises:
        KafkaClientError: no answer within STABLE_WAIT_S.
    """
    deadline = monotonic() + STABLE_WAIT_S
    while True:
        try:
            found = source.committed(partitions, COMMITTED_TIMEOUT_S)
            break
        except Exception as exc:  # KafkaException: not stable yet, or a coordinator moving
            if monotonic() > deadline:
                reason = f"cannot fetch the labels offsets of the group: {exc}"
                raise KafkaClientError(reason) from exc
            log_event("offsets_not_stable", logging.INFO, reason=str(exc))
            sleep(0.5)
    offsets = {}
    for tp in found:
        if tp.offset >= 0:
            offsets[tp.partition] = tp.offset
        else:
            marks = source.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), COMMITTED_TIMEOUT_S
            )
            offsets[tp.partition] = marks[0] if marks else 0
    return offsets
