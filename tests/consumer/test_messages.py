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

from consumer.messages import (
    MISSING_FEATURE,
    NON_FINITE,
    NON_NUMERIC,
    NOT_JSON,
    NOT_OBJECT,
    OVERSIZED,
    REASONS,
    decode_batch,
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
    for transaction_id in batch.transaction_ids:
        transaction_id.encode()  # alerts are keyed by it: it must be valid UTF-8
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
