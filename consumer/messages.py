"""Decode a batch of raw Kafka messages into a feature matrix, setting aside what cannot be scored.

Pure: no I/O, no clock. The hot path, `TypedDecoder` below, decodes each well-formed message
straight into a struct of floats and the batch into one numpy array; anything unusual (bad
input, NaN literals, huge numbers) takes the strict path below (`parse_value`), one
`orjson.loads` per message, which defines what is accepted and why the rest is rejected.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain, starmap
from operator import itemgetter
from typing import Any, Protocol, cast

import msgspec
import numpy as np
import orjson

from consumer.errors import InvalidMessageError

NOT_JSON = "not_json"
NOT_OBJECT = "not_object"
MISSING_FEATURE = "missing_feature"
NON_NUMERIC = "non_numeric"
NON_FINITE = "non_finite"
OVERSIZED = "oversized"
REASONS = (NOT_JSON, NOT_OBJECT, MISSING_FEATURE, NON_NUMERIC, NON_FINITE, OVERSIZED)

ID_FIELD = "transaction_id"
EVENT_TIME_FIELD = "event_time"

_NUMBER_TYPES = frozenset((int, float))  # bool is excluded on purpose: true is not a number
_LARGEST_FLOAT_INT = 2**1023  # ints beyond this overflow float64 to inf
_NO_TIMESTAMP = 0  # confluent_kafka.TIMESTAMP_NOT_AVAILABLE


class InputMessage(Protocol):
    """The parts of a consumed Kafka message the decoder reads."""

    def value(self) -> bytes | None: ...
    def key(self) -> bytes | None: ...
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def timestamp(self) -> tuple[int, int]: ...


@dataclass(frozen=True)
class Rejected:
    """A message that cannot be scored, with the reason (one of REASONS) and a detail."""

    message: InputMessage
    reason: str
    detail: str


@dataclass(frozen=True)
class Decoded:
    """The scorable messages of a batch, row i of `features` belonging to `messages[i]`."""

    messages: list[InputMessage]
    features: np.ndarray
    transaction_ids: list[str]
    event_times: np.ndarray  # seconds since the epoch; NaN when neither field nor broker has one
    rejected: list[Rejected]


def decode_batch(
    messages: Sequence[InputMessage], feature_names: Sequence[str], max_bytes: int
) -> Decoded:
    """Decode messages into a float64 matrix with one column per feature, in `feature_names` order.

    Well-formed messages take the typed fast path (`TypedDecoder`); the rest are parsed one
    by one with `parse_value`, which defines what is accepted and why the rest is rejected.

    Parameters:
        messages: consumed messages, errors already removed.
        feature_names: the model's features; each must be a numeric field of the JSON object.
        max_bytes: larger values are rejected as oversized before parsing.

    Returns:
        The accepted messages with their features, ids and event times, and the rejected ones.

    >>> from confluent_kafka import Message
    >>> good = Message(topic="t", partition=0, offset=7, value=b'{"a": 1, "b": 2.5}')
    >>> bad = Message(topic="t", partition=0, offset=8, value=b'{"a": 1}')
    >>> batch = decode_batch([good, bad], ["a", "b"], max_bytes=1024)
    >>> batch.features, batch.transaction_ids, [(r.reason, r.detail) for r in batch.rejected]
    (array([[1. , 2.5]]), ['t-0-7'], [('missing_feature', "no field 'b'")])
    """
    values = [message.value() for message in messages]
    decoder = typed_decoder(tuple(feature_names))
    if decoder is None:
        fast = TypedBatch([], np.empty((0, len(feature_names))), [], [], list(range(len(values))))
    else:
        fast = decoder.decode(values, max_bytes)
    if not fast.others:  # the usual batch: nothing unusual, no copies
        accepted = list(messages)
        return Decoded(
            accepted,
            fast.features,
            transaction_ids(fast.ids, accepted),
            event_times(fast.times, accepted),
            [],
        )
    return _merge(messages, values, fast, feature_names, max_bytes)


def _merge(
    messages: Sequence[InputMessage],
    values: list[bytes | None],
    fast: TypedBatch,
    feature_names: Sequence[str],
    max_bytes: int,
) -> Decoded:
    """Parse what the fast path left with `parse_value`; return all rows in batch order."""
    rows: list[tuple[Any, ...]] = []
    objects: list[dict[str, Any]] = []
    parsed: list[int] = []
    rejected: list[Rejected] = []
    getter = _row_getter(feature_names)
    for i in fast.others:
        try:
            row, obj = parse_value(values[i], feature_names, max_bytes, getter)
        except InvalidMessageError as exc:
            rejected.append(Rejected(messages[i], exc.reason, exc.detail))
            continue
        parsed.append(i)
        rows.append(row)
        objects.append(obj)
    width = len(feature_names)
    flat = np.fromiter(chain.from_iterable(rows), np.float64, len(rows) * width)
    order = np.argsort(np.array(fast.decoded + parsed, dtype=np.int64), kind="stable")
    features = np.concatenate([fast.features, flat.reshape(len(rows), width)])[order]
    positions = [(fast.decoded + parsed)[k] for k in order.tolist()]
    ids = fast.ids + [obj.get(ID_FIELD) for obj in objects]
    times = fast.times + [obj.get(EVENT_TIME_FIELD) for obj in objects]
    ids = [ids[k] for k in order.tolist()]
    times = [times[k] for k in order.tolist()]
    finite = np.asarray(np.isfinite(features).all(axis=1))  # an array, not a scalar union
    if not finite.all():
        for k in np.flatnonzero(~finite):
            bad = feature_names[int(np.flatnonzero(~np.isfinite(features[k]))[0])]
            message = messages[positions[k]]
            rejected.append(Rejected(message, NON_FINITE, f"{bad} is not a finite number"))
        keep = finite.tolist()
        positions = [p for p, ok in zip(positions, keep, strict=True) if ok]
        ids = [v for v, ok in zip(ids, keep, strict=True) if ok]
        times = [v for v, ok in zip(times, keep, strict=True) if ok]
        features = features[finite]
    accepted = [messages[p] for p in positions]
    return Decoded(
        accepted,
        features,
        transaction_ids(ids, accepted),
        event_times(times, accepted),
        rejected,
    )


def parse_value(
    value: bytes | None,
    feature_names: Sequence[str],
    max_bytes: int,
    getter: Callable[[dict[str, Any]], tuple[Any, ...]] | None = None,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Parse one message value; return its feature values in order and the whole object.

    Raises:
        InvalidMessageError: the value is oversized, not JSON, not an object, lacks a feature
            or has a non-numeric one. Non-finite values are caught later, for the whole batch.

    >>> parse_value(b'{"a": 2, "b": -1.5, "note": "x"}', ["b", "a"], 100)[0]
    (-1.5, 2)
    >>> parse_value(b'[1, 2]', ["a"], 100)
    Traceback (most recent call last):
    consumer.errors.InvalidMessageError: not_object: a JSON array, not an object
    """
    if value is None:
        raise InvalidMessageError(NOT_JSON, "empty value (a tombstone)")
    if len(value) > max_bytes:
        raise InvalidMessageError(OVERSIZED, f"{len(value)} bytes, more than {max_bytes}")
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        obj = _lenient_loads(value, exc)
    if type(obj) is not dict:
        raise InvalidMessageError(NOT_OBJECT, f"a JSON {json_type(obj)}, not an object")
    try:
        row = (getter or _row_getter(feature_names))(obj)
    except KeyError as exc:
        raise InvalidMessageError(MISSING_FEATURE, f"no field {exc.args[0]!r}") from None
    types = set(map(type, row))
    if not types <= _NUMBER_TYPES:
        pairs = zip(feature_names, row, strict=True)
        name, bad = next((n, v) for n, v in pairs if type(v) not in _NUMBER_TYPES)
        raise InvalidMessageError(NON_NUMERIC, f"{name} is a JSON {json_type(bad)}")
    if int in types:
        for name, v in zip(feature_names, row, strict=True):
            if type(v) is int and abs(v) >= _LARGEST_FLOAT_INT:
                raise InvalidMessageError(NON_FINITE, f"{name} is too large for a float")
    return row, obj


