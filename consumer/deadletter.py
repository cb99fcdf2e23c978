"""The dead-letter record of a rejected message: its raw bytes, with headers saying why."""

from __future__ import annotations

import logging

from consumer.kafka import Headers
from consumer.logs import log_event
from consumer.messages import Rejected

REASON = "dlq.reason"
ERROR = "dlq.error"
SOURCE_TOPIC = "dlq.source.topic"
SOURCE_PARTITION = "dlq.source.partition"
SOURCE_OFFSET = "dlq.source.offset"
TRUNCATED = "dlq.truncated"  # "value=N,key=M": the original sizes of what was cut
MAX_DETAIL_BYTES = 1024
# Value and key of a dead letter are cut beyond this: under librdkafka's default
# message.max.bytes (1,000,000) and Kafka's (1,048,588), with room for the headers.
MAX_DEAD_LETTER_BYTES = 960 * 1024


def dead_letter_headers(rejected: Rejected) -> Headers:
    """Return the headers of a dead letter: reason, error detail and where the message came from.

    >>> from confluent_kafka import Message
    >>> message = Message(topic="tx", partition=2, offset=41, value=b"{")
    >>> dead_letter_headers(Rejected(message, "not_json", "unexpected end"))[:3]
    [('dlq.reason', b'not_json'), ('dlq.error', b'unexpected end'), ('dlq.source.topic', b'tx')]
    """
    message = rejected.message
    return [
        (REASON, rejected.reason.encode()),
        (ERROR, rejected.detail.encode("utf-8", "replace")[:MAX_DETAIL_BYTES]),
        (SOURCE_TOPIC, str(message.topic()).encode()),
        (SOURCE_PARTITION, str(message.partition()).encode()),
        (SOURCE_OFFSET, str(message.offset()).encode()),
    ]


def dead_letter_record(
    rejected: Rejected, max_bytes: int
) -> tuple[bytes | None, bytes | None, Headers]:
    """Return the value, key and headers of a dead letter, value and key cut to `max_bytes`.

    A message near the broker's size limit would not fit once headers are added: sending it
    whole would fail every time, and the consumer would stop on it forever. Cut, it arrives
    with a `dlq.truncated` header giving the original sizes.

    >>> from confluent_kafka import Message
    >>> big = Rejected(Message(topic="t", partition=0, offset=1, value=b"x" * 10), "oversized", "")
    >>> value, key, headers = dead_letter_record(big, 4)
    >>> value, key, headers[-1]
    (b'xxxx', None, ('dlq.truncated', b'value=10,key=0'))
    """
    message = rejected.message
    value, key = message.value(), message.key()
    headers = dead_letter_headers(rejected)
    if len(value or b"") > max_bytes or len(key or b"") > max_bytes:
        sizes = f"value={len(value or b'')},key={len(key or b'')}"
        headers.append((TRUNCATED, sizes.encode()))
        value = None if value is None else value[:max_bytes]
        key = None if key is None else key[:max_bytes]
    return value, key, headers


def log_dead_letter(rejected: Rejected) -> None:
    """Log one `dead_letter` event: why, and where the message came from."""
    message = rejected.message
    log_event(
        "dead_letter",
        logging.WARNING,
        reason=rejected.reason,
        detail=rejected.detail,
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
    )
