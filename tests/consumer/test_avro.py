"""The Avro decoder: both paths on every schema shape, each reason, and fast == fastavro."""

from __future__ import annotations

import io
import json
import math
import struct
from typing import Any

import fastavro
import numpy as np
import orjson
import pytest
from confluent_kafka import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.avro import AvroDecoder, schema_ids
from consumer.avro_schema import (
    NO_REGISTRY,
    NOT_AVRO,
    SCHEMA_UNKNOWN,
    SCHEMA_UNSUPPORTED,
    WriterSchema,
    parse_writer_schema,
)
from consumer.messages import (
    MISSING_FEATURE,
    NON_FINITE,
    NON_NUMERIC,
    NOT_OBJECT,
    OVERSIZED,
    Decoded,
)

NAMES = ("V1", "V2", "Amount")
BROKER_MS = 1_700_000_000_000
TIMESTAMP_MS = {"type": "long", "logicalType": "timestamp-millis"}


def record_schema(*fields: tuple[str, Any], name: str = "Transaction") -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": [{"name": n, "type": t} for n, t in fields]}


# Features first, then the id and event time: what a producer of this topic would register.
LEADING = record_schema(
    ("V1", "double"),
    ("V2", "double"),
    ("Amount", "double"),
    ("transaction_id", "string"),
    ("event_time", TIMESTAMP_MS),
)


def writer(schema: dict[str, Any], schema_id: int = 1) -> WriterSchema:
    return parse_writer_schema(schema_id, "AVRO", json.dumps(schema))


