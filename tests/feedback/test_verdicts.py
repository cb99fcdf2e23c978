"""The verdict decoder: every reason by example, and hostile input (Hypothesis)."""

from __future__ import annotations

import orjson
import pytest
from confluent_kafka import Message
from hypothesis import given
from hypothesis import strategies as st

from consumer.deadletter import dead_letter_headers
from consumer.errors import InvalidMessageError
from consumer.feedback.verdicts import (
    BAD_FIELD,
    MISSING_FIELD,
    NOT_JSON,
    NOT_OBJECT,
    OVERSIZED,
    REASONS,
    Verdict,
    decode_verdict,
    decode_verdicts,
)

GOOD = {"transaction_id": "tx-1", "fraud": True, "source": "chargeback", "labelled_at": 1.7e9}


def value(**changes):
    obj = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in obj.items() if v is not ...})


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        (None, NOT_JSON, "empty value (a tombstone)"),
        (b"", NOT_JSON, "Input is a zero-length, empty document"),
        (b"{", NOT_JSON, None),
        (b'{"labelled_at": NaN}', NOT_JSON, None),
        (b"\xff", NOT_JSON, None),
        (b"[1]", NOT_OBJECT, "a JSON array, not an object"),
        (b"null", NOT_OBJECT, "a JSON null, not an object"),
        (value(transaction_id=...), MISSING_FIELD, "no field 'transaction_id'"),
        (value(fraud=...), MISSING_FIELD, "no field 'fraud'"),
        (value(source=...), MISSING_FIELD, "no field 'source'"),
        (value(labelled_at=...), MISSING_FIELD, "no field 'labelled_at'"),
        (value(fraud="true"), BAD_FIELD, "fraud is a JSON string, not true or false"),
        (value(fraud=1), BAD_FIELD, "fraud is a JSON number, not true or false"),
        (value(fraud=None), BAD_FIELD, "fraud is a JSON null, not true or false"),
        (value(transaction_id=""), BAD_FIELD, "transaction_id is an empty string"),
        (value(transaction_id=1.5), BAD_FIELD, "transaction_id is a JSON number"),
        (value(transaction_id=True), BAD_FIELD, "transaction_id is a JSON boolean"),
        (value(source=" "), BAD_FIELD, "source is an empty string, not a"),
        (value(source=["analyst"]), BAD_FIELD, "source is a JSON array, not a non-empty string"),
        (value(labelled_at="yesterday"), BAD_FIELD, "labelled_at 'yesterday' is not"),
        (value(labelled_at=True), BAD_FIELD, "labelled_at is a JSON boolean"),
        (value(labelled_at=None), BAD_FIELD, "labelled_at is a JSON null, not"),
        (value(source="x" * 200), OVERSIZED, None),
    ],
)  # fmt: skip
def test_each_kind_of_bad_verdict_has_its_reason(raw, reason, detail):
    with pytest.raises(InvalidMessageError) as caught:
        decode_verdict(raw, max_bytes=200)
    assert caught.value.reason == reason
    if detail is not None:
        assert caught.value.detail.startswith(detail)


def test_a_verdict_reads_ids_times_and_extra_fields():
    verdict = decode_verdict(
        value(transaction_id=541, labelled_at="2026-12-02T09:14:00", case="C-9"), 1024
    )
    assert verdict == Verdict("541", True, "chargeback", 1796202840.0)
    assert verdict.name == "fraud"
    assert decode_verdict(value(fraud=False), 1024).name == "legit"
    offset = decode_verdict(value(labelled_at="2026-12-02T10:14:00+01:00"), 1024)
    assert offset.labelled_at == 1796202840.0


def test_rejected_verdicts_dead_letter_like_transactions():
    messages = [
        Message(topic="labels", partition=3, offset=o, key=b"k", value=v)
        for o, v in enumerate([value(), b"[]", value(fraud=0)])
    ]
    batch = decode_verdicts(messages, 1024)
    assert [(m.offset(), v.transaction_id) for m, v in batch.verdicts] == [(0, "tx-1")]
    assert [(r.message.offset(), r.reason) for r in batch.rejected] == [
        (1, NOT_OBJECT),
        (2, BAD_FIELD),
    ]
    headers = dict(dead_letter_headers(batch.rejected[1]))
    assert headers["dlq.reason"] == b"bad_field"
    assert headers["dlq.source.topic"] == b"labels"
    assert headers["dlq.source.offset"] == b"2"


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_get_a_known_reason(raw):
    try:
        verdict = decode_verdict(raw, max_bytes=250)
    except InvalidMessageError as exc:
        assert exc.reason in REASONS
        assert exc.detail
    else:
        assert verdict.transaction_id and verdict.source


# An explicit alphabet (ASCII, accents, an emoji, spaces): any text would make Hypothesis
# build its Unicode tables first, over a second on a fresh checkout, which its health
# check takes for a slow test.
TEXT = st.sampled_from([*"abz09-_:T.Z+ ", "é", "€", "\U0001f600", "\t"])
json_values = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)  # what orjson can write
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(TEXT, max_size=10)
    | st.lists(st.booleans(), max_size=2)
)


@given(st.dictionaries(st.sampled_from([*GOOD, "other"]), json_values))
def test_any_object_decodes_or_gets_a_known_reason(obj):
    try:
        verdict = decode_verdict(orjson.dumps(obj), max_bytes=10_000)
    except InvalidMessageError as exc:
        assert exc.reason in (MISSING_FIELD, BAD_FIELD), exc
    else:
        assert type(obj["fraud"]) is bool
        assert verdict.fraud is obj["fraud"]
        assert verdict.transaction_id == str(obj["transaction_id"])
