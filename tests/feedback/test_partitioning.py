"""The home partition agrees with Kafka's murmur2: Java's test vectors and librdkafka itself."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from consumer.feedback.partitioning import home_partition, murmur2

# From Apache Kafka's UtilsTest.testMurmur2.
JAVA_CASES = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "expected"), JAVA_CASES.items())
def test_murmur2_equals_javas(data, expected):
    assert murmur2(data) == expected


def test_home_partition_is_where_librdkafkas_murmur2_partitioner_puts_the_key():
    """librdkafka's in-process mock cluster (no broker): its topics have 4 partitions."""
    producer = Producer({"test.mock.num.brokers": 1, "partitioner": "murmur2_random"})
    placed: dict[str, int] = {}

    def delivered(err, message):
        assert err is None, err
        placed[message.key().decode()] = message.partition()

    keys = [f"stream-{i}" for i in range(300)] + ["creditcard-541", "ünïcode-€", "x" * 1000]
    for key in keys:
        producer.produce("labels", key=key.encode(), value=b"{}", on_delivery=delivered)
    assert producer.flush(30) == 0
    partitions = len(producer.list_topics("labels", timeout=10).topics["labels"].partitions)
    assert partitions > 1
    assert {key: home_partition(key, partitions) for key in keys} == placed
    assert len(set(placed.values())) == partitions


def test_a_topic_has_a_partition():
    with pytest.raises(ValueError, match="at least one partition"):
        home_partition("t", 0)