def framed(schema: WriterSchema, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(b"\x00" + schema.schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(out, schema.avro, record)
    return out.getvalue()


def msg(value: bytes | None, offset: int = 0, key: bytes | None = None) -> Message:
    return Message(
        topic="tx", partition=1, offset=offset, key=key, value=value, timestamp=(1, BROKER_MS)
    )


def decode(
    values: list[bytes | None],
    schemas: list[WriterSchema] | dict[int, WriterSchema | None] | None,
    fast: bool = True,
    max_bytes: int = 10_000,
    names: tuple[str, ...] = NAMES,
) -> Decoded:
    if isinstance(schemas, list):
        schemas = {s.schema_id: s for s in schemas}
    batch = [msg(v, i) for i, v in enumerate(values)]
    return AvroDecoder(names, fast=fast).decode(batch, max_bytes, schemas)


def reasons(decoded: Decoded) -> list[tuple[int | None, str]]:
    return [(r.message.offset(), r.reason) for r in decoded.rejected]


def transaction(i: int, **changes: Any) -> dict[str, Any]:
    return {
        "V1": 0.5 + i,
        "V2": -1.25 * i,
        "Amount": 10.0 * i,
        "transaction_id": f"t{i}",
        "event_time": BROKER_MS + 1000 + i,
    } | changes


def assert_same(a: Decoded, b: Decoded) -> None:
    """Two decodings agree to the bit: features, ids, event times, what was set aside."""
    assert a.features.tobytes() == b.features.tobytes()
    assert a.features.shape == b.features.shape
    assert a.transaction_ids == b.transaction_ids
    assert a.event_times.tobytes() == b.event_times.tobytes()
    assert [m.offset() for m in a.messages] == [m.offset() for m in b.messages]
    assert [(r.message.offset(), r.reason, r.detail) for r in a.rejected] == [
        (r.message.offset(), r.reason, r.detail) for r in b.rejected
    ]


# --------------------------------------------------------------------------
# Which path a schema takes
# --------------------------------------------------------------------------

FAST_SHAPES = {
    "features first": LEADING,
    "fixed-size fields between, features out of order": record_schema(
        ("flag", "boolean"),
        ("Amount", "double"),
        ("ratio", "float"),
        ("card", {"type": "fixed", "name": "Card", "size": 3}),
        ("V2", "double"),
        ("nothing", "null"),
        ("V1", "double"),
        ("transaction_id", ["null", "string"]),
        ("event_time", ["null", TIMESTAMP_MS]),
    ),
    "event time inside the prefix, scalar tail of every kind": record_schema(
        ("event_time", "double"),
        ("V1", "double"),
        ("V2", "double"),
        ("Amount", "double"),
        ("channel", {"type": "enum", "name": "Channel", "symbols": ["web", "pos"]}),
        ("note", "bytes"),
        ("count", "int"),
        ("again", "Channel"),
        ("transaction_id", "long"),
        ("score", "float"),
    ),
}

GENERAL_SHAPES = {
    "a string before a feature": record_schema(
        ("transaction_id", "string"), ("V1", "double"), ("V2", "double"), ("Amount", "double")
    ),
    "a nullable feature": record_schema(
        ("V1", "double"), ("V2", ["null", "double"]), ("Amount", "double")
    ),
    "a float feature": record_schema(("V1", "float"), ("V2", "double"), ("Amount", "double")),
    "int and long features": record_schema(("V1", "int"), ("V2", "long"), ("Amount", "double")),
    "a record after the features": record_schema(
        ("V1", "double"),
        ("V2", "double"),
        ("Amount", "double"),
        ("merchant", record_schema(("name", "string"), name="Merchant")),
    ),
}


@pytest.mark.parametrize("shape", FAST_SHAPES)
def test_features_at_fixed_offsets_take_the_fast_path(shape):
    layout = AvroDecoder(NAMES).layout(writer(FAST_SHAPES[shape]))
    assert layout.refusal is None and layout.prefix is not None


@pytest.mark.parametrize("shape", GENERAL_SHAPES)
def test_other_schemas_are_read_by_fastavro(shape):
    layout = AvroDecoder(NAMES).layout(writer(GENERAL_SHAPES[shape]))
    assert layout.refusal is None and layout.prefix is None


def test_fast_false_always_reads_with_fastavro():
    assert AvroDecoder(NAMES, fast=False).layout(writer(LEADING)).prefix is None


# --------------------------------------------------------------------------
# What comes out
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "fastavro"])
def test_features_ids_and_event_times_come_out_as_written(fast):
    schema = writer(LEADING)
    decoded = decode([framed(schema, transaction(i)) for i in range(3)], [schema], fast)
    assert decoded.features.tolist() == [[0.5 + i, -1.25 * i, 10.0 * i] for i in range(3)]
    assert decoded.transaction_ids == ["t0", "t1", "t2"]
    assert decoded.event_times.tolist() == [(BROKER_MS + 1000 + i) / 1000 for i in range(3)]
    assert decoded.rejected == []


@pytest.mark.parametrize("shape", [*FAST_SHAPES, *GENERAL_SHAPES])
def test_every_shape_decodes_the_features_by_name(shape):
    schema = writer({**FAST_SHAPES, **GENERAL_SHAPES}[shape])
    records = [filled(schema, {"V1": 1.0 + i, "V2": 2.0, "Amount": -3.0}) for i in range(4)]
    decoded = decode([framed(schema, r) for r in records], [schema])
    assert decoded.features.tolist() == [[1.0 + i, 2.0, -3.0] for i in range(4)]
    assert decoded.features.dtype == np.float64 and decoded.features.flags.writeable


# A value for each kind of field the shapes hold, by type, logical type or type name.
SAMPLES = {
    "null": None,
    "boolean": True,
    "int": 7,
    "long": 8,
    "float": 0.5,
    "double": 1.7e9,
    "string": "s",
    "bytes": b"b",
    "timestamp-millis": BROKER_MS + 5,
    "Card": b"abc",
    "Channel": "pos",
    "Merchant": {"name": "shop"},
}


def kind(avro_type: Any) -> str:
    """Name a field's type the way SAMPLES does (a union by its last branch)."""
    if isinstance(avro_type, list):
        return kind(avro_type[-1])
    if isinstance(avro_type, dict):
        return avro_type.get("logicalType") or avro_type.get("name") or avro_type["type"]
    return avro_type


