"""Typed input in the loop: Avro beside JSON, and a Schema Registry that cannot be asked."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace

import orjson
from fakes import (
    FakeDetector,
    FakeGroupSource,
    FakeSink,
    FakeSource,
    FakeTransactions,
    fake_run_settings,
    message,
)
from prometheus_client import CollectorRegistry

from consumer.avro_writer import FramedWriter
from consumer.checkpoint import AtLeastOnce
from consumer.decoding import BatchDecoder
from consumer.health import Health
from consumer.loop import ScoringLoop
from consumer.metrics import Metrics
from consumer.publish import Publisher, TransactionalPublisher
from consumer.schema_registry import SchemaCache
from consumer.transaction import ExactlyOnce

SCHEMA = {
    "type": "record",
    "name": "T",
    "fields": [
        {"name": "a", "type": "double"},
        {"name": "b", "type": "double"},
        {"name": "c", "type": "double"},
        {"name": "transaction_id", "type": "string"},
    ],
}
AVRO = FramedWriter(7, SCHEMA)
GOOD_JSON = b'{"a": 1, "b": 1, "c": 1, "transaction_id": "json-%d"}'
UNAVAILABLE = "the Schema Registry cannot be asked for a schema"


def avro(i: int, a: float = 1.0) -> bytes:
    return AVRO.encode({"a": a, "b": 1.0, "c": 1.0, "transaction_id": f"avro-{i}"})


class NotFound(Exception):
    """What the registry client raises for an id it has no schema under."""

    http_status_code = 404


@dataclass
class FakeSchemaSource:
    """Registered schemas by id; the next `down` requests fail as a stopped registry's would."""

    schemas: dict[int, str] = field(default_factory=lambda: {7: json.dumps(SCHEMA)})
    down: int = 0
    asked: list[int] = field(default_factory=list)

    def get_schema(self, schema_id: int) -> SimpleNamespace:
        self.asked.append(schema_id)
        if self.down:
            self.down -= 1
            raise ConnectionError("timed out")
        if schema_id not in self.schemas:
            raise NotFound(f"schema {schema_id} not found")
        return SimpleNamespace(
            schema_str=self.schemas[schema_id], schema_type="AVRO", references=[]
        )


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def build(batches, registry: FakeSchemaSource | None, **changes):
    source = FakeSource(batches)
    sink = FakeSink(source.events)
    metrics_registry = CollectorRegistry()
    metrics = Metrics(metrics_registry)
    settings = fake_run_settings(**(dict(scores_topic="scores", commit_interval=0) | changes))
    clock = Clock()
    publisher = Publisher(sink, metrics, "alerts", "dlq", "scores")
    checkpoint = AtLeastOnce(source, publisher, metrics, 0, settings.flush_timeout)
    decoder = BatchDecoder(None if registry is None else SchemaCache(registry))
    health = Health()
    loop = ScoringLoop(
        source, publisher, checkpoint, FakeDetector(), "m", metrics, settings, health,
        monotonic=clock, decoder=decoder,
    )  # fmt: skip
    subscribe(loop)
    return loop, source, sink, metrics_registry, health, clock


def subscribe(loop: ScoringLoop) -> None:
    loop.source.subscribe(
        ["in"], on_assign=loop.on_assign, on_revoke=loop.on_revoke, on_lost=loop.on_lost
    )


