"""The Kafka test infrastructure itself: a real broker round trip, and the CLI."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from kafka_helpers import KAFKA_LOCAL

PARTITIONS = 3
MESSAGES = 30


@pytest.mark.slow
def test_produce_and_consume_round_trip(kafka_bootstrap, topic_factory):
    topic = topic_factory(partitions=PARTITIONS)
    sent = {f"message-{i}": i % PARTITIONS for i in range(MESSAGES)}

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    for value, partition in sent.items():
        producer.produce(topic, value=value.encode(), key=value.encode(), partition=partition)
    assert producer.flush(30) == 0, "messages still in the producer queue"

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: dict[str, int] = {}
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        while len(received) < MESSAGES and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                continue
            received[message.value().decode()] = message.partition()
    finally:
        consumer.close()

    assert received == sent


def test_kafka_local_help():
    for args in ([], ["fetch"], ["start"], ["stop"], ["status"]):
        result = subprocess.run(
            [sys.executable, str(KAFKA_LOCAL), *args, "--help"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert "usage: kafka-local" in result.stdout
