"""The Schema Registry stops mid-stream, as a new schema id arrives: the consumer waits.

Avro input written by confluent-kafka's AvroSerializer: the first half with a schema the
consumer has looked up, the second half with a newer version it has never seen, produced while
the registry is frozen (SIGSTOP: requests hang unanswered). The consumer must neither
dead-letter nor skip anything meanwhile, say so on /readyz and in a metric, then finish once
the registry is back: nothing lost, nothing duplicated under exactly-once.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator

import orjson
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from consumer_helpers import feed, metric, read_topic, transactions
from fault_helpers import (
    MODES,
    PARTITIONS,
    N,
    check,
    progress,
    settings,
    start,
    wait_done,
    wait_for,
)
from registry_helpers import LocalRegistry, local_registry

OUTAGE_S = 12.0  # long enough for several tries, each timing out after FRAUD_REGISTRY_TIMEOUT


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    yield from local_registry(tmp_path_factory)


def schema(*extra: dict) -> str:
    names = [f"V{i}" for i in range(1, 29)] + ["Amount"]
    fields = [{"name": n, "type": "double"} for n in names]
    fields.append({"name": "transaction_id", "type": "string"})
    return json.dumps({"type": "record", "name": "Transaction", "fields": [*fields, *extra]})


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_registry_outage_as_a_new_schema_id_arrives_loses_and_dead_letters_nothing(
    kafka_bootstrap, scorer_topics, model_bundle, registry, tmp_path, mode
):
    topics = scorer_topics(PARTITIONS)
    client = SchemaRegistryClient({"url": registry.url})
    context = SerializationContext(topics.source, MessageField.VALUE)
    first = AvroSerializer(client, schema())
    channel = {"name": "channel", "type": "string", "default": "web"}
    second = AvroSerializer(client, schema(channel))
    items = [(key, orjson.loads(value)) for key, value in transactions(N, prefix=mode)]
    half = len(items) // 2
    # Serialized now, so both versions are registered before the outage; the consumer has
    # never been asked about the second one's id.
    before = [(k, first(record, context)) for k, record in items[:half]]
    after = [(k, second(record | {"channel": "app"}, context)) for k, record in items[half:]]
    config = settings(
        topics, kafka_bootstrap, model_bundle, mode,
        schema_registry_url=registry.url, registry_timeout=2,
    )  # fmt: skip
    consumer = start(tmp_path, "run", config, "member-0")
    try:
        feed(kafka_bootstrap, topics.source, before)
        wait_for(
            lambda: progress(kafka_bootstrap, topics.group, topics.source) >= half,
            "the first schema's half committed",
            180,
            consumer,
        )
        registry.freeze()
        frozen = time.monotonic()
        try:
            feed(kafka_bootstrap, topics.source, after)
            wait_for(
                lambda: consumer.get("/readyz")[0] == 503, "/readyz to say unready", 60, consumer
            )
            status, reason = consumer.get("/readyz")
            time.sleep(max(OUTAGE_S - (time.monotonic() - frozen), 0))
            samples = consumer.metrics()
            stalled = progress(kafka_bootstrap, topics.group, topics.source)
            dead = read_topic(kafka_bootstrap, topics.dlq, 1)
        finally:
            registry.thaw()
        recovery_started = time.monotonic()
        assert (status, reason.strip()) == (503, "the Schema Registry cannot be asked for a schema")
        assert metric(samples, "fraud_schema_registry_unavailable_total") >= 2
        assert dead == []  # an unreachable registry is not bad input
        assert stalled < N  # it waited rather than skipping the second half
        wait_done(kafka_bootstrap, topics, N, 240, consumer)
        recovery = time.monotonic() - recovery_started
        assert consumer.get("/readyz")[0] == 200
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        consumer.ensure_stopped()
    assert '"event":"registry_unavailable"' in consumer.logs()
    assert '"event":"registry_available"' in consumer.logs()
    ids = [key.decode() for key, _ in items]
    outcome = check(kafka_bootstrap, topics, ids, mode, "registry outage", 1, recovery)
    assert outcome.dead_lettered == 0
