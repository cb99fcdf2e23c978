"""Avro decoding compared: microseconds of CPU per message, batches of 1,000 and 10,000.

    .venv/bin/python -m bench.avro_decoding [--repeats 40]

The same ULB-shaped transactions (V1..V28 and Amount as doubles, then a string id and a
timestamp-millis event time) are framed for a Schema Registry by confluent-kafka's own
`AvroSerializer`, then decoded every way:

- fast path: `AvroDecoder`, the features one numpy view of the joined fixed-size prefixes,
  the id and time from the tail by `SimpleTail`;
- general path: `AvroDecoder(fast=False)`, one fastavro record per message;
- fastavro alone: `schemaless_reader` per message, no matrix, ids or checks (its floor);
- AvroDeserializer alone: confluent-kafka's deserializer per message, one dict each;
- JSON (msgspec): `consumer.messages.decode_batch` on the same transactions as JSON;
- the tail alone (id and event time after the features), read by `SimpleTail` or by fastavro's
  `schemaless_reader` on a schema of the tail fields: what the tiny reader saves.

The decoders (fast, general, JSON) yield the full matrix, ids and event times; the "alone"
rows only their part. The registry is confluent's in-process mock: after the first message a
deserializer has the schema cached, so a real registry would not be in the timed loop either.
CPU time, lower quartile, the ways taking turns (as bench.decoding times), so a busy shared
machine slows them alike.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import orjson
from confluent_kafka import Message
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import parse_schema, schemaless_reader

from consumer.avro import AvroDecoder, schema_ids
from consumer.avro_records import HEADER
from consumer.avro_schema import without_logical_types
from consumer.avro_tail import SimpleTail
from consumer.messages import decode_batch
from consumer.schema_registry import SchemaCache

NAMES = tuple(f"V{i}" for i in range(1, 29)) + ("Amount",)
TAIL: list[dict[str, Any]] = [
    {"name": "transaction_id", "type": "string"},
    {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
]
SCHEMA = {
    "type": "record",
    "name": "Transaction",
    "fields": [{"name": name, "type": "double"} for name in NAMES] + TAIL,
}
BATCHES = (1_000, 10_000)
MAX_BYTES = 1 << 20


def transactions(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Return ULB-shaped transactions: standard-normal V columns, a positive Amount."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(count, len(NAMES)))
    features[:, -1] = np.abs(features[:, -1]) * 88.0
    now = int(time.time() * 1000)
    return [
        dict(zip(NAMES, row, strict=True)) | {"transaction_id": f"bench-{i}", "event_time": now + i}
        for i, row in enumerate(features.tolist())
    ]


def ways_to_decode(count: int) -> dict[str, Callable[[], object]]:
    """Return each way to decode one batch of `count` messages, ready to time."""
    client = SchemaRegistryClient.new_client({"url": "mock://bench"})
    context = SerializationContext("transactions", MessageField.VALUE)
    serialize = AvroSerializer(client, json.dumps(SCHEMA))
    records = transactions(count)
    avro = [
        Message(topic="transactions", partition=0, offset=i, value=serialize(r, context))
        for i, r in enumerate(records)
    ]
    plain = [
        Message(
            topic="transactions",
            partition=0,
            offset=i,
            value=orjson.dumps(r | {"event_time": r["event_time"] / 1000}),
        )
        for i, r in enumerate(records)
    ]
    values = [m.value() or b"" for m in avro]
    schemas = SchemaCache(client).resolve(schema_ids(values))
    fast, general = AvroDecoder(NAMES), AvroDecoder(NAMES, fast=False)
    writer = next(iter(schemas.values()))
    assert writer is not None and fast.layout(writer).prefix is not None
    deserialize = AvroDeserializer(client)
    reader = parse_schema(SCHEMA)
    check = fast.decode(avro, MAX_BYTES, schemas)
    assert check.features.shape == (count, len(NAMES)) and not check.rejected
    return {
        "fast path (AvroDecoder)": lambda: fast.decode(avro, MAX_BYTES, schemas),
        "general path (AvroDecoder, fast=False)": lambda: general.decode(avro, MAX_BYTES, schemas),
        "fastavro schemaless_reader alone": lambda: [
            schemaless_reader(_at_payload(v), reader) for v in values
        ],
        "confluent AvroDeserializer alone": lambda: [deserialize(v, context) for v in values],
        "JSON, msgspec (messages.decode_batch)": lambda: decode_batch(plain, NAMES, MAX_BYTES),
    } | tail_readers(values)


def tail_readers(values: list[bytes]) -> dict[str, Callable[[], object]]:
    """Return the two ways to read the id and event time after the features, alone."""
    start = HEADER + 8 * len(NAMES)
    simple = SimpleTail([(field["name"], field["type"]) for field in TAIL], {}).read
    # As the general path reads: the timestamp as written, not a datetime.
    tail = parse_schema(without_logical_types({"type": "record", "name": "Tail", "fields": TAIL}))

    def fastavro_tail() -> object:
        fields = []
        for value in values:
            stream = io.BytesIO(value)
            stream.seek(start)
            record = cast(dict[str, Any], schemaless_reader(stream, tail))
            if stream.tell() != len(value):
                raise ValueError("bytes after the record")
            fields.append((record["transaction_id"], record["event_time"]))
        return fields

    return {
        "tail alone: SimpleTail (the fast path's)": lambda: [simple(v, start) for v in values],
        "tail alone: fastavro schemaless_reader": fastavro_tail,
    }


def _at_payload(value: bytes) -> io.BytesIO:
    stream = io.BytesIO(value)
    stream.seek(HEADER)
    return stream


def cpu_seconds(ways: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Return each way's lower-quartile CPU seconds per call, the ways taking turns."""
    spent: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            started = time.process_time()
            way()
            spent[name].append(time.process_time() - started)
    return {name: float(np.quantile(times, 0.25)) for name, times in spent.items()}


def microseconds_per_message(repeats: int) -> dict[int, dict[str, float]]:
    """Return {batch size: {way: CPU microseconds per message}}."""
    results = {}
    for count in BATCHES:
        # Ten times the batch, a tenth of the repeats: about the same time for each size.
        seconds = cpu_seconds(ways_to_decode(count), max(3, repeats * BATCHES[0] // count))
        results[count] = {name: s / count * 1e6 for name, s in seconds.items()}
    return results


def table(results: dict[int, dict[str, float]]) -> str:
    """Return the results as a Markdown table, one row per way."""
    sizes = sorted(results)
    lines = [
        "| way | " + " | ".join(f"µs/message, {n:,}" for n in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for name in results[sizes[0]]:
        lines.append(f"| {name} | " + " | ".join(f"{results[n][name]:.2f}" for n in sizes) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.avro_decoding", description=__doc__)
    parser.add_argument("--repeats", type=int, default=40, help="timed calls per 1,000 batch")
    args = parser.parse_args(argv)
    print(table(microseconds_per_message(args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
