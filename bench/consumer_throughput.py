"""Throughput: a bare consumer reading the topic (the ceiling), and scoring consumer groups.

Rates are taken between the moments 10% and 90% of the topic were read (or scored), so that
start-up and the last partitions' tail do not count.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer

from bench.kafka import unique, wait_committed
from bench.processes import Scorer

WINDOW = (0.1, 0.9)
SAMPLE_EVERY_S = 0.1


def crossing(samples: Sequence[tuple[float, float]], level: float) -> float:
    """Return the time a rising count first reached `level`, interpolated between samples.

    >>> crossing([(0.0, 0.0), (1.0, 10.0), (2.0, 30.0)], 20.0)
    1.5
    """
    for (t0, c0), (t1, c1) in zip(samples, samples[1:], strict=False):
        if c1 >= level:
            if c0 >= level or c1 == c0:
                return t0
            return t0 + (t1 - t0) * (level - c0) / (c1 - c0)
    raise ValueError(f"the count never reached {level}")


def window_rate(samples: Sequence[tuple[float, float]], total: int, start: float = 0.0) -> float:
    """Return the rate between the 10% and 90% marks of `total` (not before time `start`).

    >>> window_rate([(0.0, 0.0), (1.0, 50.0), (2.0, 100.0)], 100)
    50.0
    """
    low, high = (crossing(samples, share * total) for share in WINDOW)
    counted = WINDOW[0] * total
    if start > low:  # not every process was ready at the 10% mark: count from `start` on
        low, counted = next((t, c) for t, c in samples if t >= start)
        if counted >= WINDOW[1] * total:
            raise RuntimeError("90% scored before every process was ready: use more messages")
    return (WINDOW[1] * total - counted) / (high - low)


def raw_rate(bootstrap: str, topic: str, count: int) -> float:
    """Messages per second of a consumer that only checks each message for an error."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("raw"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.max.bytes": 64 * 1024 * 1024,  # as the scoring consumer
        }
    )
    consumer.subscribe([topic])
    received, samples = 0, [(time.perf_counter(), 0.0)]
    try:
        while received < count:
            batch = consumer.consume(1000, 1.0)
            received += sum(1 for m in batch if m.error() is None)
            samples.append((time.perf_counter(), float(received)))
    finally:
        consumer.close()
    return window_rate(samples, count)


@dataclass(frozen=True)
class GroupRun:
    """What one run of `processes` scoring consumers in one group measured."""

    processes: int
    rate: float  # messages per second, all processes together
    ready_s: float  # start to /readyz 200, the slowest process (already scoring a backlog)
    cpu_cores: float  # CPU seconds per second during the window, all processes together
    peak_rss: int  # bytes, the largest process
    committed_to_end: bool
    load: float  # the machine's 1-minute load average once the window ended (2 cores)


def group_rate(
    bootstrap: str, topic: str, partitions: int, count: int, model_dir: Path, processes: int,
    work: Path, extra: Sequence[str] = (),
) -> GroupRun:  # fmt: skip
    """Score the whole topic with `processes` consumers in a fresh group; measure them.

    `extra` adds options to each `consumer run` (a challenger, a schema registry).
    """
    group = unique(f"bench-{processes}p")
    scorers = [
        Scorer(bootstrap, model_dir, topic, group, work / f"{group}-{i}.log", extra)
        for i in range(processes)
    ]
    ready: dict[int, float] = {}
    samples: list[tuple[float, float]] = []
    cpu: list[tuple[float, float]] = []
    try:
        while not samples or samples[-1][1] < WINDOW[1] * count:
            for i, scorer in enumerate(scorers):
                scorer.check_alive()
                if i not in ready and scorer.get("/readyz")[0] == 200:
                    ready[i] = time.monotonic() - scorer.started
            before = time.perf_counter()
            scored = sum(s.scored() for s in scorers)
            now = (before + time.perf_counter()) / 2  # a scrape takes a while under load
            samples.append((now, scored))
            cpu.append((now, sum(s.cpu_seconds() for s in scorers)))
            time.sleep(SAMPLE_EVERY_S if len(ready) == processes else 0.01)
        if len(ready) < processes:
            raise RuntimeError("90% scored before every process was ready: use more messages")
        all_ready = max(s.started + ready[i] for i, s in enumerate(scorers))
        all_ready += time.perf_counter() - time.monotonic()  # the samples' clock
        rate = window_rate(samples, count, start=all_ready)
        low = max(crossing(samples, WINDOW[0] * count), all_ready)
        cores = slope(cpu, low, samples[-1][0])
        done = wait_committed(bootstrap, group, topic, partitions, 120)
        peak = max(s.peak_rss() for s in scorers)
    finally:
        for s in scorers:
            s.stop()
    return GroupRun(processes, rate, max(ready.values()), cores, peak, done, os.getloadavg()[0])


def slope(samples: list[tuple[float, float]], start: float, end: float) -> float:
    """Return the average rate of a cumulative sample series between two times."""
    first = next((s for s in samples if s[0] >= start), samples[0])
    last = samples[-1]
    return (last[1] - first[1]) / max(last[0] - first[0], 1e-9) if end > start else 0.0