def transaction_ids(fields: list[Any], messages: Sequence[InputMessage]) -> list[str]:
    """Return each message's id (see `transaction_id`) from its `transaction_id` field."""
    ids = [
        field if type(field) is str and field else transaction_id(field, message)
        for field, message in zip(fields, messages, strict=True)
    ]
    if _encodable("".join(ids)):  # one check for the batch, not one per id
        return ids
    return [transaction_id(f, m) for f, m in zip(fields, messages, strict=True)]


def transaction_id(field: Any, message: InputMessage) -> str:
    """Return the `transaction_id` field, else the message key, else topic-partition-offset.

    >>> from confluent_kafka import Message
    >>> transaction_id(None, Message(topic="t", partition=1, offset=5, key=b"k"))
    'k'
    """
    if isinstance(field, str) and field and _encodable(field):
        return field
    if type(field) is int:
        return str(field)
    key = message.key()
    if key:
        return key.decode("utf-8", "replace")
    return f"{message.topic()}-{message.partition()}-{message.offset()}"


def event_times(fields: list[Any], messages: Sequence[InputMessage]) -> np.ndarray:
    """Return each message's event time (see `event_time`) from its `event_time` field."""
    if fields and set(map(type, fields)) == {float}:
        times = np.array(fields, dtype=np.float64)
        if np.isfinite(times).all():  # the usual batch: numbers from the producer's clock
            return times
    times = np.array([event_time(f, m) for f, m in zip(fields, messages, strict=True)])
    return times.reshape(len(fields))