def filled(schema: WriterSchema, features: dict[str, float]) -> dict[str, Any]:
    """A record of `schema` with these features and a plausible value in every other field."""
    record = {}
    for field in schema.avro["fields"]:
        name, field_kind = field["name"], kind(field["type"])
        if name in features:
            value = features[name]
            record[name] = int(value) if field_kind in ("int", "long") else value
        else:
            record[name] = SAMPLES[field_kind]
    return record


def test_a_float_feature_is_its_float32_value_and_ints_are_exact():
    schema = writer(GENERAL_SHAPES["a float feature"])
    decoded = decode([framed(schema, {"V1": 0.1, "V2": 0.2, "Amount": 1.0})], [schema])
    assert decoded.features[0, 0] == struct.unpack("<f", struct.pack("<f", 0.1))[0]
    schema = writer(GENERAL_SHAPES["int and long features"])
    decoded = decode([framed(schema, {"V1": -(2**31), "V2": 2**53, "Amount": 1.0})], [schema])
    assert decoded.features.tolist() == [[-(2.0**31), 2.0**53, 1.0]]


@pytest.mark.parametrize(
    ("time_type", "written", "seconds"),
    [
        (TIMESTAMP_MS, 1_700_000_000_123, 1_700_000_000.123),
        ({"type": "long", "logicalType": "timestamp-micros"}, 1_700_000_000_123_456, None),
        ({"type": "long", "logicalType": "local-timestamp-millis"}, 1_700_000_000_500, 1.7e9 + 0.5),
        ({"type": "long", "logicalType": "timestamp-nanos"}, 1_700_000_000_123_456_789, None),
        ("double", 1_700_000_000.25, 1_700_000_000.25),
        ("long", 1_700_000_000, 1_700_000_000.0),  # no logical type: seconds, as in JSON
        ("string", "2024-01-01T00:00:00Z", 1_704_067_200.0),
        ({"type": "int", "logicalType": "date"}, 19_000, BROKER_MS / 1000),  # no time of day
        (["null", "double"], None, BROKER_MS / 1000),  # null: the broker's timestamp
    ],
)
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "fastavro"])
def test_event_times_of_every_kind_become_epoch_seconds(time_type, written, seconds, fast):
    schema = writer(
        record_schema(
            ("V1", "double"), ("V2", "double"), ("Amount", "double"), ("event_time", time_type)
        )
    )
    record = {"V1": 1.0, "V2": 2.0, "Amount": 3.0, "event_time": written}
    decoded = decode([framed(schema, record)], [schema], fast)
    if seconds is None:  # micros and nanos: the exact quotient, correctly rounded
        seconds = written / (10**6 if "micros" in time_type["logicalType"] else 10**9)
    assert decoded.event_times.tolist() == [seconds]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "fastavro"])
def test_ids_fall_back_to_the_key_then_topic_partition_offset(fast):
    schema = writer(
        record_schema(
            ("V1", "double"), ("V2", "double"), ("Amount", "double"), ("transaction_id", "long")
        )
    )
    plain = writer(record_schema(("V1", "double"), ("V2", "double"), ("Amount", "double")), 2)
    values = [
        framed(schema, {"V1": 1.0, "V2": 2.0, "Amount": 3.0, "transaction_id": 42}),
        framed(plain, {"V1": 1.0, "V2": 2.0, "Amount": 3.0}),
        framed(plain, {"V1": 1.0, "V2": 2.0, "Amount": 3.0}),
    ]
    batch = [msg(values[0], 0), msg(values[1], 1, key=b"key-1"), msg(values[2], 2)]
    decoded = AvroDecoder(NAMES, fast).decode(batch, 10_000, {1: schema, 2: plain})
    assert decoded.transaction_ids == ["42", "key-1", "tx-1-2"]
    assert decoded.event_times.tolist() == [BROKER_MS / 1000] * 3


# --------------------------------------------------------------------------
# The fast path is fastavro's reading, faster: identical results on the same input
# --------------------------------------------------------------------------

doubles = st.floats(allow_nan=False, allow_infinity=False, width=64)
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)


