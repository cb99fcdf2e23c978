"""Hypothesis mutates valid transactions: the decoder never raises, and every dead letter fits."""

from __future__ import annotations

import orjson
from confluent_kafka import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.deadletter import TRUNCATED, dead_letter_record
from consumer.messages import REASONS, decode_batch

NAMES = ("V1", "V2", "Amount")
VALID = orjson.dumps({"V1": 0.5, "V2": -1.25, "Amount": 12.0, "transaction_id": "t-1"})
LIMIT = 64


@st.composite
def mutated(draw) -> bytes:
    """A valid transaction with bytes flipped, cut, inserted or repeated."""
    data = bytearray(VALID)
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "repeat"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            data.extend(data[at:] * draw(st.integers(1, 4)))
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(mutated(), st.none() | st.binary(max_size=100)), max_size=12))
def test_mutated_input_is_scored_or_dead_lettered_once_and_every_dead_letter_fits(items):
    messages = [
        Message(topic="tx", partition=0, offset=i, key=key, value=value)
        for i, (value, key) in enumerate(items)
    ]
    batch = decode_batch(messages, NAMES, max_bytes=LIMIT)
    offsets = [m.offset() for m in batch.messages] + [r.message.offset() for r in batch.rejected]
    assert sorted(offsets) == list(range(len(items)))
    for rejected in batch.rejected:
        assert rejected.reason in REASONS
        value, key, headers = dead_letter_record(rejected, LIMIT)
        assert len(value or b"") <= LIMIT and len(key or b"") <= LIMIT
        cut = (
            len(rejected.message.value() or b"") > LIMIT
            or len(rejected.message.key() or b"") > LIMIT
        )
        assert (TRUNCATED in dict(headers)) == cut
