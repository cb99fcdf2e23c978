"""The Avro benchmark decodes the same transactions every way it times, and reports them all."""

from __future__ import annotations

import numpy as np

from bench import avro_decoding


def test_every_timed_way_reads_the_same_transactions():
    ways = avro_decoding.ways_to_decode(25)
    fast = ways["fast path (AvroDecoder)"]()
    general = ways["general path (AvroDecoder, fast=False)"]()
    as_json = ways["JSON, msgspec (messages.decode_batch)"]()
    simple = ways["tail alone: SimpleTail (the fast path's)"]()
    assert simple == ways["tail alone: fastavro schemaless_reader"]()
    theirs = ways["confluent AvroDeserializer alone"]()
    expected = np.array([[r[n] for n in avro_decoding.NAMES] for r in theirs])
    for decoded in (fast, general, as_json):
        assert decoded.features.tobytes() == expected.tobytes()
        assert decoded.transaction_ids == [f"bench-{i}" for i in range(25)]
    assert [tid for tid, _ in simple] == fast.transaction_ids
    assert fast.event_times.tolist() == [t / 1000 for _, t in simple]
    assert fast.event_times.tolist() == as_json.event_times.tolist()


def test_the_table_has_a_row_per_way_and_a_column_per_batch_size():
    results = {1000: {"a": 1.234, "b": 20.0}, 10000: {"a": 1.0, "b": 21.5}}
    assert avro_decoding.table(results).splitlines() == [
        "| way | µs/message, 1,000 | µs/message, 10,000 |",
        "|---|---:|---:|",
        "| a | 1.23 | 1.00 |",
        "| b | 20.00 | 21.50 |",
    ]
