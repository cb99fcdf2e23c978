"""Poison input: each bad message is dead-lettered once with its reason; the good ones are scored.

Among them a value one byte under the broker's size limit: its dead letter, with headers, would
not fit, so it is cut and flagged rather than failing the consumer on every restart.
"""

from __future__ import annotations

import json
import signal
import uuid

import orjson
import pytest
from confluent_kafka import Producer
from consumer_helpers import end_offsets, transactions
from fault_helpers import (
    EXACTLY_ONCE,
    MODES,
    Outcome,
    outputs,
    record,
    settings,
    start,
    wait_done,
)
from kafka_helpers import create_topic, delete_topics

from consumer.deadletter import MAX_DEAD_LETTER_BYTES, TRUNCATED

GOOD_BETWEEN = 40
BROKER_LIMIT = 1048588  # Kafka's default message.max.bytes: the largest record batch it takes


def poison(row: dict) -> list[tuple[str, bytes | None, bytes | None, str]]:
    """Return (kind, key, value, expected reason) for every kind of bad message."""
    bad = dict(row)
    del bad["V3"]

    def with_v3(value) -> bytes:
        return json.dumps(row | {"V3": value}).encode()

    plain = json.dumps(row).encode()
    kinds = [
        ("not UTF-8", b"\xff\xfe\xfa\x00", "not_json"),
        ("not JSON", b"{oops", "not_json"),
        ("JSON array", b"[1, 2, 3]", "not_object"),
        ("JSON string", b'"text"', "not_object"),
        ("JSON number", b"42", "not_object"),
        ("JSON null", b"null", "not_object"),
        ("missing feature", json.dumps(bad).encode(), "missing_feature"),
        ("string for a number", with_v3("1.5"), "non_numeric"),
        ("boolean for a number", with_v3(True), "non_numeric"),
        ("null for a number", with_v3(None), "non_numeric"),
        ("object for a number", with_v3({}), "non_numeric"),
        ("NaN", with_v3(float("nan")), "non_finite"),
        ("Infinity", with_v3(float("inf")), "non_finite"),
        ("-Infinity", with_v3(float("-inf")), "non_finite"),
        ("1e309", with_v3(1.5).replace(b"1.5", b"1e309"), "non_finite"),
        ("huge integer", with_v3(10**400), "non_finite"),
        ("huge message", json.dumps(row | {"pad": "x" * 200_000}).encode(), "oversized"),
        ("deeply nested JSON", b"[" * 50_000, "not_json"),
        ("empty value", b"", "not_json"),
        ("tombstone", None, "not_json"),
        ("duplicate keys", plain[:-1] + b', "V3": "dup"}', "non_numeric"),
        ("trailing garbage", plain + b" xyz", "not_json"),
        ("truncated JSON", plain[: len(plain) // 2], "not_json"),
    ]
    items = [
        (kind, f"poison-{i}".encode(), value, reason)
        for i, (kind, value, reason) in enumerate(kinds)
    ]
    items.append(("null key", None, b"{not json either", "not_json"))
    return items


class Delivery:
    """A delivery callback remembering whether the one record it watches was acknowledged."""

    ok = False

    def __call__(self, error, _message) -> None:
        self.ok = error is None


def largest_accepted(bootstrap: str) -> int:
    """Return the largest value (with a 9-byte key) the broker accepts: one byte more fails."""
    scratch = f"size-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, scratch)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "message.max.bytes": 2 * BROKER_LIMIT, "linger.ms": 0}
    )
    low, high = BROKER_LIMIT - 200, BROKER_LIMIT  # low fits, high does not
    try:
        while high - low > 1:
            middle = (low + high) // 2
            outcome = Delivery()
            producer.produce(scratch, b"x" * middle, b"poison-99", on_delivery=outcome)
            producer.flush(30)
            low, high = (middle, high) if outcome.ok else (low, middle)
    finally:
        delete_topics(bootstrap, [scratch])
    return low


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_poison_is_dead_lettered_once_and_the_rest_is_scored(
    kafka_bootstrap, scorer_topics, model_bundle, tmp_path, mode
):
    topics = scorer_topics(1)
    good = transactions(GOOD_BETWEEN * 30, seed=5, prefix="good")
    bad = poison(orjson.loads(good[0][1]) | {"transaction_id": "bad"})
    size = largest_accepted(kafka_bootstrap)
    bad.append(("one byte under the broker limit", b"poison-99", b"x" * size, "oversized"))

    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "message.max.bytes": 2 * BROKER_LIMIT}
    )
    offsets: dict[int, tuple[str, str]] = {}  # input offset -> (kind, expected reason)
    chunks = iter(good[i : i + GOOD_BETWEEN] for i in range(0, len(good), GOOD_BETWEEN))
    for kind, key, value, reason in bad:
        for k, v in next(chunks):
            producer.produce(topics.source, v, k)
        producer.produce(
            topics.source,
            value,
            key,
            on_delivery=lambda e, m, kind=kind, reason=reason: offsets.update(
                {m.offset(): (kind, reason)}
            ),
        )
        producer.flush(30)
    for chunk in chunks:
        for k, v in chunk:
            producer.produce(topics.source, v, k)
    assert producer.flush(30) == 0
    assert len(offsets) == len(bad) >= 20

    config = settings(
        topics, kafka_bootstrap, model_bundle, mode, batch_size=100, max_message_bytes=65536
    )
    consumer = start(tmp_path, "poison", config, "member-0")
    total = len(good) + len(bad)
    try:
        wait_done(kafka_bootstrap, topics, total, 180, consumer)
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        consumer.ensure_stopped()

    out = outputs(kafka_bootstrap, topics)
    dead = {}
    for r in out.dead:
        offset = int(r.headers["dlq.source.offset"])
        assert offset not in dead, f"{offsets[offset][0]} dead-lettered twice"
        dead[offset] = r
    assert set(dead) == set(offsets)  # each bad message exactly once
    for offset, (kind, reason) in offsets.items():
        assert dead[offset].headers["dlq.reason"].decode() == reason, kind
    (cut,) = [r for r in out.dead if TRUNCATED in r.headers]  # the one at the limit, flagged
    assert cut.key == b"poison-99" and len(cut.value) == MAX_DEAD_LETTER_BYTES
    assert cut.headers[TRUNCATED] == f"value={size},key=9".encode()
    huge = next(value for kind, _, value, _ in bad if kind == "huge message")
    assert huge in [r.value for r in out.dead]  # under the limit: dead-lettered whole
    ids = [k.decode() for k, _ in good]
    assert set(out.scores) == set(ids)
    duplicated = sum(out.scores.values()) - len(out.scores)
    if mode == EXACTLY_ONCE:
        assert duplicated == 0
    for topic in (topics.alerts, topics.scores, topics.dlq):
        assert end_offsets(kafka_bootstrap, topic, 1, True) == end_offsets(
            kafka_bootstrap, topic, 1, False
        )
    record(Outcome("poison input", mode, total, len(bad), 0, duplicated, len(dead), 0.0))
