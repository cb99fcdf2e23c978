"""Typed decoding of well-formed messages with one msgspec struct of the model's features.

The fast path of `consumer.messages.decode_batch`. Decoding straight into a struct of floats
skips the dict, its key strings and the per-field type checks of the reference path, which
is what bounds the consumer's throughput. It keeps only the messages whose values it can
prove the reference path (orjson, then `json` for what orjson refuses) would read the same
way; every other message (bad input, NaN literals, huge numbers, odd id or time fields, any
non-UTF-8 byte) goes back to the reference path, which decides its fate and its reason.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from typing import Any, cast

import msgspec
import numpy as np

ID_FIELD = "transaction_id"
EVENT_TIME_FIELD = "event_time"
# At or beyond 2**1023 the reference path rejects an integer (its float may overflow); such
# values, and anything not finite, are left to the reference path to judge.
_SAFE_MAGNITUDE = 2.0**1023
# msgspec and orjson agree on integers that fit in 64 bits; beyond, orjson makes floats.
_INT64 = 2**63
_PLAIN_ID_TYPES: frozenset[type] = frozenset((str, type(None)))
_PLAIN_TIME_TYPES: frozenset[type] = frozenset((float, str, type(None)))


@dataclass(frozen=True)
class TypedBatch:
    """What the fast path decoded: `features[k]` and `ids[k]`, `times[k]` are the message at
    position `decoded[k]` of the batch; `others` are the positions left to the reference path.
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
        struct = msgspec.defstruct(
            "Transaction",
            spec,
            rename=rename,
            gc=False,  # holds only floats and scalars: no reference cycles to track
        )
        self.width = len(fields)
        self._decode = msgspec.json.Decoder(struct).decode
        self._row: Callable[[Any], tuple[float, ...]] = (
            attrgetter(*fields) if len(fields) > 1 else lambda s: (s.f0,)
        )
        self._id = attrgetter("transaction_id")
        self._time = attrgetter("event_time")

    def decode(self, values: Sequence[bytes | None], max_bytes: int) -> TypedBatch:
        """Decode what the fast path can; return it and the positions it left alone."""
        structs, decoded, others = self._structs(values, max_bytes)
        flat = chain.from_iterable(map(self._row, structs))
        features = np.fromiter(flat, np.float64, len(structs) * self.width)
        features = features.reshape(len(structs), self.width)
        ids = list(map(self._id, structs))
        times = list(map(self._time, structs))
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
    """Tell whether id and time fields decode the same in msgspec and the reference path."""
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