def event_time(field: Any, message: InputMessage) -> float:
    """Return the event time in epoch seconds: the `event_time` field, else the broker timestamp.

    The field may be a number of seconds since the epoch or an ISO 8601 string (UTC if it has
    no offset). An unusable field (not finite, too large for a float) falls back to the broker
    timestamp; NaN if there is none.

    >>> from confluent_kafka import Message
    >>> event_time("2024-01-01T00:00:00Z", Message())
    1704067200.0
    >>> event_time(10**400, Message(timestamp=(1, 1500)))
    1.5
    """
    value = field
    # isinstance narrows the type for mypy; the exact type() check leaves out bool.
    if isinstance(value, int | float) and type(value) in _NUMBER_TYPES:
        try:
            seconds = float(value)  # a huge int (json.loads fallback) overflows here
        except (OverflowError, ValueError):
            seconds = math.nan
        if math.isfinite(seconds):
            return seconds
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    kind, millis = message.timestamp()
    return millis / 1000.0 if kind != _NO_TIMESTAMP else math.nan


def _encodable(text: str) -> bool:
    """Tell whether `text` encodes as UTF-8 (json.loads accepts lone surrogates like \\ud800)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _row_getter(feature_names: Sequence[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """Return a C-speed function mapping an object to the tuple of its feature values."""
    if len(feature_names) == 1:  # itemgetter of one name returns the value, not a tuple
        name = feature_names[0]
        return lambda obj: (obj[name],)
    return itemgetter(*feature_names)


def _lenient_loads(value: bytes, error: orjson.JSONDecodeError) -> Any:
    """Parse what orjson refuses but is worth a precise reason (NaN, Infinity, 1e999)."""
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        raise InvalidMessageError(NOT_JSON, str(error)) from None


def json_type(value: Any) -> str:
    """Name a decoded JSON value's type as JSON does.

    >>> json_type([1]), json_type(True), json_type(2.5)
    ('array', 'boolean', 'number')
    """
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


# The typed fast path. Decoding straight into a msgspec struct of floats skips the dict, its key
# strings and the per-field type checks of the strict path, which is what bounds the
# consumer's throughput. It keeps only the messages whose values it can prove the strict
# path (orjson, then `json` for what orjson refuses) would read the same way; every other
# message (bad input, NaN literals, huge numbers, odd id or time fields, any non-UTF-8 byte)
# goes back to the strict path, which decides its fate and its reason.

# At or beyond 2**1023 the strict path rejects an integer (its float may overflow); such
# values, and anything not finite, are left to the strict path to judge.
_SAFE_MAGNITUDE = 2.0**1023
# msgspec and orjson agree on integers that fit in 64 bits; beyond, orjson makes floats.
_INT64 = 2**63
_PLAIN_ID_TYPES: frozenset[type] = frozenset((str, type(None)))
_PLAIN_TIME_TYPES: frozenset[type] = frozenset((float, str, type(None)))


@dataclass(frozen=True)
class TypedBatch:
    """What the fast path decoded: `features[k]` and `ids[k]`, `times[k]` are the message at
    position `decoded[k]` of the batch; `others` are the positions left to the strict path.
    """

    decoded: list[int]
    features: np.ndarray
    ids: list[Any]  # the raw `transaction_id` fields (str, int or None)
    times: list[Any]  # the raw `event_time` fields (float, int, str or None)
    others: list[int]


class TypedDecoder:
    """Decode message values into a struct with one float field per feature.

    >>> decoder = TypedDecoder(("a", "b"))
    >>> batch = decoder.decode([b'{"b": 2, "a": 1.5, "transaction_id": "t1"}', b'{"a": 1}'], 100)
    >>> batch.features, batch.ids, batch.others
    (array([[1.5, 2. ]]), ['t1'], [1])
    """

    def __init__(self, feature_names: Sequence[str]):
        fields = [f"f{i}" for i in range(len(feature_names))]
        rename = dict(zip(fields, feature_names, strict=True))
        rename |= {"transaction_id": ID_FIELD, "event_time": EVENT_TIME_FIELD}
        if len(set(rename.values())) != len(rename):
            raise ValueError("feature names repeat or clash with transaction_id or event_time")
        spec: list[tuple[str, Any] | tuple[str, Any, Any]] = [(name, float) for name in fields]
        spec += [("transaction_id", Any, None), ("event_time", Any, None)]
        transaction = msgspec.defstruct(
            "Transaction",
            spec,
            rename=rename,
            gc=False,  # holds only floats and scalars: no reference cycles to track
        )
        self.width = len(fields)
        self._decode = msgspec.json.Decoder(transaction).decode
        # A struct's tuple holds its features first, then its id and time. Packing each
        # row's features as `width` native doubles and viewing the joined bytes as a matrix
        # runs in C from end to end: about twice as fast as numpy reading the floats one by one.
        self._features = itemgetter(slice(0, self.width))
        self._pack = struct.Struct(f"={self.width}d").pack
        self._id = itemgetter(self.width)
        self._time = itemgetter(self.width + 1)

    def decode(self, values: Sequence[bytes | None], max_bytes: int) -> TypedBatch:
        """Decode what the fast path can; return it and the positions it left alone."""
        structs, decoded, others = self._structs(values, max_bytes)
        tuples = list(map(msgspec.structs.astuple, structs))
        packed = bytearray().join(starmap(self._pack, map(self._features, tuples)))
        features = np.frombuffer(packed, np.float64).reshape(len(tuples), self.width)
        ids = list(map(self._id, tuples))
        times = list(map(self._time, tuples))
        keep = np.abs(features) < _SAFE_MAGNITUDE  # False for NaN and infinities too
        plain = keep.all(axis=1)
        extras = _plain(ids, _PLAIN_ID_TYPES) and _plain(times, _PLAIN_TIME_TYPES)
        if not (plain.all() and extras):
            plain &= np.array([_plain_extras(i, t) for i, t in zip(ids, times, strict=True)])
            rows = np.flatnonzero(plain).tolist()
            others = sorted([*others, *(decoded[k] for k in np.flatnonzero(~plain).tolist())])
            decoded = [decoded[k] for k in rows]
            ids = [ids[k] for k in rows]
            times = [times[k] for k in rows]
            features = features[plain]
        return TypedBatch(decoded, features, ids, times, others)

    def _structs(
        self, values: Sequence[bytes | None], max_bytes: int
    ) -> tuple[list[Any], list[int], list[int]]:
        """Decode every value, one C call each; on any failure, sort them out one by one."""
        try:
            # None, an oversized or a non-ASCII value fails here; so does a malformed one.
            present = cast(Sequence[bytes], values)  # a None fails len(), and lands below
            if max(map(len, present), default=0) > max_bytes or not all(
                map(bytes.isascii, present)
            ):
                raise ValueError
            return list(map(self._decode, present)), list(range(len(values))), []
        except Exception:  # noqa: BLE001 (msgspec errors, RecursionError...: all mean "not here")
            pass
        structs: list[Any] = []
        decoded: list[int] = []
        others: list[int] = []
        for i, value in enumerate(values):
            if value is None or len(value) > max_bytes or not _utf8(value):
                others.append(i)
                continue
            try:
                structs.append(self._decode(value))
            except Exception:  # noqa: BLE001
                others.append(i)
                continue
            decoded.append(i)
        return structs, decoded, others


@lru_cache(maxsize=8)
def typed_decoder(feature_names: tuple[str, ...]) -> TypedDecoder | None:
    """Return the decoder for these features, or None if they cannot form a struct."""
    try:
        return TypedDecoder(feature_names)
    except (ValueError, TypeError):
        return None


def _plain(values: list[Any], types: frozenset[type]) -> bool:
    return set(map(type, values)) <= types


def _plain_extras(tid: Any, time: Any) -> bool:
    """Tell whether id and time fields decode the same in msgspec and the strict path."""
    id_ok = type(tid) in _PLAIN_ID_TYPES or (type(tid) is int and -_INT64 <= tid < _INT64)
    time_ok = type(time) in _PLAIN_TIME_TYPES or (type(time) is int and -_INT64 <= time < _INT64)
    return id_ok and time_ok


def _utf8(value: bytes) -> bool:
    if value.isascii():
        return True
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True
