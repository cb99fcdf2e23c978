"""Feed a transactions CSV into a topic as JSON messages, at a fixed rate or at full speed."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any, TextIO

import orjson

from consumer import heap
from consumer.config import ReplaySettings
from consumer.errors import ConfigError, DeliveryError
from consumer.kafka import Sink
from consumer.publish import DeliveryFailures, produce

PROGRESS_EVERY_S = 0.5
BAR_WIDTH = 30


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Read a CSV with a header into one dict per row: numbers as numbers, empty cells as None.

    Raises:
        ConfigError: the file is missing, empty or not readable as CSV.
    """
    try:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise ConfigError(f"{path}: file is empty; it needs a header row and data rows")
            rows = [dict(zip(header, map(cell_value, row), strict=False)) for row in reader if row]
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found; pass the path of a CSV file with --data"
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{path}: is a directory; pass the path of a CSV file with --data"
        ) from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable CSV file ({exc})") from exc
    if not rows:
        raise ConfigError(f"{path}: has a header but no data rows")
    return rows


def cell_value(text: str) -> int | float | str | None:
    """Return a CSV cell as the JSON value it stands for: an int, a float, None or the text.

    >>> [cell_value(t) for t in ("3", "-1.25", "1e3", "", "card")]
    [3, -1.25, 1000.0, None, 'card']
    """
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def iter_transactions(
    rows: list[dict[str, Any]], prefix: str, loop: bool
) -> Iterator[dict[str, Any]]:
    """Yield the rows with a `transaction_id` (`PREFIX-ROW`, `PREFIX-ROW-rN` from round 2 on).

    >>> [t["transaction_id"] for t in iter_transactions([{"a": 1}, {"a": 2}], "f", False)]
    ['f-0', 'f-1']
    """
    for round_ in count():
        if round_ and not loop:
            return
        suffix = f"-r{round_ + 1}" if round_ else ""
        for i, row in enumerate(rows):
            transaction = dict(row)
            if "transaction_id" not in transaction or round_:
                transaction["transaction_id"] = f"{prefix}-{i}{suffix}"
            yield transaction


class Pacer:
    """Sleep just enough to keep `rate` messages per second (no sleeping if rate is None)."""

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self.start = clock()

    def wait(self, sent: int) -> None:
        if self.rate is not None:
            ahead = self.start + sent / self.rate - self.clock()
            if ahead > 0:
                self.sleep(ahead)


class Progress:
    """A one-line progress bar on a terminal stream."""

    def __init__(
        self, total: int | None, stream: TextIO | None, clock: Callable[[], float] = time.monotonic
    ):
        self.total = total
        self.stream = stream
        self.clock = clock
        self.start = self.last = clock()

    def update(self, sent: int, final: bool = False) -> None:
        now = self.clock()
        if self.stream is None or (not final and now - self.last < PROGRESS_EVERY_S):
            return
        self.last = now
        rate = sent / max(now - self.start, 1e-9)
        if self.total:
            done = int(BAR_WIDTH * sent / self.total)
            bar = f"[{'#' * done}{'.' * (BAR_WIDTH - done)}] {sent}/{self.total}"
        else:
            bar = f"{sent} sent"
        self.stream.write(f"\r{bar} {rate:,.0f} msg/s" + ("\n" if final else ""))
        self.stream.flush()


def replay(
    settings: ReplaySettings,
    sink: Sink,
    clock: Callable[[], float] = time.time,
    stream: TextIO | None = sys.stderr,
) -> int:
    """Produce the CSV's rows to the topic as JSON, keyed by transaction id; return how many.

    Raises:
        DataError: the CSV cannot be read.
        DeliveryError: some messages were not acknowledged by the broker.
    """
    rows = read_rows(Path(settings.data))
    heap.freeze()  # the rows stay out of full collections, which would stall the stream
    total = settings.limit if settings.limit is not None else (None if settings.loop else len(rows))
    pacer = Pacer(settings.rate)
    progress = Progress(total, stream if settings.progress else None)
    failures = DeliveryFailures()
    sent = 0
    for transaction in iter_transactions(rows, Path(settings.data).stem, settings.loop):
        if settings.limit is not None and sent >= settings.limit:
            break
        pacer.wait(sent)
        transaction["event_time"] = clock()
        key = str(transaction["transaction_id"]).encode()
        value = orjson.dumps(transaction)
        produce(sink, settings.topic, value, key, on_delivery=failures)
        sent += 1
        sink.poll(0)
        progress.update(sent)
    remaining = sink.flush(60)
    progress.update(sent, final=True)
    failed = failures.take()
    if failed or remaining:
        first = f", first: {failed[0]}" if failed else ""
        raise DeliveryError(f"{len(failed) + remaining} of {sent} messages not delivered{first}")
    return sent
