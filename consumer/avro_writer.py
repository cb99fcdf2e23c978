"""Write records as Avro framed for a Schema Registry: the schema registered once, then bytes.

What `consumer replay --format avro` writes (a transaction schema made from the CSV's columns)
and what `consumer run --output-format avro` writes (the alert and score schemas below), each
registered under `TOPIC-value`, as confluent-kafka's serializers name subjects. The framing is
Confluent's: byte 0, the 4-byte schema id, then the record in Avro's binary encoding.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import fastavro

from consumer.errors import ConfigError
from consumer.messages import EVENT_TIME_FIELD, ID_FIELD
from consumer.records import RecordFormats
from consumer.schema_registry import RegistryUnavailableError

NAMESPACE = "fraudstream"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
NULLABLE_DOUBLE = ["null", "double"]
NULLABLE_STRING = ["null", "string"]
# Where each record came from and what the model said: the alert document of the README.
_ALERT_FIELDS: list[dict[str, Any]] = [
    {"name": "transaction_id", "type": "string"},
    {"name": "score", "type": "double", "doc": "capped finite when the input overflowed"},
    {"name": "threshold", "type": "double"},
    {"name": "model_version", "type": "string"},
    {"name": "source_topic", "type": NULLABLE_STRING},
    {"name": "source_partition", "type": ["null", "int"]},
    {"name": "source_offset", "type": ["null", "long"]},
    {"name": "event_time", "type": NULLABLE_STRING, "doc": "ISO 8601 UTC, null if unknown"},
    {"name": "scored_at", "type": NULLABLE_STRING},
    {
        "name": "top_features",
        "type": {
            "type": "array",
            "items": {
                "type": "record",
                "name": "Contribution",
                "fields": [
                    {"name": "feature", "type": "string"},
                    {"name": "contribution", "type": NULLABLE_DOUBLE},
                    {"name": "value", "type": NULLABLE_DOUBLE},
                ],
            },
        },
    },
    {"name": "reasons", "type": {"type": "array", "items": "string"}},
    {"name": "probability", "type": NULLABLE_DOUBLE, "default": None},
    {"name": "probability_threshold", "type": NULLABLE_DOUBLE, "default": None},
    {
        "name": "out_of_range",
        "type": {"type": "array", "items": "string"},
        "default": [],
        "doc": "the features whose values lie far outside their training range",
    },
    {"name": "overflow", "type": "boolean", "default": False},
]
ALERT_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Alert",
    "namespace": NAMESPACE,
    "fields": _ALERT_FIELDS,
}
SCORE_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Score",
    "namespace": NAMESPACE,
    # The same fields under another record name: the nested Contribution is defined here too.
    "fields": [*_ALERT_FIELDS, {"name": "alert", "type": "boolean"}],
}


class SchemaRegistrar(Protocol):
    """The call of confluent-kafka's `SchemaRegistryClient` that registers a schema."""

    def register_schema(self, subject_name: str, schema: Any) -> int: ...


def register(client: SchemaRegistrar, topic: str, schema: Mapping[str, Any]) -> int:
    """Register an Avro schema under `TOPIC-value`; return its id (the same id if it exists)."""
    from confluent_kafka.schema_registry import Schema

    return client.register_schema(f"{topic}-value", Schema(json.dumps(schema), "AVRO"))


