"""Avro written: replayed transactions and alert and score records, registered under topics."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import fastavro
import orjson
import pytest
from fakes import FakeDetector, FakeSink, FakeSource, fake_run_settings, message
from prometheus_client import CollectorRegistry

from consumer.avro import AvroDecoder, schema_ids
from consumer.avro_schema import parse_writer_schema, without_logical_types
from consumer.avro_writer import (
    ALERT_SCHEMA,
    SCORE_SCHEMA,
    FramedWriter,
    TransactionWriter,
    avro_records,
    transaction_schema,
)
from consumer.checkpoint import AtLeastOnce
from consumer.config import KafkaSettings, RegistrySettings, ReplaySettings
from consumer.errors import ConfigError
from consumer.loop import ScoringLoop
from consumer.messages import decode_batch
from consumer.metrics import Metrics
from consumer.publish import Publisher
from consumer.records import JSON_RECORDS, RecordFormats
from consumer.replay import replay
from training.datasets.synth import V_COLUMNS, synthesize

NAMES = (*V_COLUMNS, "Amount")


@dataclass
class FakeRegistrar:
    """Registers each subject's schema under the next id."""

    subjects: dict[str, tuple[int, str]] = field(default_factory=dict)

    def register_schema(self, subject_name: str, schema: Any) -> int:
        self.subjects[subject_name] = (len(self.subjects) + 1, schema.schema_str)
        return len(self.subjects)


def replayed(data, fmt: str, registrar: FakeRegistrar | None = None) -> list[bytes]:
    registry = RegistrySettings("http://unused") if fmt == "avro" else None
    settings = ReplaySettings(
        KafkaSettings("fake:9092"), "in", data, format=fmt, schema_registry=registry
    )
    sink = FakeSink([])
    replay(settings, sink, clock=lambda: 1_700_000_000.123456, stream=None, registrar=registrar)
    sink.flush()
    return [record.value for record in sink.delivered]


def test_replayed_avro_decodes_to_what_replayed_json_decodes_to(tmp_path):
    data = tmp_path / "transactions.csv"
    synthesize(200, fraud_rate=0.05, seed=4).to_csv(data, index=False)
    registrar = FakeRegistrar()
    values = replayed(data, "avro", registrar)
    as_json = [message(v, i) for i, v in enumerate(replayed(data, "json"))]

    schema_id, text = registrar.subjects["in-value"]
    assert schema_ids(values) == {schema_id}
    schema = parse_writer_schema(schema_id, "AVRO", text)
    decoder = AvroDecoder(NAMES)
    decoded = decoder.decode([message(v, i) for i, v in enumerate(values)], 1 << 20, {1: schema})
    assert decoder.layout(schema).prefix is not None  # the CSV's doubles: the fast path
    expected = decode_batch(as_json, NAMES, 1 << 20)
    assert decoded.rejected == []
    assert decoded.features.tobytes() == expected.features.tobytes()
    assert (
        decoded.transaction_ids
        == expected.transaction_ids
        == [f"transactions-{i}" for i in range(200)]
    )
    assert decoded.event_times.tolist() == [1_700_000_000.123456] * 200


def test_a_column_that_cannot_be_an_avro_field_is_one_clear_sentence():
    with pytest.raises(ConfigError, match="'card no' is not a valid Avro field name"):
        transaction_schema(["card no"], [{"card no": 1}])


def test_text_and_empty_cells_make_nullable_fields_and_are_written():
    rows = [{"V1": 1.5, "card": 12}, {"V1": None, "card": "x"}]
    schema = transaction_schema(["V1", "card"], rows)
    kinds = {f["name"]: f["type"] for f in schema["fields"]}
    assert kinds["V1"] == ["null", "double"] and kinds["card"] == ["null", "string"]
    writer = TransactionWriter(FramedWriter(5, schema))
    written = [
        read_framed(writer.encode(row | {"transaction_id": i, "event_time": 2.0}), schema, 5)
        for i, row in enumerate(rows)
    ]
    assert written == [
        {"V1": 1.5, "card": "12", "transaction_id": "0", "event_time": 2_000_000},
        {"V1": None, "card": "x", "transaction_id": "1", "event_time": 2_000_000},
    ]


def run_loop(formats: RecordFormats) -> FakeSink:
    values = [
        b'{"a": 1, "b": 1, "c": 1, "transaction_id": "ok", "event_time": 1700000000.5}',
        b'{"a": 3, "b": 2, "c": 1, "transaction_id": "fraud"}',
        b'{"a": 1e300, "b": 1, "c": 1, "transaction_id": "overflow"}',
    ]
    source = FakeSource([[message(v, i) for i, v in enumerate(values)]])
    sink = FakeSink(source.events)
    metrics = Metrics(CollectorRegistry())
    settings = fake_run_settings(scores_topic="scores", commit_interval=0)
    publisher = Publisher(sink, metrics, "alerts", "dlq", "scores")
    checkpoint = AtLeastOnce(source, publisher, metrics, 0, settings.flush_timeout)
    loop = ScoringLoop(
        source, publisher, checkpoint, FakeDetector(), "m", metrics, settings,
        clock=lambda: 1_700_000_001.0, formats=formats,
    )  # fmt: skip
    loop.run(stopping=lambda: not source.batches)
    return sink


def read_framed(value: bytes, schema: dict[str, Any], schema_id: int) -> dict[str, Any]:
    assert value[:5] == b"\x00" + schema_id.to_bytes(4, "big")
    stream = io.BytesIO(value[5:])
    # Read as written: a timestamp as its number, not a datetime.
    record = fastavro.schemaless_reader(
        stream, fastavro.parse_schema(without_logical_types(schema))
    )
    assert stream.read() == b""
    return dict(record)


def test_avro_alerts_and_scores_hold_the_json_records_documents():
    registrar = FakeRegistrar()
    formats = avro_records(registrar, "alerts", "scores")
    ids = {subject: i for subject, (i, _) in registrar.subjects.items()}
    assert ids == {"alerts-value": 1, "scores-value": 2}
    assert orjson.loads(registrar.subjects["scores-value"][1]) == SCORE_SCHEMA
    as_avro, as_json = run_loop(formats), run_loop(JSON_RECORDS)
    for topic, schema, schema_id in (("alerts", ALERT_SCHEMA, 1), ("scores", SCORE_SCHEMA, 2)):
        theirs = [orjson.loads(r.value) for r in as_json.on(topic)]
        ours = [read_framed(r.value, schema, schema_id) for r in as_avro.on(topic)]
        assert [r.key for r in as_avro.on(topic)] == [r.key for r in as_json.on(topic)]
        for mine, json_document in zip(ours, theirs, strict=True):
            # The JSON records leave out the fields they have no value for (no stage, nothing
            # out of range, no overflow); Avro gives their defaults.
            defaults = {"probability": None, "probability_threshold": None}
            defaults |= {"out_of_range": [], "overflow": False}
            assert mine == defaults | json_document
    alerts = [read_framed(r.value, ALERT_SCHEMA, 1) for r in as_avro.on("alerts")]
    (overflowed,) = [a for a in alerts if a["transaction_id"] == "overflow"]
    assert overflowed["overflow"] is True and overflowed["score"] > overflowed["threshold"]
