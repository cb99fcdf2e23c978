"""The decoder: examples for each reason, and properties on hostile input (Hypothesis)."""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
import pytest
from confluent_kafka import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.errors import InvalidMessageError
from consumer.messages import (
    MISSING_FEATURE,
    NON_FINITE,
    NON_NUMERIC,
    NOT_JSON,
    NOT_OBJECT,
    OVERSIZED,
    REASONS,
    decode_batch,
    event_time,
    parse_value,
    transaction_id,
)

NAMES = ("V1", "V2", "Amount")


def msg(value, offset=0, key=None, timestamp=(1, 1_700_000_000_000)):
    return Message(
        topic="tx", partition=1, offset=offset, key=key, value=value, timestamp=timestamp
    )


def reasons(values, max_bytes=10_000):
    batch = decode_batch([msg(v, i) for i, v in enumerate(values)], NAMES, max_bytes)
    return [(r.message.offset(), r.reason) for r in batch.rejected]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", NOT_JSON),
        (b"", NOT_JSON),
        (None, NOT_JSON),
        (b"\xff\xfe{", NOT_JSON),
        (b"[1, 2, 3]", NOT_OBJECT),
        (b'"V1"', NOT_OBJECT),
        (b"null", NOT_OBJECT),
        (b'{"V1": 1, "V2": 2}', MISSING_FEATURE),
        (b'{"V1": 1, "V2": "2", "Amount": 3}', NON_NUMERIC),
        (b'{"V1": 1, "V2": true, "Amount": 3}', NON_NUMERIC),
        (b'{"V1": 1, "V2": null, "Amount": 3}', NON_NUMERIC),
        (b'{"V1": 1, "V2": [2], "Amount": 3}', NON_NUMERIC),
        (b'{"V1": NaN, "V2": 2, "Amount": 3}', NON_FINITE),
        (b'{"V1": 1, "V2": -Infinity, "Amount": 3}', NON_FINITE),
        (b'{"V1": 1e999, "V2": 2, "Amount": 3}', NON_FINITE),
        (b'{"V1": 1, "V2": 2, "Amount": ' + b"9" * 320 + b"}", NON_FINITE),
        (b'{"V1": 1, "V2": 2, "Amount": 3, "pad": "' + b"x" * 2000 + b'"}', OVERSIZED),
    ],
)
def test_each_kind_of_bad_message_is_rejected_with_its_reason(value, reason):
    assert reasons([b'{"V1": 0, "V2": 0, "Amount": 0}', value], max_bytes=1000) == [(1, reason)]


def test_good_messages_become_rows_in_feature_order_with_ids_and_times():
    values = [
        b'{"Amount": 3.5, "V2": 2, "V1": 1, "transaction_id": "t-9", "event_time": 1700000001.5}',
        b'{"V1": -1, "V2": 0.25, "Amount": 0, "extra": {"ignored": true}}',
        b'{"V1": 0, "V2": 0, "Amount": 0, "event_time": "2024-01-01T00:00:00+01:00"}',
    ]
    messages = [
        msg(values[0], 0),
        msg(values[1], 1, key=b"k-1"),
        msg(values[2], 2, timestamp=(0, 0)),
    ]
    batch = decode_batch(messages, NAMES, 1000)
    np.testing.assert_array_equal(batch.features, [[1, 2, 3.5], [-1, 0.25, 0], [0, 0, 0]])
    assert batch.features.dtype == np.float64
    assert batch.transaction_ids == ["t-9", "k-1", "tx-1-2"]
    np.testing.assert_array_equal(batch.event_times, [1700000001.5, 1700000000.0, 1704063600.0])
    assert batch.rejected == []


def test_an_empty_or_all_bad_batch_gives_an_empty_matrix_of_the_right_width():
    for values in ([], [b"x", b"[]"]):
        batch = decode_batch([msg(v, i) for i, v in enumerate(values)], NAMES, 1000)
        assert batch.features.shape == (0, 3)
        assert batch.event_times.shape == (0,)


def test_rejected_keep_the_raw_message_and_a_detail():
    batch = decode_batch([msg(b'{"V1": 1, "V2": "x", "Amount": 1}', 7)], NAMES, 1000)
    (rejected,) = batch.rejected
    assert rejected.message.value() == b'{"V1": 1, "V2": "x", "Amount": 1}'
    assert rejected.detail == "V2 is a JSON string"


huge_ints = st.integers(min_value=10**300, max_value=10**500)  # overflow float64
lone_surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | huge_ints
    | st.floats()
    | st.text(max_size=5)
    | lone_surrogates,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)
