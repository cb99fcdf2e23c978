"""What a Schema Registry holds under an id, parsed once: the writer's schema, ready to read with.

Pure: the registry's answer (type, text) comes in, a `WriterSchema` goes out. A schema the
consumer cannot read says why in `problem`, so each of its messages is set aside with that
sentence instead of failing the batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fastavro

AVRO = "AVRO"
JSON = "JSON"

# Reasons for framed values, beside consumer.messages' own (missing_feature, non_numeric...).
NO_REGISTRY = "no_registry"  # a framed value, and no registry is configured to read it
SCHEMA_UNKNOWN = "schema_unknown"  # the registry has no schema under the value's id
SCHEMA_UNSUPPORTED = "schema_unsupported"  # a Protobuf schema, or one fastavro cannot parse
NOT_AVRO = "not_avro"  # the payload is not a valid encoding of its schema
REASONS = (NO_REGISTRY, SCHEMA_UNKNOWN, SCHEMA_UNSUPPORTED, NOT_AVRO)

PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
# What a dict's "type" says when the dict defines a type (else it wraps one, e.g. a reference).
DEFINING = PRIMITIVES | {"record", "error", "enum", "fixed", "array", "map"}


@dataclass(frozen=True, eq=False)
class WriterSchema:
    """A registered schema: its type and, for Avro, the parsed forms the decoder reads with.

    `avro` keeps the logical types (the layout reads them); `reader` is the same schema without
    them, for fastavro's `schemaless_reader`, so that a timestamp comes back as the number that
    was written, never a datetime that may overflow, and both decoding paths convert it alike.
    """

    schema_id: int
    schema_type: str
    avro: Any = None  # a dict for a record, a string for e.g. "double"
    reader: Any = None
    problem: str | None = None

    @property
    def named(self) -> Mapping[str, Any]:
        """Return the named types (records, enums, fixed) by full name."""
        return self.avro.get("__named_schemas", {}) if isinstance(self.avro, dict) else {}


def parse_writer_schema(
    schema_id: int, schema_type: str | None, text: str, references: Sequence[Any] = ()
) -> WriterSchema:
    """Parse what the registry returned for `schema_id`.

    >>> parse_writer_schema(3, "AVRO", '{"type": "record", "name": "T", "fields": []}').problem
    >>> parse_writer_schema(4, "PROTOBUF", "syntax = 'proto3';").problem
    'schema 4 is a PROTOBUF schema; only Avro and JSON Schema are read'
    """
    kind = (schema_type or AVRO).upper()  # the Confluent API leaves out the type of Avro ones
    name = f"schema {schema_id}"
    if kind == JSON:
        return WriterSchema(schema_id, JSON)
    if kind != AVRO:
        problem = f"{name} is a {kind} schema; only Avro and JSON Schema are read"
        return WriterSchema(schema_id, kind, problem=problem)
    if references:
        problem = f"{name} refers to other schemas, which this consumer does not resolve"
        return WriterSchema(schema_id, AVRO, problem=problem)
    try:
        declared = json.loads(text)
        avro = fastavro.parse_schema(declared)
        reader = fastavro.parse_schema(without_logical_types(declared))
    except Exception as exc:  # noqa: BLE001 (fastavro raises several kinds for a bad schema)
        return WriterSchema(schema_id, AVRO, problem=f"{name} does not parse as Avro ({exc})")
    return WriterSchema(schema_id, AVRO, avro, reader)


def without_logical_types(schema: Any) -> Any:
    """Return the schema with every `logicalType` removed (the values read as written).

    >>> without_logical_types({"type": "long", "logicalType": "timestamp-millis"})
    {'type': 'long'}
    """
    if isinstance(schema, list):
        return [without_logical_types(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    stripped = {key: value for key, value in schema.items() if key != "logicalType"}
    for key in ("type", "items", "values"):  # never "default": a value, not a type
        if key in stripped:
            stripped[key] = without_logical_types(stripped[key])
    if "fields" in stripped:
        stripped["fields"] = [without_logical_types(field) for field in stripped["fields"]]
    return stripped


def resolve(avro_type: Any, named: Mapping[str, Any]) -> Any:
    """Return a type itself: a named type's definition for its name, a wrapped type unwrapped.

    >>> resolve("ns.Id", {"ns.Id": {"type": "fixed", "name": "ns.Id", "size": 16}})["size"]
    16
    >>> resolve({"type": ["null", "double"]}, {})
    ['null', 'double']
    """
    while True:
        if isinstance(avro_type, str):
            return avro_type if avro_type in PRIMITIVES else named[avro_type]
        if isinstance(avro_type, dict) and not _defines(avro_type):
            avro_type = avro_type["type"]  # {"type": [...]} or {"type": "ns.Name"}
            continue
        return avro_type


def type_name(avro_type: Any) -> str:
    """Return the kind of a resolved type: a primitive's name, or record, enum, fixed, union...

    >>> type_name({"type": "string"}), type_name(["null", "double"]), type_name("double")
    ('string', 'union', 'double')
    """
    if isinstance(avro_type, list):
        return "union"
    if isinstance(avro_type, dict):
        return str(avro_type["type"])
    return str(avro_type)


def logical_type(avro_type: Any) -> str | None:
    """Return a resolved type's logical type, if it has one."""
    return avro_type.get("logicalType") if isinstance(avro_type, dict) else None


def _defines(avro_type: dict[str, Any]) -> bool:
    kind = avro_type["type"]
    return isinstance(kind, str) and kind in DEFINING
