"""Decode a batch whose values may be framed for a Schema Registry (Avro or JSON Schema).

The Confluent wire format: byte 0 is 0 (a JSON text never starts so), bytes 1-4 the schema id
(big-endian), then the payload. Avro payloads are read with the writer's schema, by
`consumer.avro_records`; JSON-Schema payloads and unframed values take the JSON decoder
(`consumer.messages`). Every batch comes out as one `Decoded` in batch order, with the same id
and event-time fallbacks and the same reasons for what is set aside, whatever its framing.

Pure: the caller looks up the batch's schema ids (`schema_ids`) in the registry first and
passes what it found; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter

import numpy as np

from consumer import messages
from consumer.avro_layout import Layout, plan
from consumer.avro_records import HEADER, Group, RecordReader, Rows
from consumer.avro_schema import JSON, NO_REGISTRY, NOT_AVRO, SCHEMA_UNKNOWN, WriterSchema
from consumer.messages import OVERSIZED, Decoded, InputMessage, Rejected

MAGIC = b"\x00"
_LAYOUTS_KEPT = 1024  # schema ids remembered; past this the cache starts afresh


def framed(value: bytes | None) -> bool:
    """Tell whether a value is framed for a Schema Registry (its first byte is 0).

    >>> framed(b"\\x00\\x00\\x00\\x00\\x07payload"), framed(b'{"a": 1}'), framed(None)
    (True, False, False)
    """
    return value is not None and value[:1] == MAGIC


def schema_id(value: bytes) -> int:
    """Return the schema id of a framed value (at least 5 bytes long).

    >>> schema_id(b"\\x00\\x00\\x00\\x01\\x00rest")
    256
    """
    return int.from_bytes(value[1:HEADER], "big")


def schema_ids(values: Sequence[bytes | None]) -> set[int]:
    """Return the schema ids the batch's framed values name: what to look up before decoding.

    >>> sorted(schema_ids([b"\\x00\\x00\\x00\\x00\\x02x", b'{"a": 1}', b"\\x00\\x01", None]))
    [2]
    """
    return {schema_id(v) for v in values if v is not None and len(v) >= HEADER and framed(v)}


class _Located:
    """A message of the batch, its position, and the value the JSON decoder is to read."""

    __slots__ = ("message", "position", "_value")

    def __init__(self, message: InputMessage, position: int, value: bytes | None):
        self.message = message
        self.position = position
        self._value = value

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self.message.key()

    def topic(self) -> str | None:
        return self.message.topic()

    def partition(self) -> int | None:
        return self.message.partition()

    def offset(self) -> int | None:
        return self.message.offset()

    def timestamp(self) -> tuple[int, int]:
        return self.message.timestamp()


class AvroDecoder:
    """Decode batches into the model's features, whatever mix of framings they hold.

    `fast=False` reads every Avro record with fastavro (what the fast path must agree with).

    >>> import io, fastavro
    >>> from confluent_kafka import Message
    >>> from consumer.avro_schema import parse_writer_schema
    >>> text = '{"type": "record", "name": "T", "fields": [{"name": "a", "type": "double"}]}'
    >>> schema = parse_writer_schema(7, "AVRO", text)
    >>> out = io.BytesIO()
    >>> out.write(b"\\x00\\x00\\x00\\x00\\x07")  # the magic byte, schema id 7
    5
    >>> fastavro.schemaless_writer(out, schema.avro, {"a": 2.5})
    >>> batch = [Message(value=out.getvalue(), offset=1), Message(value=b'{"a": 1}', offset=2)]
    >>> decoded = AvroDecoder(["a"]).decode(batch, 1000, {7: schema})
    >>> decoded.features.tolist(), [m.offset() for m in decoded.messages]
    ([[2.5], [1.0]], [1, 2])
    """

    def __init__(self, feature_names: Sequence[str], fast: bool = True):
        self.feature_names = tuple(feature_names)
        self.fast = fast
        self._records = RecordReader(self.feature_names)
        self._layouts: dict[int, Layout] = {}

    def decode(
        self,
        batch: Sequence[InputMessage],
        max_bytes: int,
        schemas: Mapping[int, WriterSchema | None] | None,
    ) -> Decoded:
        """Decode a batch; `schemas` maps each of its `schema_ids` to what the registry holds.

        Parameters:
            batch: consumed messages, errors already removed.
            max_bytes: larger values are rejected as oversized before reading.
            schemas: None when no registry is configured (framed values are then rejected);
                otherwise every id of `schema_ids(values)`, None for an id the registry lacks.

        Raises:
            KeyError: `schemas` lacks an id of the batch (the caller did not look it up).
        """
        values = [message.value() for message in batch]
        framings = list(map(framed, values))
        if not any(framings):  # plain JSON: the usual decoder, no copies
            return messages.decode_batch(batch, self.feature_names, max_bytes)
        parts: list[Rows] = []
        rejected: list[tuple[int, Rejected]] = []
        if not all(framings):
            plain = [_Located(batch[i], i, values[i]) for i, f in enumerate(framings) if not f]
            parts.append(self._json(plain, max_bytes, rejected))
        for group_id, group in _groups(batch, values, max_bytes, schemas, rejected).items():
            schema = schemas[group_id] if schemas is not None else None
            if schema is None:
                detail = f"the registry has no schema with id {group_id}"
                rejected.extend(group.reject(SCHEMA_UNKNOWN, detail))
            elif schema.schema_type == JSON:
                payloads = [_Located(m, i, v[HEADER:]) for i, m, v in group.entries()]
                parts.append(self._json(payloads, max_bytes, rejected))
            else:
                rows, refused = self._records.read(self.layout(schema), group)
                parts.append(rows)
                rejected.extend(refused)
        return _merge(batch, parts, rejected, len(self.feature_names))

    def layout(self, schema: WriterSchema) -> Layout:
        """Return the layout of a writer schema, computed once per schema id."""
        cached = self._layouts.get(schema.schema_id)
        if cached is not None and cached.schema is schema:
            return cached
        if len(self._layouts) >= _LAYOUTS_KEPT:
            self._layouts.clear()
        layout = plan(schema, self.feature_names, self.fast)
        self._layouts[schema.schema_id] = layout
        return layout

    def _json(
        self, located: list[_Located], max_bytes: int, rejected: list[tuple[int, Rejected]]
    ) -> Rows:
        """Decode values with the JSON decoder; return its rows by batch position."""
        decoded = messages.decode_batch(located, self.feature_names, max_bytes)
        for r in decoded.rejected:
            where = r.message
            assert isinstance(where, _Located)
            rejected.append((where.position, Rejected(where.message, r.reason, r.detail)))
        positions = [m.position for m in decoded.messages]  # type: ignore[attr-defined]
        return Rows(positions, decoded.features, decoded.transaction_ids, decoded.event_times)


def _groups(
    batch: Sequence[InputMessage],
    values: list[bytes | None],
    max_bytes: int,
    schemas: Mapping[int, WriterSchema | None] | None,
    rejected: list[tuple[int, Rejected]],
) -> dict[int, Group]:
    """Group the framed values by schema id; reject those that cannot be grouped."""
    if schemas is not None and len(values) > 0:
        present = [v for v in values if v is not None]
        headers = {v[:HEADER] for v in present}
        sizes = list(map(len, present))
        # The usual batch: all framed alike, all of a sane size; one group, no loop.
        alike = len(present) == len(values) and len(headers) == 1
        if alike and min(sizes) >= HEADER and max(sizes) <= max_bytes:
            (header,) = headers
            return {schema_id(header): Group(list(range(len(values))), list(batch), present)}
    groups: dict[int, Group] = {}
    for i, value in enumerate(values):
        if not framed(value):
            continue
        assert value is not None
        if len(value) > max_bytes:
            detail = f"{len(value)} bytes, more than {max_bytes}"
            rejected.append((i, Rejected(batch[i], OVERSIZED, detail)))
        elif len(value) < HEADER:
            detail = f"{len(value)} bytes: too short for the 5-byte Schema Registry header"
            rejected.append((i, Rejected(batch[i], NOT_AVRO, detail)))
        elif schemas is None:
            detail = (
                f"framed for a Schema Registry (schema id {schema_id(value)}) "
                "but no registry is configured"
            )
            rejected.append((i, Rejected(batch[i], NO_REGISTRY, detail)))
        else:
            group = groups.setdefault(schema_id(value), Group([], [], []))
            group.positions.append(i)
            group.messages.append(batch[i])
            group.values.append(value)
    return groups


def _merge(
    batch: Sequence[InputMessage],
    parts: list[Rows],
    rejected: list[tuple[int, Rejected]],
    width: int,
) -> Decoded:
    """Put the parts' rows back in batch order, and the rejected messages too."""
    rejected.sort(key=itemgetter(0))
    set_aside = [r for _, r in rejected]
    if len(parts) == 1:  # one schema, no unframed values: already in batch order
        (part,) = parts
        accepted = [batch[i] for i in part.positions]
        return Decoded(accepted, part.features, part.ids, part.times, set_aside)
    if not parts:
        return Decoded([], np.empty((0, width)), [], np.empty(0), set_aside)
    positions = [i for part in parts for i in part.positions]
    order = np.argsort(np.array(positions, dtype=np.int64), kind="stable").tolist()
    features = np.concatenate([part.features for part in parts])[order]
    times = np.concatenate([part.times for part in parts])[order]
    ids = [i for part in parts for i in part.ids]
    return Decoded(
        [batch[positions[k]] for k in order],
        features,
        [ids[k] for k in order],
        times,
        set_aside,
    )