@st.composite
def records(draw: st.DrawFn, shape: str) -> dict[str, Any]:
    schema = writer(FAST_SHAPES[shape])
    record = filled(schema, {name: draw(doubles) for name in NAMES})
    if shape == "features first":
        record["transaction_id"] = draw(texts)
        record["event_time"] = draw(st.integers(-(2**62), 2**62))
    elif shape == "fixed-size fields between, features out of order":
        record["transaction_id"] = draw(st.none() | texts)
        record["event_time"] = draw(st.none() | st.integers(0, 2**50))
        record["ratio"] = draw(st.floats(width=32, allow_nan=False))
        record["flag"] = draw(st.booleans())
    else:
        record["event_time"] = draw(doubles)
        record["note"] = draw(st.binary(max_size=200))
        record["count"] = draw(st.integers(-(2**31), 2**31 - 1))
        record["transaction_id"] = draw(st.integers(-(2**63), 2**63 - 1))
    return record


@pytest.mark.parametrize("shape", FAST_SHAPES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_fast_path_and_fastavro_agree_bit_for_bit(shape, data):
    schema = writer(FAST_SHAPES[shape])
    batch = data.draw(st.lists(records(shape), min_size=1, max_size=20))
    values = [framed(schema, r) for r in batch]
    fast, general = decode(values, [schema]), decode(values, [schema], fast=False)
    assert_same(fast, general)
    expected = np.array([[r[n] for n in NAMES] for r in batch], dtype=np.float64)
    assert fast.features.tobytes() == expected.tobytes()  # -0.0 and subnormals included


@pytest.mark.parametrize("shape", FAST_SHAPES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_fast_path_and_fastavro_reject_damaged_values_alike(shape, data):
    schema = writer(FAST_SHAPES[shape])
    good = framed(schema, data.draw(records(shape)))
    cut = data.draw(st.integers(5, len(good) - 1))
    extra = data.draw(st.binary(min_size=1, max_size=4))
    nan = filled(schema, {"V1": 1.0, "V2": math.nan, "Amount": -math.inf})
    values = [good, good[:cut], good + extra, framed(schema, nan), good]
    fast, general = decode(values, [schema]), decode(values, [schema], fast=False)
    assert_same(fast, general)
    assert reasons(fast) == [(1, NOT_AVRO), (2, NOT_AVRO), (3, NON_FINITE)]


# --------------------------------------------------------------------------
# Every reason, with one example
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "fastavro"])
def test_damaged_payloads_are_not_avro(fast):
    schema = writer(LEADING)
    good = framed(schema, transaction(1))
    bad_utf8 = good.replace(b"t1", b"\xff1")
    values = [good[:12], good + b"\x00", bad_utf8, b"\x00\x00\x01", good]
    decoded = decode(values, [schema], fast)
    assert reasons(decoded) == [(0, NOT_AVRO), (1, NOT_AVRO), (2, NOT_AVRO), (3, NOT_AVRO)]
    details = [r.detail for r in decoded.rejected]
    assert details[0] == "the payload ends before its record does"
    assert "1 bytes after the end of the record" in details[1]
    assert "utf-8" in details[2]
    assert details[3] == "3 bytes: too short for the 5-byte Schema Registry header"
    assert decoded.transaction_ids == ["t1"]


def test_a_union_branch_out_of_range_is_not_avro():
    schema = writer(FAST_SHAPES["fixed-size fields between, features out of order"])
    value = bytearray(framed(schema, filled(schema, {"V1": 1.0, "V2": 2.0, "Amount": 3.0})))
    value[5 + 1 + 8 + 4 + 3 + 8 + 8] = 0x08  # the transaction_id union: branch 4 of 2
    for fast in (True, False):
        assert reasons(decode([bytes(value)], [schema], fast)) == [(0, NOT_AVRO)]