def waits(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("fraud_schema_registry_unavailable_total")


def test_avro_and_json_in_one_batch_are_scored_with_ids_from_the_records():
    batch = [message(avro(0), 0), message(GOOD_JSON % 1, 1), message(avro(2, a=3.0), 2)]
    loop, _, sink, _, _, _ = build([batch], FakeSchemaSource())
    loop.step()
    sink.flush()
    scores = [orjson.loads(r.value) for r in sink.on("scores")]
    assert [s["transaction_id"] for s in scores] == ["avro-0", "json-1", "avro-2"]
    assert [s["score"] for s in scores] == [3.0, 3.0, 11.0]
    assert [r.key for r in sink.on("alerts")] == [b"avro-2"]


def test_a_schema_id_is_asked_once_whatever_the_batches():
    registry = FakeSchemaSource()
    loop, _, _, _, _, _ = build([[message(avro(0), 0)], [message(avro(1), 1)]], registry)
    loop.step()
    loop.step()
    assert registry.asked == [7]


def test_without_a_registry_a_framed_value_is_dead_lettered_saying_so():
    loop, _, sink, _, _, _ = build([[message(avro(0), 0), message(GOOD_JSON % 1, 1)]], None)
    loop.step()
    sink.flush()
    (dead,) = sink.on("dlq")
    headers = dict(dead.headers)
    assert headers["dlq.reason"] == b"no_registry"
    assert b"no registry is configured" in headers["dlq.error"]
    assert dead.value == avro(0)
    assert [r.key for r in sink.on("scores")] == [b"json-1"]


def test_an_unknown_schema_id_is_bad_input_not_an_outage():
    loop, source, sink, registry, health, _ = build(
        [[message(b"\x00\x00\x00\x00\x63" + avro(0)[5:], 0)]], FakeSchemaSource()
    )
    loop.step()
    sink.flush()
    (dead,) = sink.on("dlq")
    assert dict(dead.headers)["dlq.reason"] == b"schema_unknown"
    assert source.seeks == [] and not source.paused
    assert waits(registry) == 0
    assert source.commits == [{("in", 0): 1}]
    assert health.ready()[0]


def test_an_unreachable_registry_puts_the_batch_back_and_retries_it_with_a_backoff():
    batch = [message(avro(0), 0), message(GOOD_JSON % 1, 1)]
    # The client delivers the batch again after each rewind.
    loop, source, sink, registry, health, clock = build(
        [batch, list(batch), list(batch)], FakeSchemaSource(down=2)
    )
    loop.step()
    assert source.seeks == [("in", 0, 0)]  # rewound to the batch's first message
    assert source.paused == {("in", 0)}
    assert health.ready() == (False, UNAVAILABLE)
    assert waits(registry) == 1
    assert len(sink) == 0 and sink.delivered == []  # nothing produced, nothing dead-lettered
    assert source.commits == []

    clock.now = 0.4  # before the first retry (0.5 s): nothing is consumed, nothing tried
    loop.step()
    assert waits(registry) == 1 and len(source.batches) == 2

    clock.now = 0.6  # retried: the registry still cannot answer; the next wait is 1 s
    loop.step()
    assert "resume" in source.events
    assert waits(registry) == 2 and source.seeks == [("in", 0, 0)] * 2
    clock.now = 1.5
    loop.step()
    assert len(source.batches) == 1

    clock.now = 1.7  # the registry answers: the batch is scored, once, and committed
    loop.step()
    sink.flush()
    assert [r.key for r in sink.on("scores")] == [b"avro-0", b"json-1"]
    assert sink.on("dlq") == []
    assert health.ready()[0]
    assert source.commits == [{("in", 0): 2}]
    assert waits(registry) == 2


def test_a_revoked_partition_while_waiting_leaves_nothing_behind():
    loop, source, sink, _, _, _ = build([[message(avro(0), 0)]], FakeSchemaSource(down=1))
    loop.step()
    loop.on_revoke(source, source.tps())
    assert source.commits == []  # nothing of the put-back batch was done
    assert sink.delivered == []


def test_exactly_once_begins_no_transaction_for_a_batch_until_it_decoded():
    clock = Clock()
    # The Avro batch twice: delivered again after the rewind.
    avro_batch = [message(avro(1), 1)]
    source = FakeGroupSource([[message(GOOD_JSON % 0, 0)], avro_batch, list(avro_batch)])
    producer = FakeTransactions(source.events)
    metrics = Metrics(CollectorRegistry())
    settings = fake_run_settings(scores_topic="scores", commit_interval=0.3)
    publisher = TransactionalPublisher(producer, metrics, "alerts", "dlq", "scores")
    checkpoint = ExactlyOnce(source, publisher, metrics, 0.3, 5, monotonic=clock)
    checkpoint.start()
    decoder = BatchDecoder(SchemaCache(FakeSchemaSource(down=1)))
    loop = ScoringLoop(
        source, publisher, checkpoint, FakeDetector(), "m", metrics, settings,
        monotonic=clock, decoder=decoder,
    )  # fmt: skip
    subscribe(loop)

    loop.step()  # the JSON batch: a transaction begins
    clock.now = 0.1
    loop.step()  # the Avro batch waits for the registry: put back, no records, no begin
    assert [e for e in producer.events if e == "begin"] == ["begin"]
    assert [r.topic for r, _ in producer.in_flight] == ["scores"]

    clock.now = 0.4
    loop.step()  # still waiting: the earlier batch's transaction is committed meanwhile
    assert producer.sent == [{("in", 0): 1}]
    assert "commit_txn" in producer.events

    clock.now = 0.8
    loop.step()  # retried, decoded: its own transaction
    assert [e for e in producer.events if e == "begin"] == ["begin", "begin"]
    assert producer.sent == [{("in", 0): 1}, {("in", 0): 2}]
    producer.flush()
    assert [r.key for r in producer.delivered if r.topic == "scores"] == [b"json-0", b"avro-1"]