objects = st.dictionaries(
    st.sampled_from([*NAMES, "transaction_id", "event_time", "other"]), json_values, max_size=6
)
raw_values = (
    st.binary(max_size=80)
    | objects.map(lambda o: json.dumps(o).encode())  # NaN and Infinity literals included
    | st.none()
)


@settings(max_examples=300, deadline=None)
@given(st.lists(raw_values, max_size=20))
def test_every_message_is_accepted_or_rejected_exactly_once_with_a_known_reason(values):
    messages = [msg(v, i) for i, v in enumerate(values)]
    batch = decode_batch(messages, NAMES, max_bytes=60)
    offsets = [m.offset() for m in batch.messages] + [r.message.offset() for r in batch.rejected]
    assert sorted(offsets) == list(range(len(values)))
    assert {r.reason for r in batch.rejected} <= set(REASONS)
    assert batch.features.shape == (len(batch.messages), len(NAMES))
    assert np.isfinite(batch.features).all()
    assert len(batch.transaction_ids) == len(batch.messages)
    for tid in batch.transaction_ids:
        tid.encode()  # alerts are keyed by it: it must be valid UTF-8
    assert batch.event_times.shape == (len(batch.messages),)


finite = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**62), 2**62)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(finite, finite, finite), min_size=1, max_size=20))
def test_valid_rows_round_trip_exactly(rows):
    values = [orjson.dumps(dict(zip(NAMES, row, strict=False))) for row in rows]
    batch = decode_batch([msg(v, i) for i, v in enumerate(values)], NAMES, 10_000)
    assert batch.rejected == []
    expected = np.array([[float(x) for x in row] for row in rows])
    np.testing.assert_array_equal(batch.features, expected)


@given(st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_values_are_never_scored(x):
    value = json.dumps({"V1": x, "V2": 0, "Amount": 0}).encode()
    assert reasons([value]) == [(0, NON_FINITE)]


def test_an_event_time_too_large_for_a_float_falls_back_to_the_broker_timestamp():
    value = b'{"V1": 1, "V2": 2, "Amount": 3, "event_time": 1' + b"0" * 400 + b"}"
    batch = decode_batch([msg(value)], NAMES, 10_000)
    assert batch.rejected == []
    assert batch.event_times.tolist() == [1_700_000_000.0]


def test_a_transaction_id_that_is_not_valid_utf8_falls_back_to_the_key_or_position():
    value = b'{"V1": 1, "V2": 2, "Amount": 3, "transaction_id": "\\ud800"}'
    batch = decode_batch([msg(value, 5, key=b"k-1"), msg(value, 6)], NAMES, 10_000)
    assert batch.transaction_ids == ["k-1", "tx-1-6"]


@settings(max_examples=100, deadline=None)
@given(json_values, json_values)
def test_any_event_time_or_transaction_id_decodes_to_a_usable_time_and_key(time, tid):
    obj = {"V1": 1, "V2": 2, "Amount": 3, "event_time": time, "transaction_id": tid}
    batch = decode_batch([msg(json.dumps(obj).encode())], NAMES, 100_000)
    assert batch.rejected == []
    assert not math.isnan(batch.event_times[0])  # the broker timestamp at worst
    batch.transaction_ids[0].encode()


# The typed fast path must decide exactly as the strict path: `parse_value` on every
# message, as the decoder did before the fast path. This oracle is that decoder.


def strict_decode(messages, names, max_bytes):
    accepted, rows, objects, rejected = [], [], [], []
    for message in messages:
        try:
            row, obj = parse_value(message.value(), names, max_bytes)
        except InvalidMessageError as exc:
            rejected.append((message.offset(), exc.reason, exc.detail))
            continue
        accepted.append(message)
        rows.append([float(x) for x in row])
        objects.append(obj)
    features = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    finite = np.isfinite(features).all(axis=1)
    for i in np.flatnonzero(~finite):
        bad = names[int(np.flatnonzero(~np.isfinite(features[i]))[0])]
        rejected.append((accepted[i].offset(), NON_FINITE, f"{bad} is not a finite number"))
    keep = [i for i in range(len(accepted)) if finite[i]]
    return (
        [accepted[i].offset() for i in keep],
        features[finite],
        [transaction_id(objects[i].get("transaction_id"), accepted[i]) for i in keep],
        [event_time(objects[i].get("event_time"), accepted[i]) for i in keep],
        rejected,
    )


def assert_same_as_strict(values, names=NAMES, max_bytes=10_000):
    messages = [msg(v, i, key=b"k-%d" % i if i % 2 else None) for i, v in enumerate(values)]
    offsets, features, ids, times, rejected = strict_decode(messages, names, max_bytes)
    batch = decode_batch(messages, names, max_bytes)
    assert [m.offset() for m in batch.messages] == offsets
    assert batch.features.dtype == np.float64
    assert batch.features.tobytes() == features.tobytes()  # bit for bit, the sign of 0 too
    assert batch.transaction_ids == ids
    np.testing.assert_array_equal(batch.event_times, np.array(times).reshape(len(times)))
    assert [(r.message.offset(), r.reason, r.detail) for r in batch.rejected] == rejected


# Numbers as text, so that both parsers must round long decimals and huge integers themselves.
number_texts = st.from_regex(
    r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
)
boundary_ints = st.sampled_from(
    [2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 2**1023, -(2**1024)]
)


def json_text(value) -> str:
    return value if isinstance(value, str) and value[:1] in "-0123456789" else json.dumps(value)


def object_text(fields: dict) -> bytes:
    body = ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields.items())
    return ("{" + body + "}").encode()


