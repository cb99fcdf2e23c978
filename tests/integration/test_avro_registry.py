"""Avro through a real Schema Registry and a real broker: confluent's serializer writes, we read.

The registry is registry-local's Apicurio (or SCHEMA_REGISTRY_URL); the values are produced
with confluent-kafka's own `AvroSerializer`, consumed back as real messages, decoded by
`AvroDecoder` with the schemas `SchemaCache` fetched, and compared with what confluent's
`AvroDeserializer` reads from the same bytes.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from registry_helpers import running_registry

from consumer.avro import AvroDecoder, schema_ids
from consumer.schema_registry import RegistryUnavailableError, SchemaCache, registry_client

NAMES = tuple(f"V{i}" for i in range(1, 29)) + ("Amount",)
TIMESTAMP_MS = {"type": "long", "logicalType": "timestamp-millis"}


@pytest.fixture(scope="module")
def schema_registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from running_registry(tmp_path_factory)


def schema(*extra: dict[str, Any], leading: bool = True) -> str:
    features = [{"name": name, "type": "double"} for name in NAMES]
    rest = [
        {"name": "transaction_id", "type": "string"},
        {"name": "event_time", "type": TIMESTAMP_MS},
        *extra,
    ]
    fields = features + rest if leading else rest[:1] + features + rest[1:]
    return json.dumps({"type": "record", "name": "Transaction", "fields": fields})


def transaction(i: int, rng: np.random.Generator) -> dict[str, Any]:
    record: dict[str, Any] = dict(zip(NAMES, rng.normal(size=len(NAMES)).tolist(), strict=True))
    return record | {"transaction_id": f"avro-{i}", "event_time": 1_700_000_000_000 + i}


def produce_and_consume(bootstrap: str, topic: str, values: list[bytes]) -> list[Message]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i, value in enumerate(values):
        producer.produce(topic, value=value, key=f"key-{i}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"avro-{uuid.uuid4().hex[:8]}"}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    received: list[Message] = []
    deadline = time.monotonic() + 60
    try:
        while len(received) < len(values):
            assert time.monotonic() < deadline, "the produced values did not come back"
            received += [m for m in consumer.consume(500, 0.5) if m.error() is None]
    finally:
        consumer.close()
    return received


@pytest.mark.slow
def test_what_confluents_serializer_writes_our_decoder_reads_as_confluent_does(
    kafka_bootstrap, topic_factory, schema_registry_url
):
    topic = topic_factory(partitions=1, prefix="avro")
    client = SchemaRegistryClient({"url": schema_registry_url})
    context = SerializationContext(topic, MessageField.VALUE)
    serialize = AvroSerializer(client, schema())
    rng = np.random.default_rng(7)
    written = [transaction(i, rng) for i in range(300)]
    received = produce_and_consume(kafka_bootstrap, topic, [serialize(r, context) for r in written])

    values = [m.value() for m in received]
    schemas = SchemaCache(client).resolve(schema_ids(values))
    assert len(schemas) == 1 and None not in schemas.values()
    decoder = AvroDecoder(NAMES)
    decoded = decoder.decode(received, 1 << 20, schemas)
    assert decoder.layout(next(iter(schemas.values()))).prefix is not None  # the fast path
    assert decoded.rejected == []

    deserialize = AvroDeserializer(client)
    theirs = [deserialize(value, context) for value in values]
    expected = np.array([[record[n] for n in NAMES] for record in theirs], dtype=np.float64)
    assert decoded.features.tobytes() == expected.tobytes()
    assert (
        decoded.features.tobytes() == np.array([[r[n] for n in NAMES] for r in written]).tobytes()
    )
    assert decoded.transaction_ids == [record["transaction_id"] for record in theirs]
    assert decoded.event_times.tolist() == [record["event_time"].timestamp() for record in theirs]
    general = AvroDecoder(NAMES, fast=False).decode(received, 1 << 20, schemas)
    assert general.features.tobytes() == decoded.features.tobytes()
    assert general.event_times.tobytes() == decoded.event_times.tobytes()


@pytest.mark.slow
def test_a_new_schema_version_mid_stream_decodes(
    kafka_bootstrap, topic_factory, schema_registry_url
):
    topic = topic_factory(partitions=1, prefix="avro")
    client = SchemaRegistryClient({"url": schema_registry_url})
    context = SerializationContext(topic, MessageField.VALUE)
    first = AvroSerializer(client, schema())
    # The next version adds a field with a default and moves the id first.
    country = {"name": "country", "type": "string", "default": "BE"}
    second = AvroSerializer(client, schema(country, leading=False))
    rng = np.random.default_rng(8)
    written = [transaction(i, rng) for i in range(60)]
    values = [
        (second(r | {"country": "FR"}, context) if i % 2 else first(r, context))
        for i, r in enumerate(written)
    ]
    received = produce_and_consume(kafka_bootstrap, topic, values)

    schemas = SchemaCache(client).resolve(schema_ids([m.value() for m in received]))
    assert len(schemas) == 2
    decoded = AvroDecoder(NAMES).decode(received, 1 << 20, schemas)
    assert decoded.rejected == []
    assert decoded.transaction_ids == [r["transaction_id"] for r in written]
    assert decoded.features.tolist() == [[r[n] for n in NAMES] for r in written]


@pytest.mark.slow
def test_an_unknown_id_is_none_and_an_unreachable_registry_is_unavailable(schema_registry_url):
    cache = SchemaCache(SchemaRegistryClient({"url": schema_registry_url}))
    assert cache.resolve([2_000_000_000]) == {2_000_000_000: None}
    with socket.socket() as placeholder:  # a port nothing listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    nowhere = registry_client({"url": f"http://127.0.0.1:{port}/apis/ccompat/v7", "max.retries": 0})
    with pytest.raises(RegistryUnavailableError, match="could not be asked for schema 1"):
        SchemaCache(nowhere).get(1)
