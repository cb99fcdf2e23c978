"""Follow an alert topic and print each alert in a line an analyst can read."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

import orjson

from consumer.kafka import Source

POLL_S = 0.5


def format_alert(value: bytes | None) -> str:
    """Return one readable line for an alert (or score) record; unparsable values as they are.

    >>> print(format_alert(b'{"transaction_id": "t-1", "score": 12.5, "threshold": 3.0, '
    ...     b'"model_version": "m1", "scored_at": "2024-01-01T00:00:00.000Z", '
    ...     b'"top_features": [{"feature": "V14", "contribution": 7.25, "value": -9.1}]}'))
    2024-01-01T00:00:00.000Z  t-1  score 12.5 > 3  top V14=-9.1 (7.25)  model m1
    >>> print(format_alert(b'{"transaction_id": "t-2", "score": 1.5, "threshold": 3.0, '
    ...     b'"probability": 0.973, "reasons": ["supervised"], "model_version": "m1", '
    ...     b'"top_features": []}'))
    None  t-2  score 1.5 <= 3  fraud probability 0.973  by supervised  top   model m1
    """
    try:
        alert = orjson.loads(value or b"")
        top = ", ".join(
            f"{f['feature']}={f['value']:.4g} ({f['contribution']:.3g})"
            for f in alert.get("top_features", [])
        )
        relation = ">" if alert["score"] > alert["threshold"] else "<="
        stages = ""
        if alert.get("probability") is not None:
            stages += f"fraud probability {alert['probability']:.3g}  "
        if alert.get("reasons"):
            stages += f"by {'+'.join(alert['reasons'])}  "
        return (
            f"{alert.get('scored_at')}  {alert['transaction_id']}  "
            f"score {alert['score']:.4g} {relation} {alert['threshold']:.4g}  {stages}"
            f"top {top}  model {alert.get('model_version')}"
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return f"(unreadable) {value!r}"


def follow(
    source: Source,
    topic: str,
    out: TextIO,
    stopping: Callable[[], bool],
    limit: int | None = None,
    idle_timeout: float | None = None,
    raw: bool = False,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Print alerts until stopped, `limit` alerts, or `idle_timeout` seconds of quiet."""
    source.subscribe([topic])
    printed = 0
    last = monotonic()
    try:
        while not stopping() and (limit is None or printed < limit):
            if idle_timeout is not None and monotonic() - last > idle_timeout:
                break
            for message in source.consume(100, POLL_S):
                if message.error() is not None or (limit is not None and printed >= limit):
                    continue
                value = message.value()
                out.write((value or b"").decode("utf-8", "replace") if raw else format_alert(value))
                out.write("\n")
                printed += 1
                last = monotonic()
            out.flush()
    finally:
        source.close()
    return printed