feature_texts = (
    number_texts
    | boundary_ints.map(str)
    | st.floats().map(json.dumps)
    | st.sampled_from(["-0", "-0.0", "0e5", "true", "null", '"1"', "[1]", "1e400", "NaN"])
)
extra_texts = json_values.map(json.dumps) | boundary_ints.map(str) | number_texts
well_formed = st.fixed_dictionaries(
    {name: feature_texts for name in NAMES},
    optional={"transaction_id": extra_texts, "event_time": extra_texts, "note": extra_texts},
).map(object_text)
mangled = st.tuples(well_formed, st.binary(max_size=3), st.integers(0, 200)).map(
    lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(well_formed | mangled | raw_values, max_size=12))
def test_the_fast_path_decodes_every_batch_as_the_strict_path(values):
    assert_same_as_strict(values, max_bytes=400)


@settings(max_examples=100, deadline=None)
@given(st.lists(well_formed, min_size=1, max_size=12))
def test_batches_of_well_formed_messages_decode_as_the_strict_path(values):
    assert_same_as_strict(values)


@pytest.mark.parametrize(
    "value",
    [
        b'{"V1": 1, "V2": 2, "Amount": 3, "note": "caf\xc3\xa9"}',  # valid UTF-8, not ASCII
        b'{"V1": 1, "V2": 2, "Amount": 3, "note": "\xff"}',  # not UTF-8 in an ignored field
        b'\xef\xbb\xbf{"V1": 1, "V2": 2, "Amount": 3}',  # a byte-order mark
        b'{"V1": 1, "V2": 2, "Amount": 3, "V1": 4}',  # a repeated key: the last one counts
        b'{"V1": 1, "V2": 2, "Amount": 3, "transaction_id": "\\ud800"}',  # a lone surrogate
        b'{"V1": 1, "V2": 2, "Amount": 3, "transaction_id": "a\\ud83d\\ude00"}',
        b'{"V1": 1, "V2": 2, "Amount": 3, "transaction_id": ""}',
        b'{"V1": 1, "V2": 2, "Amount": 3, "transaction_id": 18446744073709551616}',
        b'{"V1": 1, "V2": 2, "Amount": 3, "event_time": 1e400}',
        b'{"V1": 1, "V2": 2, "Amount": 3, "event_time": "2024-01-01T00:00:00"}',
        b'{"V1": 1, "V2": 2, "Amount": 3, "event_time": "yesterday"}',
        b'{"V1": 1, "V2": 2, "Amount": 1.7976931348623157e308}',
        b'{"V1": 1, "V2": 2, "Amount": ' + str(2**1023).encode() + b"}",
    ],
)
def test_unusual_but_valid_messages_decode_as_the_strict_path(value):
    assert_same_as_strict([b'{"V1": 0, "V2": 0, "Amount": 0}', value])


@pytest.mark.parametrize("depth", [10, 500, 990, 1000, 1030, 3000])
def test_deeply_nested_ignored_fields_decode_as_the_strict_path(depth):
    value = b'{"V1": 1, "V2": 2, "Amount": 3, "deep": ' + b"[" * depth + b"]" * depth + b"}"
    assert_same_as_strict([value], max_bytes=100_000)


def test_feature_names_that_clash_with_the_id_field_still_decode():
    names = ("V1", "transaction_id")
    assert_same_as_strict([b'{"V1": 1, "transaction_id": 2}', b'{"V1": 1}'], names)
