"""Latency at a fixed offered load: `consumer replay --rate R` feeds a scoring consumer.

The consumer writes a score record for every transaction to a scores topic (LogAppendTime):
event time to the score record appended on the broker is the latency of every transaction,
not only of the alerts, and the target's measure. Two more views of event-to-alert latency:
the consumer's own histogram (event time to the alert's acknowledgement, observed in the
delivery callback), and the alerts themselves: the broker
stamps each alert record when it appends it (the alert topic uses LogAppendTime), and each
alert carries its transaction's event time and when it was scored. The input topic uses
LogAppendTime too, which splits an alert's latency in two: upstream (event time to its
transaction appended on the broker: the replaying producer and the broker) and the scorer's
own share (transaction appended to alert appended: fetch, decode, score, publish). Every
figure leaves out the stream's first second (`SETTLE_S`); the histogram's by subtracting a
scrape taken once the scorer has scored that second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson

from bench.kafka import (
    REPO,
    create_topics,
    delete_topics,
    read_all,
    send_span,
    unique,
    wait_committed,
)
from bench.processes import Samples, Scorer

PARTITIONS = 4
HISTOGRAM = "fraud_end_to_end_latency_seconds"
# The stream's first second is left out of every figure: the first fetches of a topic created
# a moment before, and the producers' first requests, took up to 100 ms, 2% of the alerts of a
# 10 s run at 5,000 tx/s: its p99 measured the start, not the load.
SETTLE_S = 1.0


@dataclass(frozen=True)
class Quantiles:
    """p50, p99 and max of a set of latencies, in seconds (max is None from a histogram)."""

    count: int
    p50: float
    p99: float
    max: float | None


@dataclass(frozen=True)
class LatencyRun:
    ready_s: float  # process start to /readyz 200, on an empty topic
    peak_rss: int  # bytes
    offered: float  # transactions per second asked of replay
    achieved: float  # transactions per second replay sent, first to last
    transactions: int
    histogram: Quantiles  # the consumer's fraud_end_to_end_latency_seconds
    appended: Quantiles  # event time to the alert appended on the broker (broker timestamp)
    scored: Quantiles  # event time to the alert's scored_at
    upstream: Quantiles  # event time to the alert's transaction appended (producer, broker)
    scorer: Quantiles  # the transaction appended to its alert appended (the scorer's share)
    committed_to_end: bool
    cpu_cores: float  # the scorer's CPU seconds per second while the stream ran
    load: float  # the machine's 1-minute load average at the end of the stream (2 cores)
    score_appended: Quantiles  # event time to each score record appended on the broker
    score_scorer: Quantiles  # each transaction appended to its score record appended


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Return quantile `q` of a cumulative histogram, interpolating inside a bucket (as
    Prometheus' histogram_quantile does).

    >>> histogram_quantile([(0.01, 50.0), (0.02, 100.0), (float("inf"), 100.0)], 0.75)
    0.015
    """
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower


def histogram_buckets(samples: Samples, name: str) -> list[tuple[float, float]]:
    """Return a histogram's (upper bound, cumulative count) pairs from scraped samples."""
    buckets = [
        (float(dict(labels)["le"]), value)
        for (sample, labels), value in samples.items()
        if sample == f"{name}_bucket"
    ]
    return sorted(buckets)


def quantiles(values: np.ndarray) -> Quantiles:
    if not len(values):
        return Quantiles(0, float("nan"), float("nan"), float("nan"))
    p50, p99 = np.quantile(values, [0.5, 0.99])
    return Quantiles(len(values), float(p50), float(p99), float(values.max()))