def test_an_id_the_registry_lacks_is_schema_unknown():
    schema = writer(LEADING, schema_id=9)
    decoded = decode([framed(schema, transaction(1))], {9: None})
    assert reasons(decoded) == [(0, SCHEMA_UNKNOWN)]
    assert decoded.rejected[0].detail == "the registry has no schema with id 9"


def test_a_framed_value_without_a_registry_is_no_registry():
    schema = writer(LEADING, schema_id=3)
    decoded = decode([framed(schema, transaction(1)), b'{"V1": 1, "V2": 2, "Amount": 3}'], None)
    assert reasons(decoded) == [(0, NO_REGISTRY)]
    assert "schema id 3" in decoded.rejected[0].detail
    assert decoded.features.tolist() == [[1.0, 2.0, 3.0]]  # the JSON one is still scored


def test_a_schema_without_a_feature_is_missing_feature_for_every_message():
    schema = writer(record_schema(("V1", "double"), ("V2", "double")))
    decoded = decode([framed(schema, {"V1": 1.0, "V2": 2.0})] * 2, [schema])
    assert reasons(decoded) == [(0, MISSING_FEATURE), (1, MISSING_FEATURE)]
    assert decoded.rejected[0].detail == "schema 1 has no field 'Amount'"


@pytest.mark.parametrize(
    ("amount_type", "value", "detail"),
    [
        ("string", "12.5", "Amount is an Avro string"),
        (["null", "string"], "12.5", "Amount is an Avro union of null, string"),
        ("boolean", True, "Amount is an Avro boolean"),
        (["null", "double"], None, "Amount is null"),  # null, as JSON's null: non_numeric
        (["double", "string"], "12.5", "Amount is a string"),
        (["double", "boolean"], False, "Amount is a boolean"),
    ],
)
def test_a_feature_that_is_not_a_number_is_non_numeric(amount_type, value, detail):
    schema = writer(record_schema(("V1", "double"), ("V2", "double"), ("Amount", amount_type)))
    decoded = decode([framed(schema, {"V1": 1.0, "V2": 2.0, "Amount": value})], [schema])
    assert reasons(decoded) == [(0, NON_NUMERIC)]
    assert decoded.rejected[0].detail == detail


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "fastavro"])
def test_nan_and_infinity_are_non_finite(fast):
    schema = writer(LEADING)
    values = [
        framed(schema, transaction(0, V2=math.nan)),
        framed(schema, transaction(1, Amount=-math.inf)),
        framed(schema, transaction(2)),
    ]
    decoded = decode(values, [schema], fast)
    assert reasons(decoded) == [(0, NON_FINITE), (1, NON_FINITE)]
    assert [r.detail for r in decoded.rejected] == [
        "V2 is not a finite number",
        "Amount is not a finite number",
    ]
    assert decoded.transaction_ids == ["t2"]


def test_a_value_over_the_limit_is_oversized_before_anything_else():
    schema = writer(LEADING)
    value = framed(schema, transaction(1, transaction_id="x" * 500))
    decoded = decode([value, value], None, max_bytes=100)
    assert reasons(decoded) == [(0, OVERSIZED), (1, OVERSIZED)]
    assert decoded.rejected[0].detail == f"{len(value)} bytes, more than 100"


def test_a_schema_that_cannot_be_read_is_schema_unsupported():
    protobuf = parse_writer_schema(4, "PROTOBUF", 'syntax = "proto3"; message T {}')
    nested = parse_writer_schema(5, "AVRO", json.dumps(LEADING), references=[{"name": "x"}])
    broken = parse_writer_schema(6, "AVRO", json.dumps(record_schema(("V1", "Nowhere"))))
    values = [framed(writer(LEADING, i), transaction(i)) for i in (4, 5, 6)]
    decoded = decode(values, [protobuf, nested, broken])
    assert reasons(decoded) == [(i, SCHEMA_UNSUPPORTED) for i in range(3)]
    assert "PROTOBUF" in decoded.rejected[0].detail
    assert "refers to other schemas" in decoded.rejected[1].detail
    assert "does not parse as Avro" in decoded.rejected[2].detail


