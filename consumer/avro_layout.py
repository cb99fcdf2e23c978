"""Where the model's features sit in the records of one writer schema, computed once per schema.

Avro's binary encoding has no field names or tags: a record is its fields' encodings one after
the other. When every model feature is a plain `double` and every field before the last one
has a fixed size (double 8, float 4, boolean 1, fixed N, null 0), each feature sits at the same
byte offset in every record, so a batch's features are a strided view of the joined prefixes
(`Prefix`). The fields after the prefix still have to be read, to find the transaction id and
event time and to prove the record is whole and valid: `SimpleTail` does that for the scalar
types without building a record. Any other schema is read record by record with fastavro.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from consumer.avro_schema import (
    SCHEMA_UNSUPPORTED,
    WriterSchema,
    logical_type,
    resolve,
    type_name,
)
from consumer.avro_tail import SimpleTail
from consumer.messages import (
    EVENT_TIME_FIELD,
    MISSING_FEATURE,
    NON_NUMERIC,
    NOT_OBJECT,
)

NUMERIC = frozenset(("double", "float", "int", "long"))
FIXED_SIZES = {"null": 0, "boolean": 1, "float": 4, "double": 8}
# Epoch timestamps in these units become seconds; a date or a time of day is no event time.
TIMESTAMP_UNITS = {
    "timestamp-millis": 1_000,
    "timestamp-micros": 1_000_000,
    "timestamp-nanos": 1_000_000_000,
    "local-timestamp-millis": 1_000,  # no zone: read as UTC, as an ISO string without offset
    "local-timestamp-micros": 1_000_000,
    "local-timestamp-nanos": 1_000_000_000,
}
NOT_A_TIMESTAMP = frozenset(("date", "time-millis", "time-micros"))


@dataclass(frozen=True)
class Refusal:
    """Every message of this schema is set aside, for this reason, without being read."""

    reason: str
    detail: str


@dataclass(frozen=True)
class Prefix:
    """The fixed-size fields up to the last feature: `size` bytes right after the header.

    `dtype` is a structured type with the features as f0, f1... in the model's order at
    their offsets, and the event time as `time` when it is a double or float inside the prefix.
    `plain`: the prefix is exactly the features as doubles, in the model's order.
    """

    size: int
    dtype: np.dtype
    plain: bool


@dataclass(frozen=True)
class TimeField:
    """How to turn the `event_time` field, as read, into what `messages.event_time` takes."""

    unit: int | None = None  # an integer timestamp counts these per second
    unusable: bool = False  # a date or a time of day: no event time

    def seconds(self, value: Any) -> Any:
        """Return the field with an integer timestamp turned into seconds, else as read.

        >>> TimeField(unit=1000).seconds(1_700_000_000_123), TimeField().seconds("2024-01-01")
        (1700000000.123, '2024-01-01')
        """
        if self.unusable:
            return None
        if self.unit is not None and type(value) is int:
            return value / self.unit  # int / int: correctly rounded, whatever the size
        return value


@dataclass(frozen=True)
class Layout:
    """How to read one writer schema's records; see the module docstring."""

    schema: WriterSchema
    refusal: Refusal | None = None
    prefix: Prefix | None = None  # None: fastavro reads each record
    tail: SimpleTail | None = None
    time: TimeField = TimeField()


def plan(schema: WriterSchema, feature_names: Sequence[str], fast: bool = True) -> Layout:
    """Return how to read records of `schema` into `feature_names`; fast=False: always fastavro.

    >>> from consumer.avro_schema import parse_writer_schema
    >>> text = '''{"type": "record", "name": "T", "fields": [{"name": "V1", "type": "double"},
    ...     {"name": "flag", "type": "boolean"}, {"name": "V2", "type": "double"},
    ...     {"name": "transaction_id", "type": "string"}]}'''
    >>> layout = plan(parse_writer_schema(1, "AVRO", text), ["V2", "V1"])
    >>> layout.prefix.size, layout.prefix.dtype.fields["f0"][1], layout.prefix.plain
    (17, 9, False)
    >>> plan(parse_writer_schema(1, "AVRO", text), ["V3"]).refusal.detail
    "schema 1 has no field 'V3'"
    """
    if schema.problem is not None or schema.avro is None:
        return Layout(schema, Refusal(SCHEMA_UNSUPPORTED, schema.problem or "no Avro schema"))
    named = schema.named
    kind = type_name(resolve(schema.avro, named))
    if kind != "record":
        detail = f"schema {schema.schema_id} is an Avro {kind}, not a record"
        return Layout(schema, Refusal(NOT_OBJECT, detail))
    fields = [(f["name"], resolve(f["type"], named)) for f in schema.avro["fields"]]
    types = dict(fields)
    refusal = _feature_refusal(schema.schema_id, types, feature_names, named)
    if refusal is not None:
        return Layout(schema, refusal)
    logical = logical_type(_non_null(types.get(EVENT_TIME_FIELD), named)) or ""
    time = TimeField(TIMESTAMP_UNITS.get(logical), logical in NOT_A_TIMESTAMP)
    found = _prefix(fields, feature_names, named) if fast and feature_names else None
    if found is None:
        return Layout(schema, time=time)
    prefix, tail_fields = found
    try:
        tail = SimpleTail(tail_fields, named)
    except TypeError:  # a record, array or map after the features: fastavro reads it all
        return Layout(schema, time=time)
    return Layout(schema, prefix=prefix, tail=tail, time=time)


