"""The dead-letter record of a rejected message: its raw bytes, with headers saying why."""

from __future__ import annotations

from consumer.kafka import Headers
from consumer.messages import Rejected

REASON = "dlq.reason"
ERROR = "dlq.error"
SOURCE_TOPIC = "dlq.source.topic"
SOURCE_PARTITION = "dlq.source.partition"
SOURCE_OFFSET = "dlq.source.offset"
MAX_DETAIL_BYTES = 1024


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
