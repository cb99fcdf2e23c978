"""Read the Avro records of one writer schema into feature rows: the fast path and fastavro's.

Both paths define the same result: the fast one (a `Prefix` view plus `SimpleTail`) is used
only where the layout proves it reads what fastavro would, and the tests hold them to equal
matrices, bit for bit, on the same records.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter
from typing import Any, cast

import numpy as np
from fastavro import schemaless_reader
from numpy.lib import recfunctions

from consumer import messages
from consumer.avro_layout import Layout, Prefix
from consumer.avro_schema import NOT_AVRO
from consumer.messages import (
    EVENT_TIME_FIELD,
    ID_FIELD,
    NON_FINITE,
    NON_NUMERIC,
    InputMessage,
    Rejected,
)

HEADER = 5  # the magic byte and a 4-byte schema id
_NUMBER_TYPES = frozenset((float, int))  # bool excluded: true is not a number, as in JSON
# What the tail reader raises on a cut-short or malformed payload (UnicodeDecodeError is a
# ValueError).
_INVALID = (ValueError, IndexError, struct.error)


@dataclass(frozen=True)
class Group:
    """Framed values of one schema id: their batch positions, messages and values."""

    positions: list[int]
    messages: list[InputMessage]
    values: list[bytes]

    def take(self, keep: Sequence[bool]) -> Group:
        """Return the entries where `keep` is true."""
        return Group(
            list(compress(self.positions, keep)),
            list(compress(self.messages, keep)),
            list(compress(self.values, keep)),
        )

    def entries(self) -> Iterator[tuple[int, InputMessage, bytes]]:
        """Yield (position, message, value) of each entry."""
        return zip(self.positions, self.messages, self.values, strict=True)

    def reject(self, reason: str, detail: str) -> list[tuple[int, Rejected]]:
        """Return every entry rejected for the same reason."""
        return [(i, Rejected(m, reason, detail)) for i, m, _ in self.entries()]


@dataclass(frozen=True)
class Rows:
    """Scorable messages of part of a batch, by their positions in the batch."""

    positions: list[int]
    features: np.ndarray
    ids: list[str]
    times: np.ndarray

    @staticmethod
    def empty(width: int) -> Rows:
        return Rows([], np.empty((0, width)), [], np.empty(0))


class RecordReader:
    """Read groups of Avro values into rows of the model's features."""

    def __init__(self, feature_names: Sequence[str]):
        self.feature_names = tuple(feature_names)
        self.width = len(self.feature_names)
        self._row = (
            itemgetter(*self.feature_names)
            if self.width > 1
            else (lambda record: tuple(record[name] for name in self.feature_names))
        )

    def read(self, layout: Layout, group: Group) -> tuple[Rows, list[tuple[int, Rejected]]]:
        """Return the group's scorable rows and its rejected messages, by batch position."""
        if layout.refusal is not None:
            return Rows.empty(self.width), group.reject(
                layout.refusal.reason, layout.refusal.detail
            )
        rejected: list[tuple[int, Rejected]] = []
        if layout.prefix is not None:
            group, features, ids, times = self._fast(layout, layout.prefix, group, rejected)
        else:
            group, features, ids, times = self._general(layout, group, rejected)
        finite = np.isfinite(features).all(axis=1)
        if not finite.all():
            for k in np.flatnonzero(~finite).tolist():
                name = self.feature_names[int(np.flatnonzero(~np.isfinite(features[k]))[0])]
                detail = f"{name} is not a finite number"
                rejected.append(
                    (group.positions[k], Rejected(group.messages[k], NON_FINITE, detail))
                )
            keep = finite.tolist()
            group, features = group.take(keep), features[finite]
            ids, times = list(compress(ids, keep)), list(compress(times, keep))
        rows = Rows(
            group.positions,
            features,
            messages.transaction_ids(ids, group.messages),
            messages.event_times(times, group.messages),
        )
        return rows, rejected

    def _fast(
        self, layout: Layout, prefix: Prefix, group: Group, rejected: list[tuple[int, Rejected]]
    ) -> tuple[Group, np.ndarray, list[Any], list[Any]]:
        """Read each value's tail, then every feature at once from the joined prefixes."""
        assert layout.tail is not None
        read, start = layout.tail.read, HEADER + prefix.size
        try:  # the usual batch: every value valid, one pass without a handler per message
            fields = [read(value, start) for value in group.values]
        except _INVALID:
            fields, keep = [], []
            for i, message, value in group.entries():
                try:
                    fields.append(read(value, start))
                except _INVALID as exc:
                    rejected.append((i, Rejected(message, NOT_AVRO, invalid(exc))))
                    keep.append(False)
                    continue
                keep.append(True)
            group = group.take(keep)
        # A bytearray, not bytes: the matrix viewing it stays writable, as the JSON decoder's is.
        joined = bytearray().join([value[HEADER:start] for value in group.values])
        if prefix.plain:
            features = np.frombuffer(joined, "<f8").reshape(len(group.values), self.width)
            times_in_prefix = None
        else:
            records = np.frombuffer(joined, prefix.dtype)
            names = [f"f{k}" for k in range(self.width)]
            features = recfunctions.structured_to_unstructured(records[names], np.float64)
            has_time = "time" in (prefix.dtype.names or ())
            times_in_prefix = records["time"].tolist() if has_time else None
        ids = [tid for tid, _ in fields]
        if times_in_prefix is not None:
            times = times_in_prefix
        elif layout.time.unit is None and not layout.time.unusable:
            times = [time for _, time in fields]
        else:
            times = [layout.time.seconds(time) for _, time in fields]
        return group, features, ids, times

    def _general(
        self, layout: Layout, group: Group, rejected: list[tuple[int, Rejected]]
    ) -> tuple[Group, np.ndarray, list[Any], list[Any]]:
        """Read each record with fastavro, then check its features are numbers."""
        reader = layout.schema.reader
        keep, rows, ids, times = [], [], [], []
        for i, message, value in group.entries():
            stream = io.BytesIO(value)
            stream.seek(HEADER)
            try:
                record = cast(dict[str, Any], schemaless_reader(stream, reader))
            except Exception as exc:  # noqa: BLE001 (EOFError, struct.error...: all "invalid")
                rejected.append((i, Rejected(message, NOT_AVRO, invalid(exc))))
                keep.append(False)
                continue
            row = self._row(record)
            if stream.tell() != len(value):
                trailing = ValueError(
                    f"{len(value) - stream.tell()} bytes after the end of the record"
                )
                rejected.append((i, Rejected(message, NOT_AVRO, invalid(trailing))))
            elif not set(map(type, row)) <= _NUMBER_TYPES:
                rejected.append((i, Rejected(message, NON_NUMERIC, self._non_numeric(row))))
            else:
                keep.append(True)
                rows.append(row)
                ids.append(record.get(ID_FIELD))
                times.append(layout.time.seconds(record.get(EVENT_TIME_FIELD)))
                continue
            keep.append(False)
        features = np.array(rows, dtype=np.float64).reshape(len(rows), self.width)
        return group.take(keep), features, ids, times

    def _non_numeric(self, row: tuple[Any, ...]) -> str:
        pairs = zip(self.feature_names, row, strict=True)
        name, value = next((n, v) for n, v in pairs if type(v) not in _NUMBER_TYPES)
        return f"{name} is null" if value is None else f"{name} is {_python_kind(value)}"


def invalid(exc: BaseException) -> str:
    """Say why a payload is not valid for its schema, in one sentence.

    >>> invalid(IndexError("index out of range"))
    'the payload ends before its record does'
    """
    if isinstance(exc, IndexError | EOFError | struct.error):
        return "the payload ends before its record does"
    return f"not a valid record of its schema ({exc})"


def _python_kind(value: Any) -> str:
    kinds = {str: "a string", bytes: "bytes", bool: "a boolean", dict: "a record", list: "an array"}
    return kinds.get(type(value), f"a {type(value).__name__}")
