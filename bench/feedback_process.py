"""The feedback process end to end on the broker: how many verdicts a second one process takes.

A backlog of verdicts (the mix of bench/feedback_join.py: analysts' verdicts on alerts,
chargebacks caught and missed, legitimate verdicts on unalerted transactions, repeats and
conflicts), each on its home labels partition, is read by one `consumer feedback` process whose
alert topics hold both roles' alerts. The rate comes from its own
`fraud_feedback_verdicts_read_total`, scraped every 0.1 s, between the moments 10% and 90% of
the backlog were read, counted from when the process was ready (its alert index rebuilt);
every verdict is joined, settled within the run (a one-second grace period), written to the
changelog and committed with the labels offsets, one Kafka transaction a second.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from confluent_kafka import Producer

from bench.consumer_throughput import SAMPLE_EVERY_S, WINDOW, slope, window_rate
from bench.feedback_join import alerts_for, verdict_messages
from bench.kafka import create_topics, delete_topics, produce_waiting, unique
from bench.processes import Watched

ALERT_PARTITIONS = 4


@dataclass(frozen=True)
class FeedbackRun:
    """What one run of the feedback process over a backlog measured."""

    verdicts: int
    alerts: int
    partitions: int
    rate: float  # verdicts per second
    ready_s: float  # start to /readyz 200: alert index rebuilt, ledgers restored
    cpu_cores: float  # CPU seconds per second during the window
    peak_rss: int  # bytes
    all_read: bool  # every verdict read (and the last commit made) before the process stopped


def feedback_rate(
    bootstrap: str, work: Path, verdicts: int, alerts: int, partitions: int = 6
) -> FeedbackRun:
    """Fill fresh topics with alerts and a verdict backlog; measure one feedback process."""
    name = unique("bench-feedback")
    labels, changelog = f"{name}-labels", f"{name}-changelog"
    champion, challenger, dlq = f"{name}-alerts", f"{name}-challenger", f"{name}-dlq"
    create_topics(
        bootstrap,
        [(labels, partitions), (changelog, partitions), (champion, ALERT_PARTITIONS),
         (challenger, ALERT_PARTITIONS), (dlq, 1)],
        {changelog: {"cleanup.policy": "compact"}},
    )  # fmt: skip
    try:
        rng = random.Random(0)
        _fill_alerts(bootstrap, champion, challenger, alerts, rng)
        _fill_verdicts(bootstrap, labels, verdicts, alerts, partitions, rng)
        args = [
            "--bootstrap-servers", bootstrap, "--labels-topic", labels,
            "--alert-topic", champion, "--challenger-alert-topic", challenger,
            "--changelog-topic", changelog, "--dlq-topic", dlq, "--group-id", name,
            "--grace", "1", "--member-id", name,
        ]  # fmt: skip
        return _measure(Watched("feedback", args, work / f"{name}.log"), verdicts, alerts,
                        partitions)  # fmt: skip
    finally:
        delete_topics(bootstrap, [labels, changelog, champion, challenger, dlq])


def _measure(process: Watched, verdicts: int, alerts: int, partitions: int) -> FeedbackRun:
    samples: list[tuple[float, float]] = []
    cpu: list[tuple[float, float]] = []
    ready: float | None = None
    try:
        while not samples or samples[-1][1] < WINDOW[1] * verdicts:
            process.check_alive()
            if ready is None and process.get("/readyz")[0] == 200:
                ready = time.perf_counter()
                ready_s = time.monotonic() - process.started
            before = time.perf_counter()
            read = process.counter("fraud_feedback_verdicts_read_total")
            now = (before + time.perf_counter()) / 2
            samples.append((now, read))
            cpu.append((now, process.cpu_seconds()))
            time.sleep(SAMPLE_EVERY_S)
        if ready is None:
            raise RuntimeError("90% of the verdicts read before the process was ready")
        rate = window_rate(samples, verdicts, start=ready)
        cores = slope(cpu, max(ready, samples[0][0]), samples[-1][0])
        deadline = time.monotonic() + 120
        while process.counter("fraud_feedback_verdicts_read_total") < verdicts:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(1.5)  # one more commit interval
        all_read = process.counter("fraud_feedback_verdicts_read_total") == verdicts
        peak = process.peak_rss()
    finally:
        process.stop()
    return FeedbackRun(verdicts, alerts, partitions, rate, ready_s, cores, peak, all_read)


def _fill_alerts(
    bootstrap: str, champion: str, challenger: str, count: int, rng: random.Random
) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4"}
    )
    scored_at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    for alert in alerts_for(count, rng):
        document = {
            "transaction_id": alert.transaction_id, "score": 12.5, "threshold": 3.5,
            "model_version": alert.model_version, "scored_at": scored_at,
            "reasons": alert.stage.split("+"),
            "top_features": [{"feature": "V14", "contribution": 0.5, "value": -9.1}] * 3,
        }  # fmt: skip
        topic = champion
        if alert.role == "challenger":
            document["role"], topic = "challenger", challenger
        produce_waiting(producer, topic, alert.transaction_id.encode(), orjson.dumps(document))
    if producer.flush(120):
        raise RuntimeError("could not fill the alert topics")


def _fill_verdicts(
    bootstrap: str, topic: str, count: int, alerts: int, partitions: int, rng: random.Random
) -> None:
    # murmur2, as Java producers: every verdict on its home partition (none sent home).
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4",
         "partitioner": "murmur2_random"}
    )  # fmt: skip
    for message in verdict_messages(count, alerts, partitions, rng):
        produce_waiting(producer, topic, message.key() or b"", message.value() or b"")
    if producer.flush(120):
        raise RuntimeError("could not fill the labels topic")