def latency_at(
    bootstrap: str, rate: float, seconds: float, model_dir: Path, data: Path, work: Path
) -> LatencyRun:
    """Replay `rate` transactions per second for `seconds` into a scoring consumer that writes
    a score record for each; measure."""
    topic = unique(f"latency-{int(rate)}")
    alerts, scores = f"{topic}-alerts", f"{topic}-scores"
    log_append = {"message.timestamp.type": "LogAppendTime"}
    create_topics(
        bootstrap,
        [(topic, PARTITIONS), (alerts, 1), (f"{topic}-dlq", 1), (scores, 1)],
        {alerts: log_append, topic: log_append, scores: log_append},
    )
    count = int(rate * seconds)
    group = unique("latency")
    scorer = Scorer(
        bootstrap, model_dir, topic, group, work / f"{topic}.log", ("--scores-topic", scores)
    )
    try:
        ready = scorer.wait_ready()
        replay_log = work / f"{topic}-replay.log"
        with open(replay_log, "wb") as log:
            replay = subprocess.Popen(
                [sys.executable, "-m", "consumer", "replay", "--bootstrap-servers", bootstrap,
                 "--topic", topic, "--data", str(data), "--rate", str(rate),
                 "--limit", str(count), "--loop", "--no-progress"],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            settled = settle(scorer, rate, replay)
            cpu_from = (time.monotonic(), scorer.cpu_seconds())
            if replay.wait() != 0:
                raise RuntimeError(f"replay failed: see {replay_log}")
            cores = (scorer.cpu_seconds() - cpu_from[1]) / (time.monotonic() - cpu_from[0])
            load = os.getloadavg()[0]
        done = wait_committed(
            bootstrap, group, topic, PARTITIONS, 120, lambda: scorer.process.poll() is None
        )
        time.sleep(0.5)  # the last acks' callbacks
        buckets = subtract(histogram_buckets(scorer.metrics(), HISTOGRAM), settled)
        peak = scorer.peak_rss()
    finally:
        scorer.stop()
    first, last, sent = send_span(bootstrap, topic, PARTITIONS)
    records = read_all(bootstrap, alerts, 1)
    arrived = {(p, o): ms / 1000 for p, o, ms, _ in read_all(bootstrap, topic, PARTITIONS)}
    score_appended, score_scorer = score_latencies(read_all(bootstrap, scores, 1), arrived, first)
    delete_topics(bootstrap, [topic, alerts, f"{topic}-dlq", scores])
    appended, scored, upstream, own, events = [], [], [], [], []
    for _, _, broker_ms, value in records:
        alert = orjson.loads(value)
        event = _epoch(alert["event_time"])
        if event < first + SETTLE_S:
            continue  # the stream's first second: see SETTLE_S
        events.append(event)
        appended.append(broker_ms / 1000 - event)
        scored.append(_epoch(alert["scored_at"]) - event)
        came = arrived[(alert["source_partition"], alert["source_offset"])]
        upstream.append(came - event)
        own.append(broker_ms / 1000 - came)
    # Each alert's event time and its two shares, to find when a tail happened (a pause).
    points = {"event_time": events, "upstream": upstream, "scorer": own}
    (work / f"latency-{int(rate)}-alerts.json").write_bytes(orjson.dumps(points))
    return LatencyRun(
        ready_s=ready,
        peak_rss=peak,
        offered=rate,
        achieved=(sent - 1) / (last - first) if last > first else float("nan"),
        transactions=sent,
        histogram=Quantiles(
            int(buckets[-1][1]) if buckets else 0,
            histogram_quantile(buckets, 0.5) if buckets else float("nan"),
            histogram_quantile(buckets, 0.99) if buckets else float("nan"),
            None,
        ),
        appended=quantiles(np.array(appended)),
        scored=quantiles(np.array(scored)),
        upstream=quantiles(np.array(upstream)),
        scorer=quantiles(np.array(own)),
        committed_to_end=done,
        cpu_cores=cores,
        load=load,
        score_appended=quantiles(score_appended),
        score_scorer=quantiles(score_scorer),
    )


def score_latencies(
    records: list[tuple[int, int, int, bytes]], arrived: dict[tuple[int, int], float], first: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return, for each score record past the stream's first second, event time to the record
    appended, and its transaction appended to the record appended (seconds)."""
    appended, own = [], []
    for _, _, broker_ms, value in records:
        document = orjson.loads(value)
        event = _epoch(document["event_time"])
        if event < first + SETTLE_S:
            continue
        appended.append(broker_ms / 1000 - event)
        own.append(
            broker_ms / 1000 - arrived[(document["source_partition"], document["source_offset"])]
        )
    return np.array(appended), np.array(own)


def settle(
    scorer: Scorer, rate: float, replay: subprocess.Popen[bytes]
) -> list[tuple[float, float]]:
    """Wait until the scorer has scored the stream's first second; return its histogram then."""
    while scorer.scored() < rate * SETTLE_S and replay.poll() is None:
        time.sleep(0.01)
    return histogram_buckets(scorer.metrics(), HISTOGRAM)


def subtract(
    buckets: list[tuple[float, float]], earlier: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Return a cumulative histogram less an earlier scrape of it: what was observed between.

    >>> subtract([(0.1, 5.0), (float("inf"), 9.0)], [(0.1, 2.0), (float("inf"), 3.0)])
    [(0.1, 3.0), (inf, 6.0)]
    """
    before = dict(earlier)
    return [(bound, count - before.get(bound, 0.0)) for bound, count in buckets]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