def _feature_refusal(
    schema_id: int, types: Mapping[str, Any], feature_names: Sequence[str], named: Mapping
) -> Refusal | None:
    """Return why no record of this schema can give the features, or None if some can."""
    for name in feature_names:
        if name not in types:
            return Refusal(MISSING_FEATURE, f"schema {schema_id} has no field {name!r}")
        avro_type = types[name]
        branches = avro_type if isinstance(avro_type, list) else [avro_type]
        if not any(_numeric(resolve(b, named)) for b in branches):
            return Refusal(NON_NUMERIC, f"{name} is an Avro {_describe(avro_type, named)}")
    return None


def _numeric(avro_type: Any) -> bool:
    # Logical types are read as written (see WriterSchema), so a timestamp-millis is a long.
    return type_name(avro_type) in NUMERIC


def _describe(avro_type: Any, named: Mapping) -> str:
    """Name a type for a reader: 'string', 'long (timestamp-millis)', 'union of null, string'."""
    if isinstance(avro_type, list):
        return "union of " + ", ".join(_describe(resolve(b, named), named) for b in avro_type)
    logical = logical_type(avro_type)
    return type_name(avro_type) + (f" ({logical})" if logical else "")


def _non_null(avro_type: Any, named: Mapping) -> Any:
    """Return the first non-null branch of a union, or the type itself."""
    if isinstance(avro_type, list):
        branches = [resolve(b, named) for b in avro_type if b != "null"]
        return branches[0] if branches else "null"
    return avro_type


def _fixed_size(avro_type: Any) -> int | None:
    kind = type_name(avro_type)
    if kind == "fixed":
        return int(avro_type["size"])
    return FIXED_SIZES.get(kind) if isinstance(avro_type, str | dict) else None


def _prefix(
    fields: list[tuple[str, Any]], feature_names: Sequence[str], named: Mapping
) -> tuple[Prefix, list[tuple[str, Any]]] | None:
    """Return the fixed-size prefix up to the last feature and the fields after it, or None."""
    wanted = set(feature_names)
    if any(type_name(avro_type) != "double" for name, avro_type in fields if name in wanted):
        return None  # a float, an int, a nullable feature: fastavro reads those
    last = max(i for i, (name, _) in enumerate(fields) if name in wanted)
    offsets: dict[str, int] = {}
    time_format = None
    offset = 0
    for name, avro_type in fields[: last + 1]:
        size = _fixed_size(avro_type)
        if size is None:
            return None  # a string, varint or union before a feature: no fixed offsets
        offsets[name] = offset
        if name == EVENT_TIME_FIELD and type_name(avro_type) in ("double", "float"):
            time_format = "<f8" if size == 8 else "<f4"
        offset += size
    names = [f"f{i}" for i in range(len(feature_names))]
    spec: dict[str, Any] = {
        "names": names,
        "formats": ["<f8"] * len(names),
        "offsets": [offsets[name] for name in feature_names],
        "itemsize": offset,
    }
    if time_format is not None:
        spec["names"] = [*names, "time"]
        spec["formats"] = [*spec["formats"], time_format]
        spec["offsets"] = [*spec["offsets"], offsets[EVENT_TIME_FIELD]]
    plain = spec["offsets"] == list(range(0, 8 * len(names), 8)) and offset == 8 * len(names)
    return Prefix(offset, np.dtype(cast(Any, spec)), plain), fields[last + 1 :]
