"""The Kafka side of the benchmarks: a local broker, topics, filling them, reading offsets."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[1]
KAFKA_LOCAL = REPO / "scripts" / "kafka-local"


@contextmanager
def local_broker(bootstrap: str | None, work: Path) -> Iterator[str]:
    """Yield `bootstrap` if given, else start `scripts/kafka-local` in `work` and stop it after."""
    if bootstrap:
        yield bootstrap
        return
    directory = str(work / "kafka")
    started = subprocess.run(
        [sys.executable, str(KAFKA_LOCAL), "start", "--dir", directory],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([sys.executable, str(KAFKA_LOCAL), "stop", "--dir", directory], check=False)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topics(
    bootstrap: str, topics: list[tuple[str, int]], config: dict[str, dict[str, str]] | None = None
) -> None:
    """Create topics of the given partition counts; `config` adds topic settings by name."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [
        NewTopic(name, num_partitions=n, replication_factor=1, config=(config or {}).get(name, {}))
        for name, n in topics
    ]
    for future in admin.create_topics(new).values():
        future.result(30)
    time.sleep(1)  # let every partition get its leader


def delete_topics(bootstrap: str, names: list[str]) -> None:
    """Delete topics (their data would otherwise fill the disk run after run)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(names).values():
        with suppress(KafkaException):
            future.result(30)


Encode = Callable[[dict[str, Any]], bytes]


def transactions(
    rows: pd.DataFrame, count: int, start: int = 0, encode: Encode = orjson.dumps
) -> Iterator[tuple[bytes, bytes]]:
    """Yield (key, value) for `count` rows, cycling, as `consumer replay` would write them
    (JSON, or what `encode` makes of each transaction)."""
    columns = list(rows.columns)
    values = rows.to_numpy(np.float64)
    now = time.time()
    for i in range(start, start + count):
        transaction = dict(zip(columns, values[i % len(values)].tolist(), strict=True))
        transaction["transaction_id"] = f"bench-{i}"
        transaction["event_time"] = now
        yield transaction["transaction_id"].encode(), encode(transaction)


def avro_encoder(registry_url: str, topic: str, rows: pd.DataFrame) -> Encode:
    """Return replay's Avro encoder for `rows`, its schema registered under TOPIC-value."""
    from consumer.avro_writer import FramedWriter, TransactionWriter, register, transaction_schema
    from consumer.schema_registry import registry_client

    schema = transaction_schema(list(rows.columns), rows.head(1000).to_dict("records"))
    schema_id = register(registry_client({"url": registry_url}), topic, schema)
    return TransactionWriter(FramedWriter(schema_id, schema)).encode


def fill(
    bootstrap: str, topic: str, rows: pd.DataFrame, count: int, encode: Encode = orjson.dumps
) -> int:
    """Produce `count` transactions to `topic` at full speed; return their total bytes."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "queue.buffering.max.messages": 1_000_000,
            "compression.type": "lz4",
        }
    )
    size = 0
    for key, value in transactions(rows, count, encode=encode):
        size += len(value)
        produce_waiting(producer, topic, key, value)
    if producer.flush(300):
        raise RuntimeError(f"could not fill {topic}")
    return size


def end_offsets(bootstrap: str, topic: str, partitions: int) -> list[int]:
    """Return each partition's high watermark."""
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("ends")})
    try:
        return [
            client.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        ]
    finally:
        client.close()


def wait_committed(
    bootstrap: str,
    group: str,
    topic: str,
    partitions: int,
    timeout: float,
    alive: Callable[[], bool] = lambda: True,
) -> bool:
    """Wait until the group's committed offsets reach every partition's end; say if they did."""
    ends = end_offsets(bootstrap, topic, partitions)
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and alive():
            try:
                done = [tp.offset for tp in client.committed(tps, timeout=10)]
            except KafkaException:
                done = []
            if done == ends:
                return True
            time.sleep(0.2)
        return False
    finally:
        client.close()


def read_all(bootstrap: str, topic: str, partitions: int) -> list[tuple[int, int, int, bytes]]:
    """Return (partition, offset, broker timestamp in ms, value) of every record in the topic."""
    ends = end_offsets(bootstrap, topic, partitions)
    client = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique("reader"), "enable.auto.commit": False}
    )
    client.assign([TopicPartition(topic, p, 0) for p in range(partitions) if ends[p] > 0])
    left = {p: end for p, end in enumerate(ends) if end > 0}
    records: list[tuple[int, int, int, bytes]] = []
    deadline = time.monotonic() + 120
    try:
        while left and time.monotonic() < deadline:
            for message in client.consume(1000, 0.5):
                if message.error() is not None:
                    continue
                partition, offset = message.partition() or 0, message.offset() or 0
                records.append((partition, offset, message.timestamp()[1], message.value() or b""))
                if offset + 1 >= left.get(partition, 0):
                    left.pop(partition, None)
    finally:
        client.close()
    return records


def send_span(bootstrap: str, topic: str, partitions: int) -> tuple[float, float, int]:
    """Return the first and last record timestamps (epoch seconds) and the message count."""
    ends = end_offsets(bootstrap, topic, partitions)
    client = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique("span"), "enable.auto.commit": False}
    )
    stamps = []
    try:
        for partition, end in enumerate(ends):
            for offset in {0, end - 1} if end > 0 else ():
                client.assign([TopicPartition(topic, partition, offset)])
                message = client.consume(1, 10)
                if message and message[0].error() is None:
                    stamps.append(message[0].timestamp()[1] / 1000)
    finally:
        client.close()
    return min(stamps, default=0.0), max(stamps, default=0.0), sum(ends)


def produce_waiting(producer: Producer, topic: str, key: bytes, value: bytes) -> None:
    """Produce one record, serving deliveries while the client's local queue is full."""
    while True:
        try:
            producer.produce(topic, value, key)
            return
        except BufferError:
            producer.poll(0.1)
