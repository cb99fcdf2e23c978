"""Decode the labels topic: one verdict per message, or a reason to dead-letter it. Pure.

A verdict is a JSON object keyed by transaction id (docs/feedback.md):

    {"transaction_id": "creditcard-541", "fraud": true, "source": "chargeback",
     "labelled_at": "2026-12-02T09:14:00Z"}

`fraud` is a JSON boolean, `source` a non-empty string (analyst, chargeback...), `labelled_at`
epoch seconds or ISO 8601 (UTC when it has no offset). Other fields are ignored. What does not
fit becomes a `consumer.messages.Rejected` with one of REASONS, dead-lettered by
`consumer.deadletter` exactly as a transaction is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from consumer.errors import InvalidMessageError
from consumer.messages import (
    NOT_JSON,
    NOT_OBJECT,
    OVERSIZED,
    InputMessage,
    Rejected,
    json_type,
)

MISSING_FIELD = "missing_field"
BAD_FIELD = "bad_field"
REASONS = (NOT_JSON, NOT_OBJECT, MISSING_FIELD, BAD_FIELD, OVERSIZED)

FIELDS = ("transaction_id", "fraud", "source", "labelled_at")
_NUMBER_TYPES = frozenset((int, float))  # bool excluded on purpose, as in consumer.messages


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a fraud team decided about one transaction, and when."""

    transaction_id: str
    fraud: bool
    source: str
    labelled_at: float  # epoch seconds

    @property
    def name(self) -> str:
        """Return the verdict as its metrics label: "fraud" or "legit"."""
        return verdict_name(self.fraud)


@dataclass(frozen=True)
class DecodedVerdicts:
    """A batch's verdicts, each beside the message it came from, and the rejected messages."""

    verdicts: list[tuple[InputMessage, Verdict]]
    rejected: list[Rejected]


def decode_verdicts(messages: Sequence[InputMessage], max_bytes: int) -> DecodedVerdicts:
    """Decode every message of a batch with `decode_verdict`, keeping batch order.

    >>> from confluent_kafka import Message
    >>> good = Message(topic="labels", partition=0, offset=1, value=b'{"transaction_id": "t1",'
    ...     b' "fraud": false, "source": "analyst", "labelled_at": 1700000000}')
    >>> bad = Message(topic="labels", partition=0, offset=2, value=b'{"fraud": true}')
    >>> batch = decode_verdicts([good, bad], 1024)
    >>> [v.name for _, v in batch.verdicts], [(r.reason, r.detail) for r in batch.rejected]
    (['legit'], [('missing_field', "no field 'transaction_id'")])
    """
    verdicts: list[tuple[InputMessage, Verdict]] = []
    rejected: list[Rejected] = []
    for message in messages:
        try:
            verdicts.append((message, decode_verdict(message.value(), max_bytes)))
        except InvalidMessageError as exc:
            rejected.append(Rejected(message, exc.reason, exc.detail))
    return DecodedVerdicts(verdicts, rejected)


def json_object(value: bytes | None, max_bytes: int | None = None) -> dict[str, Any]:
    """Decode a message value that must be one JSON object, of at most `max_bytes` if given.

    Raises:
        InvalidMessageError: NOT_JSON (a tombstone, or not JSON), OVERSIZED or NOT_OBJECT.

    >>> json_object(b'{"a": 1}')
    {'a': 1}
    >>> json_object(b'[1]')
    Traceback (most recent call last):
    consumer.errors.InvalidMessageError: not_object: a JSON array, not an object
    """
    if value is None:
        raise InvalidMessageError(NOT_JSON, "empty value (a tombstone)")
    if max_bytes is not None and len(value) > max_bytes:
        raise InvalidMessageError(OVERSIZED, f"{len(value)} bytes, more than {max_bytes}")
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessageError(NOT_JSON, str(exc)) from None
    if type(obj) is not dict:
        raise InvalidMessageError(NOT_OBJECT, f"a JSON {json_type(obj)}, not an object")
    return obj


def decode_verdict(value: bytes | None, max_bytes: int) -> Verdict:
    """Decode one message value into a Verdict.

    Raises:
        InvalidMessageError: with one of REASONS and a sentence saying what is wrong.

    >>> decode_verdict(b'{"transaction_id": 42, "fraud": true, "source": "chargeback",'
    ...                b' "labelled_at": "2024-01-01T00:00:00Z"}', 1024)
    Verdict(transaction_id='42', fraud=True, source='chargeback', labelled_at=1704067200.0)
    >>> decode_verdict(b'{"transaction_id": "t", "fraud": 1, "source": "a", "labelled_at": 0}', 99)
    Traceback (most recent call last):
    consumer.errors.InvalidMessageError: bad_field: fraud is a JSON number, not true or false
    """
    obj = json_object(value, max_bytes)
    for name in FIELDS:
        if name not in obj:
            raise InvalidMessageError(MISSING_FIELD, f"no field {name!r}")
    fraud = obj["fraud"]
    if type(fraud) is not bool:
        raise InvalidMessageError(
            BAD_FIELD, f"fraud is a JSON {json_type(fraud)}, not true or false"
        )
    return Verdict(
        transaction_id_of(obj["transaction_id"]),
        fraud,
        source_of(obj["source"]),
        labelled_at_of(obj["labelled_at"]),
    )


def transaction_id_of(field: Any) -> str:
    """Return the transaction id: a non-empty string, or an integer as the scorer writes it.

    Raises:
        InvalidMessageError: bad_field, for anything else.
    """
    if type(field) is int:
        return str(field)  # the scorer turns integer ids into strings the same way
    if type(field) is not str or not field:
        raise InvalidMessageError(
            BAD_FIELD, f"transaction_id is {_shown(field)}, not a non-empty string"
        )
    return field  # orjson refuses lone surrogates: every string here encodes as UTF-8


def source_of(field: Any) -> str:
    """Return the verdict's source (analyst, chargeback...): any non-empty string.

    Raises:
        InvalidMessageError: bad_field, for anything else.
    """
    if type(field) is not str or not field.strip():
        raise InvalidMessageError(BAD_FIELD, f"source is {_shown(field)}, not a non-empty string")
    return field


def labelled_at_of(field: Any) -> float:
    """Return `labelled_at` in epoch seconds: a finite number, or ISO 8601 (UTC if no offset).

    Raises:
        InvalidMessageError: bad_field, for anything else.

    >>> labelled_at_of("2024-01-01T01:00:00+01:00"), labelled_at_of(1.5)
    (1704067200.0, 1.5)
    """
    if type(field) in _NUMBER_TYPES:
        return float(field)  # finite: orjson refuses NaN, infinities and overflowing numbers
    if type(field) is str:
        try:
            moment = datetime.fromisoformat(field)
        except ValueError:
            raise InvalidMessageError(
                BAD_FIELD, f"labelled_at {field[:40]!r} is not an ISO 8601 time"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    raise InvalidMessageError(
        BAD_FIELD, f"labelled_at is a JSON {json_type(field)}, not epoch seconds or ISO 8601"
    )


def verdict_name(fraud: bool) -> str:
    """Return a verdict's metrics label.

    >>> verdict_name(True), verdict_name(False)
    ('fraud', 'legit')
    """
    return "fraud" if fraud else "legit"


def _shown(value: Any) -> str:
    if type(value) is str:
        return "an empty string" if not value.strip() else f"the string {value[:40]!r}"
    return f"a JSON {json_type(value)}"