class FramedWriter:
    """Encode records of one registered schema, framed with its id.

    >>> writer = FramedWriter(7, {"type": "record", "name": "T", "fields": [
    ...     {"name": "a", "type": "double"}]})
    >>> writer.encode({"a": 1.0})
    b'\\x00\\x00\\x00\\x00\\x07\\x00\\x00\\x00\\x00\\x00\\x00\\xf0?'
    """

    def __init__(self, schema_id: int, schema: Mapping[str, Any]):
        self.schema_id = schema_id
        self.header = b"\x00" + schema_id.to_bytes(4, "big")
        self.schema = schema
        self.parsed = fastavro.parse_schema(dict(schema))

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Return the framed binary encoding of one record."""
        out = io.BytesIO()
        out.write(self.header)
        fastavro.schemaless_writer(out, self.parsed, record)
        return out.getvalue()


def transaction_schema(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return a record schema for CSV rows: numbers as doubles, text as strings, then the id and
    the event time (microseconds since the epoch, a `timestamp-micros`).

    A column with an empty cell is nullable; one with any text is a string column.

    >>> schema = transaction_schema(["V1", "card"], [{"V1": 1, "card": "x"}, {"V1": None}])
    >>> [(f["name"], f["type"]) for f in schema["fields"][:3]]
    [('V1', ['null', 'double']), ('card', ['null', 'string']), ('transaction_id', 'string')]

    Raises:
        ConfigError: a column name is not a valid Avro field name.
    """
    fields: list[dict[str, Any]] = []
    for column in columns:
        if column in (ID_FIELD, EVENT_TIME_FIELD):
            continue
        if not _NAME.match(column):
            raise ConfigError(
                f"column {column!r} is not a valid Avro field name (letters, digits and _, "
                "not starting with a digit): rename it to replay as Avro"
            )
        values = [row.get(column) for row in rows]
        if any(isinstance(v, str) for v in values):
            kind: Any = NULLABLE_STRING
        elif any(v is None for v in values):
            kind = NULLABLE_DOUBLE
        else:
            kind = "double"
        fields.append({"name": column, "type": kind})
    fields.append({"name": ID_FIELD, "type": "string"})
    fields.append(
        {"name": EVENT_TIME_FIELD, "type": {"type": "long", "logicalType": "timestamp-micros"}}
    )
    return {"type": "record", "name": "Transaction", "namespace": NAMESPACE, "fields": fields}


class TransactionWriter:
    """Encode replayed transactions (dicts of CSV cells, an id, event time in epoch seconds).

    >>> schema = transaction_schema(["a"], [{"a": 1}])
    >>> value = TransactionWriter(FramedWriter(3, schema)).encode(
    ...     {"a": 1, "transaction_id": "t-0", "event_time": 1.5})
    >>> value[:5], len(value)
    (b'\\x00\\x00\\x00\\x00\\x03', 21)
    """

    def __init__(self, writer: FramedWriter):
        self.writer = writer
        fields = writer.schema["fields"]
        self.text_columns = [f["name"] for f in fields if f["type"] == NULLABLE_STRING]

    def encode(self, transaction: dict[str, Any]) -> bytes:
        """Return one transaction's framed value (the dict is changed in place)."""
        transaction[ID_FIELD] = str(transaction[ID_FIELD])
        transaction[EVENT_TIME_FIELD] = round(transaction[EVENT_TIME_FIELD] * 1_000_000)
        for column in self.text_columns:
            value = transaction.get(column)
            if value is not None and not isinstance(value, str):
                transaction[column] = str(value)
        return self.writer.encode(transaction)


def avro_records(
    client: SchemaRegistrar, alert_topic: str, scores_topic: str | None
) -> RecordFormats:
    """Return formats writing alerts and score records as Avro, their schemas registered under
    their topics.

    Raises:
        RegistryUnavailableError: the registry refused or could not be asked.
    """
    try:
        alert = FramedWriter(register(client, alert_topic, ALERT_SCHEMA), ALERT_SCHEMA)
        score = (
            FramedWriter(register(client, scores_topic, SCORE_SCHEMA), SCORE_SCHEMA)
            if scores_topic is not None
            else None
        )
    except Exception as exc:  # noqa: BLE001 (the client raises its HTTP library's errors)
        raise RegistryUnavailableError(
            f"cannot register the output schemas in the Schema Registry: {exc}"
        ) from exc
    if score is None:
        return RecordFormats(alert=alert.encode)
    return RecordFormats(alert=alert.encode, score=score.encode)
