"""`consumer run --schema-registry-url` against a real broker and a real Schema Registry.

The stream is replayed as Avro by `consumer replay --format avro`; confluent-kafka's own
AvroSerializer writes a second schema version into the same topic mid-stream; JSON Schema-framed
values and plain JSON come in between, and bad values of each kind. Every input is scored once
or dead-lettered with its reason; the scores equal offline `python -m training score`'s bit for
bit; alerts and score records are written as Avro that confluent's AvroDeserializer reads.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from consumer_helpers import (
    ConsumerProcess,
    metric,
    produce,
    read_topic,
    replay,
    wait_until_committed,
)
from kafka_helpers import REPO_ROOT
from registry_helpers import running_registry

NAMES = tuple(f"V{i}" for i in range(1, 29)) + ("Amount",)
PARTITIONS = 3


@pytest.fixture(scope="module")
def schema_registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from running_registry(tmp_path_factory)


def offline_scores(model_dir: Path, data: Path, out: Path) -> dict[str, float]:
    """Score the CSV with `python -m training score`; read its floats exactly (csv + float)."""
    subprocess.run(
        [sys.executable, "-m", "training", "score", "--model-dir", str(model_dir),
         "--data", str(data), "--out", str(out)],
        cwd=REPO_ROOT, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {f"{data.stem}-{i}": float(row["score"]) for i, row in enumerate(rows)}


def row(i: int, **extra: Any) -> dict[str, Any]:
    return {name: 0.05 * ((i + k) % 9) - 0.2 for k, name in enumerate(NAMES)} | extra


def framed(schema_id: int, payload: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + payload


def avro_payload(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


@pytest.mark.slow
def test_avro_json_schema_and_plain_json_are_scored_as_offline_and_bad_values_dead_lettered(
    kafka_bootstrap, scorer_topics, model_bundle, stream, schema_registry_url, tmp_path
):
    topics = scorer_topics(PARTITIONS)
    source = topics.source
    client = SchemaRegistryClient({"url": schema_registry_url})
    context = SerializationContext(source, MessageField.VALUE)
    offline = offline_scores(model_dir=model_bundle, data=stream.csv, out=tmp_path / "s.csv")

    # A second version of the subject replay registers: the id first, a field added.
    fields = [{"name": "transaction_id", "type": "string"}] + [
        {"name": name, "type": "double"} for name in NAMES
    ]
    channel = {"name": "channel", "type": "string", "default": "web"}
    second = {"type": "record", "name": "Transaction", "fields": [*fields, channel]}
    serialize = AvroSerializer(client, json.dumps(second))
    confluent = {
        f"confluent-{i}": serialize(row(i, transaction_id=f"confluent-{i}", channel="app"), context)
        for i in range(20)
    }
    # JSON Schema: the payload after the header is the JSON decoder's.
    json_schema = {"type": "object", "properties": {name: {"type": "number"} for name in NAMES}}
    json_id = client.register_schema(f"{source}-js-value", Schema(json.dumps(json_schema), "JSON"))
    typed_json = {
        f"jsonschema-{i}": framed(json_id, orjson.dumps(row(i, transaction_id=f"jsonschema-{i}")))
        for i in range(5)
    }
    plain = {f"plain-{i}": orjson.dumps(row(i, transaction_id=f"plain-{i}")) for i in range(5)}
    # A schema without a model feature (V3), registered under a subject of its own.
    lacking = {
        "type": "record",
        "name": "Partial",
        "fields": [f for f in fields if f["name"] != "V3"],
    }
    lacking_id = client.register_schema(f"{source}-partial-value", Schema(json.dumps(lacking)))
    partial = {k: v for k, v in row(0).items() if k != "V3"} | {"transaction_id": "partial"}
    without_v3 = framed(lacking_id, avro_payload(lacking, partial))
    some_confluent = next(iter(confluent.values()))
    bad = {
        b"bad-unknown-id": (framed(2_000_000_000, some_confluent[5:]), "schema_unknown"),
        b"bad-truncated": (some_confluent[: len(some_confluent) // 2], "not_avro"),
        b"bad-invalid": (framed(int.from_bytes(some_confluent[1:5], "big"), b"\x07"), "not_avro"),
        b"bad-missing": (without_v3, "missing_feature"),
        b"bad-short": (b"\x00\x00\x01", "not_avro"),
    }

    settings = topics.settings(
        kafka_bootstrap, model_bundle, batch_size=200, schema_registry_url=schema_registry_url,
        output_format="avro",
    )  # fmt: skip
    consumer = ConsumerProcess(tmp_path / "consumer.log", **settings)
    try:
        consumer.wait_ready()
        produce(kafka_bootstrap, source, [(k.encode(), v) for k, v in plain.items()])
        replay(kafka_bootstrap, source, stream.csv,
               "--format", "avro", "--schema-registry-url", schema_registry_url)  # fmt: skip
        produce(kafka_bootstrap, source, [(k.encode(), v) for k, v in confluent.items()])
        produce(kafka_bootstrap, source, [(k.encode(), v) for k, v in typed_json.items()])
        produce(kafka_bootstrap, source, [(k, v) for k, (v, _) in bad.items()])
        wait_until_committed(kafka_bootstrap, topics.group, source, PARTITIONS, 120, consumer)
        samples = consumer.metrics()
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        consumer.ensure_stopped()

    deserialize = AvroDeserializer(client)
    scores_context = SerializationContext(topics.scores, MessageField.VALUE)
    scored = [
        deserialize(r.value, scores_context) for r in read_topic(kafka_bootstrap, topics.scores, 1)
    ]
    by_id = {s["transaction_id"]: s for s in scored}
    expected = set(stream.ids) | set(confluent) | set(typed_json) | set(plain)
    assert len(scored) == len(by_id) == len(expected)  # each once
    assert set(by_id) == expected
    for tid in stream.ids:
        assert by_id[tid]["score"] == offline[tid]  # the very same float, not approximately
    assert {tid for tid in stream.ids if by_id[tid]["alert"]} == stream.alerts
    alerts_context = SerializationContext(topics.alerts, MessageField.VALUE)
    alerts = [
        deserialize(r.value, alerts_context) for r in read_topic(kafka_bootstrap, topics.alerts, 1)
    ]
    assert {a["transaction_id"] for a in alerts} == {t for t, s in by_id.items() if s["alert"]}
    # The event time came from the record: replay's timestamp-micros, confluent's absent.
    assert by_id[stream.ids[0]]["event_time"] is not None

    dead = read_topic(kafka_bootstrap, topics.dlq, 1)
    assert sorted(r.key for r in dead) == sorted(bad)
    for record in dead:
        value, reason = bad[record.key]
        assert record.value == value
        assert record.headers["dlq.reason"] == reason.encode()
        assert record.headers["dlq.error"]
    for reason in {reason for _, reason in bad.values()}:
        count = sum(1 for _, r in bad.values() if r == reason)
        assert metric(samples, "fraud_invalid_messages_total", reason=reason) == count
    assert metric(samples, "fraud_schema_registry_unavailable_total") == 0
    assert schema_registry_url.split("//")[1] in consumer.logs()  # the URL is logged (no secret)
