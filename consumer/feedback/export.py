"""The `labelled` command's edge: read the labels and transactions topics, write the CSV.

    fraudstream-consumer labelled --bootstrap-servers HOST:PORT --transactions-topic transactions \\
        --labels-topic labels --out runs/next/train.csv --maturity 30d
    fraudstream-train fit --data runs/next/train.csv --model-dir models/NAME

The verdicts are read first (a few per fraud alert: they fit in memory), then the
transactions are streamed from their topic's start, one row each, into a file written beside
the destination and renamed into place when complete.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from consumer.config import LabelledSettings
from consumer.errors import ConfigError, InvalidMessageError
from consumer.feedback.ends import OffsetsAdmin
from consumer.feedback.labelled import LabelledRows, Truths
from consumer.feedback.reading import Reader, read_to_end
from consumer.feedback.verdicts import decode_verdict
from consumer.logs import log_event

MAX_VERDICT_BYTES = 65536


def read_truths(
    reader: Reader, admin: OffsetsAdmin, topic: str, partitions: int, timeout: float
) -> Truths:
    """Return each transaction's latest verdict in the labels topic.

    Verdicts that do not read are skipped (the feedback process dead-letters them).
    """
    truths = Truths()
    wanted = [(topic, p) for p in range(partitions)]
    for message in read_to_end(reader, admin, wanted, timeout):
        try:
            verdict = decode_verdict(message.value(), MAX_VERDICT_BYTES)
        except InvalidMessageError:
            continue
        truths.add(verdict, (message.timestamp()[1] / 1000, message.partition() or 0,
                             message.offset() or 0))  # fmt: skip
    return truths


def export(
    settings: LabelledSettings,
    reader: Reader,
    admin: OffsetsAdmin,
    partitions: dict[str, int],
    clock: Callable[[], float] = time.time,
) -> dict[str, int]:
    """Write the labelled CSV of `settings`; return what was written and left out.

    Raises:
        ConfigError: the destination's folder does not exist, or no row could be written.
        KafkaClientError: a topic could not be read to its end.
    """
    folder = settings.out.resolve().parent
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such directory for --out")
    now = clock()
    truths = read_truths(
        reader, admin, settings.labels_topic, partitions[settings.labels_topic],
        settings.read_timeout,
    )  # fmt: skip
    rows = LabelledRows(truths.fraud, now, settings.maturity)
    topic = settings.transactions_topic
    wanted = [(topic, p) for p in range(partitions[topic])]
    handle, staging = tempfile.mkstemp(prefix=f".{settings.out.name}.", dir=folder)
    try:
        with os.fdopen(handle, "w", newline="") as out:
            writer = csv.writer(out)
            header_written = False
            for message in read_to_end(reader, admin, wanted, settings.read_timeout):
                row = rows.row(message)
                if row is None:
                    continue
                if not header_written:
                    writer.writerow(rows.header)
                    header_written = True
                writer.writerow(row)
        summary = rows.summary()
        if not summary["rows"]:
            raise ConfigError(
                f"no row to write: {summary['too_young']} transactions without a verdict are "
                f"younger than the maturity, {summary['unreadable']} do not read"
            )
        Path(staging).replace(settings.out)
    finally:
        Path(staging).unlink(missing_ok=True)
    log_event("labelled_written", path=str(settings.out), **summary)
    return summary
