"""Decoders compared on one batch of ULB-shaped messages, in CPU time (noise-robust).

The strict path is `parse_value` per message (orjson, then checks on a dict), as the
consumer decoded before the typed fast path; `decode_batch` is what the consumer runs now.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import chain

import numpy as np
import orjson
import pandas as pd
from confluent_kafka import Message

from bench.kafka import transactions
from consumer.messages import (
    EVENT_TIME_FIELD,
    ID_FIELD,
    TypedDecoder,
    decode_batch,
    event_times,
    parse_value,
    transaction_ids,
)

BATCH = 1000
REPEATS = 200


def decoder_rates(rows: pd.DataFrame, names: tuple[str, ...]) -> dict[str, float]:
    """Return messages per CPU-second of each way to decode a batch."""
    messages = [
        Message(topic="t", partition=0, offset=i, key=key, value=value)
        for i, (key, value) in enumerate(transactions(rows, BATCH))
    ]
    values = [m.value() or b"" for m in messages]
    typed = TypedDecoder(names)

    def strict() -> None:
        parsed = [parse_value(v, names, 65536) for v in values]
        flat = chain.from_iterable(row for row, _ in parsed)
        np.fromiter(flat, np.float64, len(parsed) * len(names))
        transaction_ids([obj.get(ID_FIELD) for _, obj in parsed], messages)
        event_times([obj.get(EVENT_TIME_FIELD) for _, obj in parsed], messages)

    ways: dict[str, Callable[[], object]] = {
        "orjson.loads alone, one dict per message": lambda: [orjson.loads(v) for v in values],
        "strict path: orjson and checks, matrix, ids, times": strict,
        "msgspec alone, one struct per message": lambda: [typed._decode(v) for v in values],
        "typed path (decode_batch): struct, matrix, ids, times": lambda: decode_batch(
            messages, names, 65536
        ),
    }
    return {name: BATCH / seconds for name, seconds in _cpu_seconds(ways).items()}


def _cpu_seconds(ways: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Return each way's lower-quartile CPU time per call, the ways taking turns.

    Taking turns, a busy minute of this shared machine slows every way alike.
    """
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(REPEATS):
        for name, way in ways.items():
            started = time.process_time()
            way()
            times[name].append(time.process_time() - started)
    return {name: float(np.quantile(spent, 0.25)) for name, spent in times.items()}