def test_a_schema_that_is_not_a_record_is_not_object():
    schema = parse_writer_schema(2, "AVRO", '{"type": "array", "items": "double"}')
    out = io.BytesIO(b"")
    fastavro.schemaless_writer(out, schema.avro, [1.0, 2.0, 3.0])
    decoded = decode([b"\x00\x00\x00\x00\x02" + out.getvalue()], [schema])
    assert reasons(decoded) == [(0, NOT_OBJECT)]
    assert decoded.rejected[0].detail == "schema 2 is an Avro array, not a record"


def test_an_id_the_caller_did_not_look_up_is_a_key_error():
    with pytest.raises(KeyError):
        decode([framed(writer(LEADING, 8), transaction(1))], {})


# --------------------------------------------------------------------------
# Mixed batches: several schema ids, JSON Schema, plain JSON
# --------------------------------------------------------------------------


def test_a_new_schema_id_mid_batch_decodes_in_batch_order():
    old = writer(LEADING, 1)
    # The next version: a field added with a default, and the fields in another order (the id
    # first): fastavro reads it, the first version keeps the fast path.
    fields = record_schema(
        ("transaction_id", "string"),
        ("Amount", "double"),
        ("V1", "double"),
        ("V2", "double"),
        ("event_time", TIMESTAMP_MS),
    )["fields"]
    country = {"name": "country", "type": "string", "default": "BE"}
    new = writer(record_schema() | {"fields": [*fields, country]}, 2)
    values = [
        framed(old if i % 3 else new, transaction(i) | ({} if i % 3 else {"country": "FR"}))
        for i in range(9)
    ]
    decoder = AvroDecoder(NAMES)
    decoded = decoder.decode([msg(v, i) for i, v in enumerate(values)], 10_000, {1: old, 2: new})
    assert decoded.transaction_ids == [f"t{i}" for i in range(9)]
    assert decoded.features.tolist() == [[0.5 + i, -1.25 * i, 10.0 * i] for i in range(9)]
    assert decoder.layout(old).prefix is not None and decoder.layout(new).prefix is None


def test_json_schema_framed_and_plain_json_values_share_the_batch():
    avro = writer(LEADING, 1)
    json_schema = parse_writer_schema(2, "JSON", '{"type": "object"}')
    as_json = orjson.dumps({"V1": 4.0, "V2": 5.0, "Amount": 6.0, "transaction_id": "j"})
    values = [
        b'{"V1": 1, "V2": 2, "Amount": 3, "transaction_id": "plain"}',
        framed(avro, transaction(7)),
        b"\x00\x00\x00\x00\x02" + as_json,
        b"\x00\x00\x00\x00\x02" + b'{"V1": 1}',
        b"not json",
    ]
    decoded = decode(values, [avro, json_schema])
    assert decoded.transaction_ids == ["plain", "t7", "j"]
    assert decoded.features.tolist() == [[1.0, 2.0, 3.0], [7.5, -8.75, 70.0], [4.0, 5.0, 6.0]]
    assert reasons(decoded) == [(3, MISSING_FEATURE), (4, "not_json")]
    assert [type(r.message) for r in decoded.rejected] == [Message, Message]


def test_a_batch_without_framed_values_is_the_json_decoders():
    values = [b'{"V1": 1, "V2": 2, "Amount": 3}', None]
    decoded = decode(values, None)
    assert decoded.features.tolist() == [[1.0, 2.0, 3.0]]
    assert reasons(decoded) == [(1, "not_json")]


def test_schema_ids_are_those_of_the_framed_values():
    values = [framed(writer(LEADING, 5), transaction(1)), b"\x00\x01", b"{}", None]
    assert schema_ids(values) == {5}


def test_a_schema_object_replaced_under_the_same_id_gets_a_new_layout():
    decoder = AvroDecoder(NAMES)
    first = writer(LEADING, 1)
    again = writer(record_schema(("V1", "double")), 1)  # e.g. an in-memory registry restarted
    assert decoder.layout(first).refusal is None
    assert decoder.layout(again).refusal is not None
